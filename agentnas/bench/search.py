"""`agentnas bench search`: search policies against each other on a tabular benchmark.

Every method runs `seeds` times with the same budget of `queries` table lookups (the same
accounting: a lookup costs 1, an architecture is never charged twice). After k queries a
run's answer is the architecture with the best VALIDATION accuracy so far; the benchmark
reports the mean over seeds of that architecture's TEST accuracy, with a 95 % confidence
interval (Student t), at k = 10, 25, 50, 100 (those within the budget, and the budget),
and the median number of queries until the space's best-validation architecture was
queried (runs that never found it count as the budget; `optimum_not_reached_fraction`
says how many).

MCTS's value model obeys the rule of the tabular tasks: its zero-shot prior is pretrained
on the other space only, and its online GP learns from the run's own results. The
baselines run first whatever the order of `methods` (they need no encodings), so their
figures are logged before MCTS encodes anything; the report keeps the order given.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from agentnas.run.search import run_search
from agentnas.search import Budget, MctsParams, SearchTree, ValueEstimator, grammar_for, make_policy
from agentnas.tasks import get_task
from agentnas.tasks.tabular import TabularTask

CHECKPOINTS = (10, 25, 50, 100)
SPACES = {"nb201": ("cifar10", "cifar100", "imagenet16"), "macro": ("cifar10",)}
Log = Callable[[str], Any]


class BenchError(ValueError):
    """Bad benchmark options; the message says which and what is allowed."""


def checkpoints(queries: int) -> list[int]:
    return sorted({c for c in CHECKPOINTS if c <= queries} | {queries})


def tabular_task(space: str, dataset: str) -> TabularTask:
    if space not in SPACES:
        raise BenchError(f"unknown space {space!r}; expected one of {', '.join(SPACES)}")
    if dataset not in SPACES[space]:
        raise BenchError(f"space {space} has no dataset {dataset!r}; expected one of {', '.join(SPACES[space])}")
    task = get_task(f"{space}-{dataset}")
    assert isinstance(task, TabularTask)
    return task


def curve(tree: SearchTree, task: TabularTask, queries: int) -> tuple[list[float], list[float]]:
    """Per query count k = 1..queries: (val, test) of the best-validation architecture so far.
    A run that stopped early keeps its last answer."""
    vals: list[float] = []
    tests: list[float] = []
    best_val, best_key = -math.inf, ""
    for r in tree.full_results()[:queries]:
        if r.val_accuracy is not None and r.val_accuracy > best_val:
            best_val, best_key = r.val_accuracy, r.key
        vals.append(best_val)
        tests.append(task.test_accuracy(best_key))
    while vals and len(vals) < queries:
        vals.append(vals[-1])
        tests.append(tests[-1])
    return vals, tests


def queries_to_optimum(tree: SearchTree, optimum: frozenset[str]) -> int | None:
    for i, r in enumerate(tree.full_results(), start=1):
        if r.key in optimum:
            return i
    return None


def _ci95(x: np.ndarray) -> float:
    if len(x) < 2:
        return 0.0
    from scipy import stats  # here: ~0.8 s to import, for every `agentnas` command otherwise

    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def summarise(tests: np.ndarray, vals: np.ndarray, hits: list[int | None], queries: int,
              seconds: float) -> dict[str, Any]:
    """One method's figures from its (seeds, queries) curves."""
    marks = checkpoints(queries)
    capped = np.array([h if h is not None else queries for h in hits], np.float64)
    return {
        "mean_test_at": {str(k): float(tests[:, k - 1].mean()) for k in marks},
        "ci95_at": {str(k): _ci95(tests[:, k - 1]) for k in marks},
        "mean_val_at": {str(k): float(vals[:, k - 1].mean()) for k in marks},
        "median_queries_to_optimum": float(np.median(capped)),
        "optimum_not_reached_fraction": float(np.mean([h is None for h in hits])),
        "mean_test_curve": [float(v) for v in tests.mean(0)],
        "ci95_curve": [_ci95(tests[:, k]) for k in range(tests.shape[1])],
        "seconds": seconds,
    }


def run_search_bench(space: str, dataset: str, queries: int, seeds: int, methods: Sequence[str],
                     cache_dir: Path, log: Log | None = None, params: MctsParams | None = None,
                     estimator_factory: Callable[[], ValueEstimator] | None = None) -> dict[str, Any]:
    """Run every method `seeds` times; `estimator_factory` replaces MCTS's value model
    (tests, oracle studies), which by default is the cross-space prior + online GP."""
    say = log or (lambda _m: None)
    if queries < 1 or seeds < 1:
        raise BenchError("--queries and --seeds must be at least 1")
    task = tabular_task(space, dataset)
    from agentnas.search.tabular import SpaceFeatures, cross_space_predictor, table_evaluator, tabular_estimator

    grammar = grammar_for(space)
    evaluate = table_evaluator(task)
    optimum = task.optimum_keys()
    features: SpaceFeatures | None = None
    report: dict[str, Any] = {
        "task": task.spec.name, "space": space, "dataset": dataset, "queries": queries, "seeds": seeds,
        "optimum": {"keys": sorted(optimum), "val": task.evaluate(next(iter(optimum))),
                    "test": max(task.test_accuracy(k) for k in optimum)},
        "methods": {},
    }
    figures: dict[str, dict[str, Any]] = {}
    # The baselines need no encodings: their figures come first, before MCTS's value model
    # encodes anything (on a fresh cache that is many minutes).
    for method in sorted(methods, key=lambda m: m == "mcts"):
        if method == "mcts" and estimator_factory is None:
            features = SpaceFeatures(task.space, cache_dir, say)
            estimator_factory = functools.partial(tabular_estimator, features,
                                                  cross_space_predictor(task.space, cache_dir, log=say))
        t0 = time.perf_counter()  # the search's own time: the prior and cached encodings are read above
        tests, vals, hits = [], [], []
        for seed in range(seeds):
            estimator = estimator_factory() if method == "mcts" and estimator_factory is not None else None
            policy = make_policy(method, grammar, estimator=estimator, params=params)
            tree = run_search(policy, evaluate, Budget(evals=queries), seed=seed, estimator=estimator)
            v, t = curve(tree, task, queries)
            vals.append(v)
            tests.append(t)
            hits.append(queries_to_optimum(tree, optimum))
        figures[method] = summarise(np.array(tests), np.array(vals), hits, queries, time.perf_counter() - t0)
        m = figures[method]
        say(f"{method}: {seeds} seeds in {m['seconds']:.1f} s; test @ {queries} {m['mean_test_at'][str(queries)]:.2f}")
    report["methods"] = {m: figures[m] for m in methods}
    if features is not None:
        report["encodings_computed"] = features.encoded
        report["networks_encoded"] = features.encoder.computed
    return report


def plot(report: dict[str, Any], path: Path) -> None:
    """Mean test accuracy of the best-validation architecture vs queries, with 95 % bands.
    Raises ImportError when matplotlib is not installed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, m in report["methods"].items():
        mean, ci = np.array(m["mean_test_curve"]), np.array(m["ci95_curve"])
        k = np.arange(1, len(mean) + 1)
        ax.plot(k, mean, label=name)
        ax.fill_between(k, mean - ci, mean + ci, alpha=0.2)
    ax.axhline(report["optimum"]["test"], color="grey", linestyle=":", label="test of the best-val architecture")
    ax.set_xscale("log")
    ax.set_xlabel("queries")
    ax.set_ylabel("test accuracy of best-validation architecture (%)")
    ax.set_title(f"{report['task']}: {report['seeds']} seeds")
    lows = [min(m["mean_test_curve"][min(9, len(m["mean_test_curve"]) - 1):]) for m in report["methods"].values()]
    ax.set_ylim(min(lows) - 0.5, report["optimum"]["test"] + 0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render(report: dict[str, Any]) -> Table:
    """The human-readable table: mean ± CI per checkpoint, median queries to the optimum."""
    marks = checkpoints(report["queries"])
    opt = report["optimum"]
    table = Table(title=f"{report['task']}: {report['seeds']} seeds x {report['queries']} queries · best-val "
                        f"architecture: val {opt['val']:.2f}, test {opt['test']:.2f}")
    table.add_column("method")
    for k in marks:
        table.add_column(f"test @ {k}", justify="right")
    table.add_column("median queries to optimum", justify="right")
    for name, m in report["methods"].items():
        q = m["median_queries_to_optimum"]
        reached = f">{report['queries']}" if m["optimum_not_reached_fraction"] >= 0.5 else f"{q:.0f}"
        table.add_row(name, *(f"{m['mean_test_at'][str(k)]:.2f} ± {m['ci95_at'][str(k)]:.2f}" for k in marks),
                      f"{reached} (not reached {m['optimum_not_reached_fraction']:.0%})")
    return table
