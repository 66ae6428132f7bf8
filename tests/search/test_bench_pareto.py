"""`agentnas bench search --objectives val_accuracy,macs`: the hypervolume figures and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentnas.bench.pareto import Box, run_pareto_bench
from agentnas.search import TableEstimator
from agentnas.tasks import TabularTask, get_task
from tests.search.test_bench_search import _cli


def test_the_box_puts_the_spaces_front_inside_the_unit_square(bench_data: Path) -> None:
    task = get_task("nb201-cifar10")
    assert isinstance(task, TabularTask)
    box = Box(task, {k: task.cost(k, "macs") for k in task.architectures()}, task.evaluate)
    keys = task.architectures()
    front = box.front(keys)
    assert 1 < len(front) < 40
    pts = box.points(front)
    assert pts.min() >= 0.0 and pts.max() <= 1.0
    assert 0.9 < box.hypervolume(front) < 1.0
    assert box.hypervolume(front[:1]) < box.hypervolume(front)
    assert box.hypervolume(keys[:50]) <= box.hypervolume(front)  # nothing beats the space's front


def test_a_perfect_value_model_finds_more_front_than_the_baselines(bench_data: Path, tmp_path: Path) -> None:
    task = get_task("nb201-cifar10")
    assert isinstance(task, TabularTask)
    oracle = {k: task.evaluate(k) for k in task.architectures()}
    lines: list[str] = []
    report = run_pareto_bench("nb201", "cifar10", 30, 2, ["mcts", "random", "nsga2"], "macs", tmp_path,
                              log=lines.append, estimator_factory=lambda: TableEstimator(oracle, std=0.0))
    assert [line.split(":")[0] for line in lines] == ["random", "nsga2", "mcts"]  # baselines first
    hv = {m: f["hv_val"]["mean_at"]["30"] for m, f in report["methods"].items()}
    assert hv["mcts"] > hv["random"] and hv["mcts"] > hv["nsga2"]
    assert hv["mcts"] <= report["space_front"]["hv_val"] + 1e-12
    for figures in report["methods"].values():
        curve = figures["hv_val"]["mean_curve"]
        assert len(curve) == 30 and all(a <= b + 1e-12 for a, b in zip(curve, curve[1:], strict=False))


def test_cli_runs_a_front_benchmark_as_json(bench_data: Path, tmp_path: Path) -> None:
    done = _cli("--objectives", "val_accuracy,macs", "--methods", "random,nsga2", "--queries", "12", "--seeds",
                "2", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["objectives"] == ["val_accuracy", "macs"] and set(report["methods"]) == {"random", "nsga2"}
    assert list(report["methods"]["nsga2"]["hv_test"]["mean_at"]) == ["10", "12"]


@pytest.mark.parametrize("args, message", [
    (("--objectives", "val_accuracy,macs", "--methods", "rea"), "with a cost"),
    (("--objectives", "val_accuracy,latency_ms"), "agentnas bench latency-table --dataset cifar10"),
    (("--space", "macro", "--objectives", "val_accuracy,latency_ms"), "knows no cost"),
    (("--objectives", "macs"), "ranks by val_accuracy"),
    (("--objectives", "val_accuracy,bogus"), "unknown objective"),
    (("--methods", "nsga2"), "one objective"),
])
def test_cli_rejects_bad_objectives_with_exit_2(args: tuple[str, ...], message: str, bench_data: Path,
                                                tmp_path: Path) -> None:
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    assert message in done.stderr
