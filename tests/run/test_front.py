"""`agentnas runs front` and `runs pick`: a run's Pareto front over its objectives and the model
a user's limits pick, read from the journal (each objective in its direction)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentnas.journal import open_journal
from agentnas.journal.tree import RunTree
from agentnas.records import CostLimits, Costs, Latency
from agentnas.run.front import FrontError, pareto_front, pick, trained
from tests.report.report_support import Child, RunBuilder, code


def _costs(latency_ms: float | None, params: int) -> Costs:
    lat = [] if latency_ms is None else [Latency(batch=1, median_ms=latency_ms, q1_ms=latency_ms, q3_ms=latency_ms,
                                                 mad_ms=0.0, min_ms=latency_ms, runs=10, warmup=2)]
    return Costs(params=params, macs=params * 10, peak_activation_bytes=1000, size_bytes=params * 4, latency=lat)


# (val accuracy, latency ms, params): a and c are the front by latency; b is slower and worse
# than c; d is the most accurate but was never timed; e failed.
MODELS = {"a": (0.95, 9.0, 5000), "b": (0.80, 6.0, 800), "c": (0.90, 2.0, 1000), "d": (0.97, None, 9000)}


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    b = RunBuilder(tmp_path / "run")
    h = b.hypothesis("trade accuracy for speed")
    children = [Child(code(8 + i), "sample", val=v, test=v - 0.01, params=p, costs=_costs(lat, p))
                for i, (v, lat, p) in enumerate(MODELS.values())]
    children.append(Child(code(40), "sample", outcome="eval_failed"))
    children.append(Child(code(41), "sample", outcome="short", val=0.99, test=0.99, costs=_costs(0.1, 10)))
    b.expand(h, children)
    b.close()
    return tmp_path / "run"


def _tree(run_dir: Path) -> RunTree:
    with open_journal(run_dir, read_only=True) as journal:
        return RunTree.from_journal(journal)


def test_the_front_holds_the_models_no_other_beats_on_every_objective(run_dir: Path) -> None:
    models = trained(_tree(run_dir), ("val_accuracy", "latency_ms"))
    assert len(models) == 4  # the failed and the short trainings are not models
    front = pareto_front(models, ("val_accuracy", "latency_ms"))
    assert [m.values["val_accuracy"] for m in front] == [0.95, 0.90]  # best score first; d has no latency
    by_params = pareto_front(trained(_tree(run_dir), ("val_accuracy", "params")), ("val_accuracy", "params"))
    assert [m.values["val_accuracy"] for m in by_params] == [0.97, 0.95, 0.90, 0.80]
    with pytest.raises(FrontError, match="two objectives"):
        pareto_front(models, ("val_accuracy",))


def test_pick_takes_the_best_within_the_limits_and_never_an_unmeasured_one(run_dir: Path) -> None:
    models = trained(_tree(run_dir), ("val_accuracy", "latency_ms", "params"))
    assert pick(models, CostLimits(), "val_accuracy").values["val_accuracy"] == 0.97  # type: ignore[union-attr]
    fast = pick(models, CostLimits(max_latency_ms=3.0), "val_accuracy")
    assert fast is not None and fast.values["val_accuracy"] == 0.90
    small = pick(models, CostLimits(max_params=900), "val_accuracy")
    assert small is not None and small.values["val_accuracy"] == 0.80
    assert pick(models, CostLimits(max_latency_ms=1.0), "val_accuracy") is None
    assert pick(models, CostLimits(), "latency_ms").values["latency_ms"] == 2.0  # type: ignore[union-attr]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentnas", "runs", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_front_and_pick_as_json_and_in_words(run_dir: Path) -> None:
    done = _cli("front", str(run_dir), "--objectives", "val_accuracy,latency_ms", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [m["val_accuracy"] for m in doc["front"]] == [0.95, 0.90] and doc["measured"] == 3
    picked = _cli("pick", str(run_dir), "--max-latency-ms", "3", "--json")
    assert picked.returncode == 0, picked.stderr
    assert json.loads(picked.stdout)["picked"]["latency_ms"] == 2.0
    words = _cli("pick", str(run_dir), "--max-latency-ms", "3")
    assert "model: " in words.stdout and "latency_ms 2" in words.stdout


@pytest.mark.parametrize("args, code_, message", [
    (("pick", "{run}", "--max-latency-ms", "1"), 1, "fastest measured"),
    (("pick", "{run}", "--max-latency-ms", "-1"), 2, "positive"),
    (("pick", "{run}", "--by", "speed"), 2, "--by"),
    (("front", "{run}", "--objectives", "val_accuracy"), 2, "two objectives"),
    (("front", "{run}", "--objectives", "val_accuracy,speed"), 2, "unknown objective"),
    (("front", "{missing}"), 2, "missing"),
])
def test_cli_refuses_what_it_cannot_answer_with_one_line(args: tuple[str, ...], code_: int, message: str,
                                                         run_dir: Path, tmp_path: Path) -> None:
    done = _cli(*(a.format(run=run_dir, missing=tmp_path / "missing") for a in args))
    assert done.returncode == code_, done.stdout
    assert message in done.stderr and "Traceback" not in done.stderr


def test_the_report_draws_the_front_and_lists_its_members(run_dir: Path, tmp_path: Path) -> None:
    from agentnas.report.build import build_report

    result = build_report(run_dir, tmp_path / "page")
    page = Path(result.html).read_text()
    assert any(p.endswith("front.png") for p in result.pngs)
    assert "Trade-offs: the Pareto front" in page and "agentnas runs pick" in page
    # no objectives recorded: the run's score against latency, measured for three models
    assert "2 of 3 trained models are on the front of val_accuracy against latency_ms" in page
    assert "published test accuracies" not in page  # digits has none recorded


def test_the_report_names_the_published_results_drawn_beside_the_front(tmp_path: Path) -> None:
    from agentnas.report.build import build_report

    b = RunBuilder(tmp_path / "run", task="mnist1d")
    b.expand(b.hypothesis("h"), [Child(code(8 + i), "sample", val=v, test=v, params=p, costs=_costs(lat, p))
                                 for i, (v, lat, p) in enumerate(MODELS.values())])
    b.close()
    page = Path(build_report(tmp_path / "run", tmp_path / "page").html).read_text()
    assert "published test accuracies (logistic 32%, mlp 68%, cnn 94%, gru 91%)" in page


def test_the_front_plot_draws_the_published_results_it_is_given() -> None:
    from agentnas.report.plots import front_png
    from agentnas.tasks.base import Baseline

    points, front = [(1.0, 0.9), (3.0, 0.95)], [(1.0, 0.9), (3.0, 0.95)]
    bare = front_png(points, front, "val_accuracy", "latency_ms")
    cnn = (Baseline(name="cnn", test_accuracy=0.5, source="a paper"),)
    assert front_png(points, front, "val_accuracy", "latency_ms", published=cnn) != bare
    # a score that is not an accuracy has nothing to compare with a published accuracy
    assert front_png(points, front, "val_loss", "latency_ms", published=cnn) == \
        front_png(points, front, "val_loss", "latency_ms")


def test_the_report_of_a_run_without_costs_says_why_there_is_no_front(tmp_path: Path) -> None:
    from agentnas.report.build import build_report

    b = RunBuilder(tmp_path / "run")
    b.expand(b.hypothesis("no costs"), [Child(code(8), "sample", val=0.9, test=0.9)])
    b.close()
    page = Path(build_report(tmp_path / "run", tmp_path / "page").html).read_text()
    assert "No model has both a score and a measured cost" in page


def test_a_run_with_a_cost_objective_trains_what_improves_the_front_most(tmp_path: Path) -> None:
    from agentnas.search import step_rng
    from agentnas.search.run_front import ParetoRunPolicy, RunFront

    b = RunBuilder(tmp_path / "run")
    h = b.hypothesis("fast and accurate")
    # trained: a (0.90 at 4 ms); waiting: "cheap" predicted 0.92 at 1 ms (beats a on both),
    # "slow" predicted 0.95 at 400 ms, "worse" predicted 0.80 at 8 ms (dominated by a)
    ids = b.expand(h, [
        Child(code(8), "sample", val=0.90, test=0.89, costs=_costs(4.0, 1000)),
        Child(code(9), "sample", outcome="predicted", mean=0.92, costs=_costs(1.0, 900)),
        Child(code(10), "sample", outcome="predicted", mean=0.95, costs=_costs(400.0, 90000)),
        Child(code(11), "sample", outcome="predicted", mean=0.80, costs=_costs(8.0, 2000)),
    ])
    b.close()
    tree = _tree(tmp_path / "run")
    assert tree.nodes[ids[1]].costs is not None and tree.nodes[ids[1]].costs.latency_ms == 1.0  # type: ignore[union-attr]
    front = RunFront(cost="latency_ms")
    gains = front.gains(tree, [0.92, 0.95, 0.80], [0.01, 0.01, 0.01], [1.0, 400.0, 8.0])
    assert gains[0] > gains[1] > 0 and gains[2] < 1e-6
    held = front.contributions(tree)
    assert list(held) == [ids[0]] and held[ids[0]] > 0  # the only trained model holds the whole front
    policy = ParetoRunPolicy(front=front)
    # one hypothesis and one trained model: selection (not a new hypothesis) decides
    step = policy._architecture(tree, tree.hypotheses[h], step_rng(0, 1), policy.beta(tree))
    assert [r.node_id for r in step.evaluate] == [ids[1]]
    with pytest.raises(ValueError, match="not a cost objective"):
        RunFront(cost="val_accuracy")


def test_the_run_picks_the_pareto_policy_and_gate_for_a_cost_objective(tmp_path: Path) -> None:
    from agentnas.run.assemble import run_front, run_policy
    from agentnas.run.settings import RunOptions
    from agentnas.search.run_front import ParetoRunPolicy

    both = RunOptions(run_dir=tmp_path, objectives="val_accuracy,macs")
    assert isinstance(run_policy(both), ParetoRunPolicy) and run_front(both).cost == "macs"  # type: ignore[union-attr]
    alone = RunOptions(run_dir=tmp_path, objectives="val_accuracy")
    assert not isinstance(run_policy(alone), ParetoRunPolicy) and run_front(alone) is None


def test_a_chat_limit_keeps_the_run_from_promoting_what_its_check_measured_over_it(tmp_path: Path) -> None:
    from agentnas.records import SteeringMessage
    from agentnas.search.policy import RunPolicy

    b = RunBuilder(tmp_path / "run")
    h = b.hypothesis("anything")
    ids = b.expand(h, [
        Child(code(8), "sample", val=0.90, test=0.89, costs=_costs(4.0, 1000)),
        Child(code(9), "sample", outcome="predicted", mean=0.99, costs=_costs(6.0, 900)),  # the best hope, slow
        Child(code(10), "sample", outcome="predicted", mean=0.91, costs=_costs(1.0, 900)),
        Child(code(11), "sample", outcome="predicted", mean=0.95, costs=_costs(None, 900)),  # latency unmeasured
    ])
    said = SteeringMessage(kind="constrain", max_latency_ms=3.0, said="under 3 ms")
    b.journal.append("steering", said.id, {**said.model_dump(mode="json"), "iteration": 1})
    b.close()
    tree = _tree(tmp_path / "run")
    assert tree.steering.max_latency_ms == 3.0
    allowed = {n.id for n, _, _ in RunPolicy()._options(tree, tree.hypotheses[h], 1.0)}
    assert allowed == {ids[0], ids[2], ids[3]}  # the trained one, the fast one, the one never timed
