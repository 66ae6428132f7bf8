"""Leave-one-space-out: each space is scored by a predictor that never saw it, beside its baselines."""

from __future__ import annotations

import numpy as np
import pytest

from agentnas.encode.features import FEATURE_NAMES, GraphFeatures
from agentnas.value.labelled import LabelledArch, Run, TaskEntry
from agentnas.value.loso import SpaceSet, agentnas_set, ensemble_fit, leave_one_space_out

FLOPS = FEATURE_NAMES.index("log_flops")
NASWOT = FEATURE_NAMES.index("proxy_naswot")


def space(name: str, n: int, seed: int, groups: tuple[str, ...] = ("g",)) -> SpaceSet:
    """Accuracy follows the log-FLOPs column; NASWOT is noise; parameters run against accuracy."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURE_NAMES))).astype(np.float32)
    x[:, NASWOT + 4:NASWOT + 8] = 0.0  # every proxy known
    y = 60 + 5 * x[:, FLOPS] + rng.normal(0, 0.5, n)
    return SpaceSet(name, "features", x, y, params=-y + rng.normal(0, 0.1, n), flops=np.exp(x[:, FLOPS]),
                    groups=np.array([groups[i % len(groups)] for i in range(n)]))


class ByColumn:
    def __init__(self, trained_on: int) -> None:
        self.trained_on = trained_on

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[:, FLOPS], np.zeros(len(x))


def test_each_space_is_scored_by_a_fit_on_the_others_beside_its_baselines() -> None:
    sets = [space("a", 40, 0), space("b", 50, 1), space("c", 60, 2, groups=("c/t1", "c/t2"))]
    fitted: list[int] = []

    def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> ByColumn:
        fitted.append(len(y))
        assert len(np.unique(groups)) >= 2  # the training spaces' groups stay apart
        return ByColumn(len(y))

    report = leave_one_space_out(sets, fit)
    assert fitted == [110, 100, 90]  # everything but the held-out space
    assert report["c"]["trained_on"] == ["a", "b"]
    assert report["a"]["predictor"]["tau"] > 0.8
    assert set(report["c"]["predictor"]["groups"]) == {"c/t1", "c/t2"}
    assert report["b"]["params"]["tau"] < -0.8 and report["b"]["flops"]["tau"] > 0.8
    assert report["b"]["best_proxy"]["name"] in {"naswot", "synflow", "gradnorm", "jacob_cov"}
    assert abs(report["b"]["proxies"]["naswot"]["tau"]) < 0.4


def test_the_shipped_recipe_fits_and_ranks_a_space_it_never_saw() -> None:
    sets = [space("a", 60, 0), space("b", 60, 1), space("c", 60, 2)]
    report = leave_one_space_out(sets, ensemble_fit(members=1, steps=100))
    assert all(report[s]["predictor"]["tau"] > 0.5 for s in "abc")
    assert "heads" in report["a"] and "committee" in report["a"] and "prior_weight" in report["a"]


def test_spaces_must_be_distinct_and_alike_encoded() -> None:
    with pytest.raises(ValueError):
        leave_one_space_out([space("a", 10, 0), space("a", 10, 1)], lambda x, y, g: ByColumn(0))


def _row(index: int, runs: dict[str, Run], features: bool = True) -> LabelledArch:
    f = GraphFeatures(params=100 * (index + 1), nodes=5, compute_nodes=3, depth=3, flops=1000 * (index + 1),
                      flops_complete=True, ops={"Conv": 1, "Gemm": 1, "Relu": 1}) if features else None
    tasks = {t: TaskEntry(code_hash="0" * 64, arch_hash="1" * 16, features=f, text="%v0 = Input", runs=(r,))
             for t, r in runs.items()}
    return LabelledArch(id=f"{index:016x}", index=index, family="conv", arch={}, tasks=tasks)


def test_agentnas_set_groups_by_task_and_keeps_only_trained_rows_with_features() -> None:
    ok = {"digits": Run(seed=0, status="ok", val=0.9, test=0.8), "mnist1d": Run(seed=0, status="ok", val=0.7)}
    rows = [_row(0, ok), _row(1, {"digits": Run(seed=0, status="failed", failure="timeout")}),
            _row(2, ok, features=False), _row(3, ok)]
    s = agentnas_set(rows)
    assert sorted(s.groups.tolist()) == ["agentnas/digits", "agentnas/digits", "agentnas/mnist1d",
                                         "agentnas/mnist1d"]
    assert s.x.shape == (4, len(FEATURE_NAMES)) and set(s.y.tolist()) == {90.0, 70.0}
    assert s.x[0, NASWOT + 4] == 1.0  # no proxies recorded: flagged missing
    assert list(s.flops) == [1000, 1000, 4000, 4000]
