"""`agentnas bench search`: the figures it computes and its JSON, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agentnas.bench.search import curve, queries_to_optimum, run_search_bench, summarise
from agentnas.search import SearchNode, SearchResult, SearchTree, TableEstimator
from agentnas.tasks import TabularTask, get_task

MARKS = ["10", "25", "50", "100"]


def _check_schema(report: dict[str, object], methods: list[str], marks: list[str]) -> None:
    assert set(report["methods"]) == set(methods)  # type: ignore[arg-type]
    for m in report["methods"].values():  # type: ignore[attr-defined]
        assert list(m["mean_test_at"]) == marks and list(m["ci95_at"]) == marks
        assert all(isinstance(v, float) for v in (*m["mean_test_at"].values(), *m["ci95_at"].values()))
        assert isinstance(m["median_queries_to_optimum"], float)


def test_the_curve_follows_the_best_validation_architecture_and_reports_its_test(bench_data: Path) -> None:
    task = get_task("nb201-cifar10")
    assert isinstance(task, TabularTask)
    keys = sorted(task.architectures(), key=task.evaluate)[-3:]  # the three best by validation, ascending
    order = [keys[1], keys[0], keys[2]]
    tree = SearchTree()
    tree.add_node(SearchNode(id="h", kind="hypothesis", operator="hypothesis", text="t"))
    for i, key in enumerate(order):
        tree.add_node(SearchNode(id=f"n{i}", parent_id="h", kind="architecture", operator="sample", key=key,
                                 hypothesis_id="h", step=i))
        tree.add_result(SearchResult(node_id=f"n{i}", key=key, val_accuracy=task.evaluate(key), step=i))
    vals, tests = curve(tree, task, 5)
    best = [task.test_accuracy(keys[1])] * 2 + [task.test_accuracy(keys[2])] * 3
    assert tests == best and vals[-1] == task.evaluate(keys[2])
    assert queries_to_optimum(tree, task.optimum_keys()) == 3


def test_median_to_optimum_counts_misses_as_the_budget() -> None:
    tests = np.full((4, 10), 90.0)
    out = summarise(tests, tests, [2, None, None, 4], 10, 0.0)
    assert out["median_queries_to_optimum"] == 7.0 and out["optimum_not_reached_fraction"] == 0.5
    assert out["ci95_at"]["10"] == 0.0


def test_bench_json_has_every_method_and_checkpoint(bench_data: Path, tmp_path: Path) -> None:
    task = get_task("nb201-cifar10")
    assert isinstance(task, TabularTask)
    oracle = {k: task.evaluate(k) for k in task.architectures()}
    report = run_search_bench("nb201", "cifar10", 100, 3, ["random", "rea", "ls", "mcts"], tmp_path,
                              estimator_factory=lambda: TableEstimator(oracle, std=0.1))
    _check_schema(report, ["random", "rea", "ls", "mcts"], MARKS)
    perfect = report["methods"]["mcts"]
    # a perfect value model makes MCTS find the space's best architecture almost at once
    assert perfect["median_queries_to_optimum"] <= 5 and perfect["optimum_not_reached_fraction"] == 0
    assert perfect["mean_test_at"]["10"] == pytest.approx(report["optimum"]["test"])
    assert report["methods"]["random"]["mean_test_at"]["10"] < perfect["mean_test_at"]["10"]


def test_baselines_report_before_mcts_whatever_the_order_given(bench_data: Path, tmp_path: Path) -> None:
    task = get_task("nb201-cifar10")
    assert isinstance(task, TabularTask)
    oracle = {k: task.evaluate(k) for k in task.architectures()}
    lines: list[str] = []
    report = run_search_bench("nb201", "cifar10", 10, 1, ["mcts", "random", "ls"], tmp_path, log=lines.append,
                              estimator_factory=lambda: TableEstimator(oracle, std=0.1))
    assert [line.split(":")[0] for line in lines] == ["random", "ls", "mcts"]
    assert list(report["methods"]) == ["mcts", "random", "ls"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    (cwd / "agentnas.toml").write_text(f'cache_dir = "{cwd / "cache"}"\n')
    return subprocess.run([sys.executable, "-m", "agentnas", "bench", "search", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_cli_prints_the_json_schema_and_writes_a_plot(bench_data: Path, tmp_path: Path) -> None:
    png = tmp_path / "curve.png"
    done = _cli("--queries", "12", "--seeds", "2", "--methods", "random,ls", "--json", "--plot", str(png),
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    _check_schema(report, ["random", "ls"], ["10", "12"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "random: 2 seeds" in done.stderr  # progress still shows, on stderr, beside the JSON


@pytest.mark.parametrize("args, message", [
    (("--methods", "random,bogus"), "--methods"),
    (("--space", "macro", "--dataset", "cifar100"), "no dataset"),
    (("--space", "nb301"), "unknown space"),
    (("--queries", "0"), "queries"),
])
def test_cli_rejects_bad_options_with_exit_2(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
