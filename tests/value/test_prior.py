"""The zero-cost committee and how the predictor weighs it against its learned heads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentnas.encode.features import FEATURE_NAMES
from agentnas.evaluator.proxies import PROXY_NAMES, PROXY_SCALES
from agentnas.value.metrics import kendall_tau
from agentnas.value.prior import CLIP, DEAD_PENALTY, PRIOR_SIGNALS, CommitteePrior
from agentnas.value.ranking import RankTraining
from agentnas.value.zeroshot import WEIGHT_GRID, ZeroShotPredictor, fit_ensemble, parse_prior_weight

FAST = RankTraining(steps=60, pairs_per_step=64, hidden=32)
COL = {n: i for i, n in enumerate(FEATURE_NAMES)}


def _space(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Encodings whose accuracy follows the committee's signals, plus noise columns."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURE_NAMES))).astype(np.float32) * 0.1
    for name in (f"proxy_{p}_missing" for p in PROXY_NAMES):
        x[:, COL[name]] = 0.0
    quality = rng.normal(size=n)
    for name in PRIOR_SIGNALS:
        x[:, COL[name]] = quality + 0.7 * rng.normal(size=n) + shift
    return x, quality + 0.3 * rng.normal(size=n)


def _without_proxies(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    for p in PROXY_NAMES:
        x[:, COL[f"proxy_{p}"]] = 0.0
        x[:, COL[f"proxy_{p}_missing"]] = 1.0
    return x


def test_the_committee_ranks_without_training_and_unknown_members_do_not_vote() -> None:
    x, y = _space(300, 0)
    prior = CommitteePrior.fit(x, "features")
    assert prior is not None and kendall_tau(prior.score(x), y) > 0.5
    bare = _without_proxies(x)
    graph_only = [COL["log_flops"], COL["log_layer_outputs"]]
    z = (x[:, graph_only] - x[:, graph_only].mean(0)) / x[:, graph_only].std(0)
    np.testing.assert_allclose(prior.raw(bare), (CLIP * np.arcsinh(z / CLIP)).mean(1), rtol=1e-4, atol=1e-5)


def test_a_dead_network_goes_to_the_bottom() -> None:
    x, y = _space(200, 1)
    model = fit_ensemble(x, y, None, "features", members=2, training=FAST, prior_weight=1.0)
    dead = x[:1].copy()
    dead[0, COL["proxy_jacob_cov"]] = -50.0 / PROXY_SCALES["jacob_cov"]
    scores = model.predict(np.concatenate([x, dead]))[0]
    assert scores[-1] == scores.min() and scores[-1] < model.predict(x[:1])[0][0] - DEAD_PENALTY / 2


def test_missing_proxies_are_imputed_for_the_heads() -> None:
    x, y = _space(200, 2)
    model = fit_ensemble(x, y, None, "features", members=2, training=FAST, prior_weight=0.0)
    filled = x.copy()
    for p in PROXY_NAMES:
        filled[:, COL[f"proxy_{p}"]] = x[:, COL[f"proxy_{p}"]].mean()
    np.testing.assert_allclose(model.predict(_without_proxies(x))[0],
                               model.predict(filled)[0], rtol=1e-4, atol=1e-4)


def test_the_prior_weight_is_chosen_from_the_training_data_only() -> None:
    a, ya = _space(120, 3)
    one = fit_ensemble(a, ya, None, "features", members=1, training=FAST)
    assert one.prior_weight == 1.0 and one.info["prior_weight_choice"]["rule"].startswith("one space")
    b, yb = _space(120, 4, shift=3.0)
    both = fit_ensemble(np.concatenate([a, b]), np.concatenate([ya, yb]), np.repeat([0, 1], 120), "features",
                        members=1, training=FAST)
    choice = both.info["prior_weight_choice"]
    assert choice["rule"] == "leave-one-space-out" and both.prior_weight in WEIGHT_GRID
    assert len(choice["cv_tau"]) == len(WEIGHT_GRID) and both.prior_weight == WEIGHT_GRID[
        int(np.argmax(choice["cv_tau"]))]
    cv = fit_ensemble(a, ya, None, "features", members=1, training=FAST, prior_weight="cv")
    assert cv.info["prior_weight_choice"]["rule"].startswith("4-fold")
    assert fit_ensemble(a, ya, None, "features", members=1, training=FAST, flops_weight=0.5).prior_weight == 0.5


def test_prior_weight_from_the_command_line() -> None:
    assert parse_prior_weight("auto") == "auto" and parse_prior_weight("2.5") == 2.5
    for bad in ("-1", "nan", "heavy"):
        with pytest.raises(ValueError, match="prior weight"):
            parse_prior_weight(bad)


def test_saved_predictor_predicts_the_same_after_loading(tmp_path: Path) -> None:
    x, y = _space(150, 5)
    model = fit_ensemble(x, y, None, "features", members=2, training=FAST)
    model.save(tmp_path / "m.pt")
    again = ZeroShotPredictor.load(tmp_path / "m.pt")
    rows = np.concatenate([x[:20], _without_proxies(x[20:40])])
    for a, b in zip(model.predict(rows), again.predict(rows), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert again.prior_weight == model.prior_weight and again.impute == model.impute


def test_architectures_of_a_much_smaller_space_keep_their_order() -> None:
    x, y = _space(200, 6)
    model = fit_ensemble(x, y, None, "features", members=2, training=FAST, prior_weight=1.0)
    assert model.prior is not None
    tiny, quality = _space(50, 7, shift=-30.0)  # every signal ~30 training stds below anything seen
    committee = model.prior.score(tiny)
    assert len(np.unique(np.round(committee, 6))) == len(committee)  # no two squashed to the same value
    assert kendall_tau(committee, quality) > 0.5
    assert np.abs(committee).max() < 10 * np.abs(model.prior.score(x)).max()  # compressed, not extrapolated
