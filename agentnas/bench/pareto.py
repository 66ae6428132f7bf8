"""`agentnas bench search --objectives val_accuracy,macs`: searches for a front on a tabular
benchmark, against random search and NSGA-II, in the same tree, records and budget.

Every method runs `seeds` times with `queries` table lookups. After k queries a run's
answer is its front: the queried architectures no other queried one beats on both the
validation accuracy and the cost. The figure is that front's hypervolume, in a box fixed by
the space and the same for every method: accuracy scaled so the space's worst architecture
is 0 and its best 1, cost so the space's costliest is 0 and its cheapest 1, the reference
point at (0, 0). Reported at k = 10, 25, 50, 100 (within the budget) as the mean over seeds
with a 95 % confidence interval (Student t), beside the hypervolume of the space's own
front (the most any search can reach):
- `hv_val`: the front's hypervolume by validation accuracy, what the searches optimise;
- `hv_test`: the same front (chosen by validation accuracy) with each member's TEST
  accuracy, the box scaled by the space's test accuracies: what a user would deploy.
The costs are known for every architecture before training (agentnas.space.tabular_costs),
so every method may read them; MCTS's value model follows the rule of the tabular tasks
(bench/search.py): a zero-shot prior pretrained on the other space, an online GP (whose
std here leaves out the noise of one result: the front is improved by better networks, not
by luckier trainings).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from agentnas.bench.search import BenchError, Log, _ci95, checkpoints, tabular_task
from agentnas.run.search import run_search
from agentnas.search import Budget, MctsParams, ParetoSpec, SearchTree, ValueEstimator, grammar_for, make_policy
from agentnas.search.pareto import front_2d, hypervolume_2d
from agentnas.search.registry import PARETO_POLICY_NAMES
from agentnas.tasks.tabular import TabularTask


class Box:
    """The space's normalisation of (accuracy, cost) to utilities in [0, 1]^2."""

    def __init__(self, task: TabularTask, costs: dict[str, float], accuracy: Callable[[str], float]) -> None:
        keys = task.architectures()
        self.acc = {k: accuracy(k) for k in keys}
        self.cost = {k: costs[k] for k in keys}
        self.acc_lo, self.acc_hi = min(self.acc.values()), max(self.acc.values())
        self.cost_lo, self.cost_hi = min(self.cost.values()), max(self.cost.values())

    def points(self, keys: Sequence[str]) -> np.ndarray:
        acc = np.array([self.acc[k] for k in keys], np.float64)
        cost = np.array([self.cost[k] for k in keys], np.float64)
        return np.column_stack([(acc - self.acc_lo) / (self.acc_hi - self.acc_lo),
                                (self.cost_hi - cost) / (self.cost_hi - self.cost_lo)])

    def hypervolume(self, keys: Sequence[str]) -> float:
        return hypervolume_2d(self.points(keys), (0.0, 0.0)) if keys else 0.0

    def front(self, keys: Sequence[str]) -> list[str]:
        if not keys:
            return []
        return [keys[i] for i in front_2d(self.points(keys))]


def cost_table(task: TabularTask, cost: str, cache_dir: Path) -> dict[str, float]:
    """Every architecture's cost: told by the graph (MACs, Macro's parameters), or for NB201's
    latency measured on this machine (bench.latency_table, made once by `bench latency-table`)."""
    if cost == "latency_ms" and task.space == "nb201":
        from agentnas.bench.latency_table import LatencyTableError, load_table

        try:
            return load_table(task.dataset, cache_dir)
        except LatencyTableError as e:
            raise BenchError(str(e)) from e
    if cost not in task.cost_names():
        known = [*task.cost_names(), *(["latency_ms (after `agentnas bench latency-table`)"]
                                        if task.space == "nb201" else [])]
        raise BenchError(f"{task.spec.name} knows no cost {cost!r} before training; it knows {', '.join(known)}")
    return {k: task.cost(k, cost) for k in task.architectures()}


def pareto_spec(costs: dict[str, float], cost: str) -> ParetoSpec:
    lo, hi = min(costs.values()), max(costs.values())

    def cost_of(keys: Sequence[str]) -> np.ndarray:
        return np.array([costs[k] for k in keys], np.float64)

    return ParetoSpec(cost_name=cost, cost=cost_of, cost_ref=hi, cost_scale=max(hi - lo, 1e-12))


def hv_curves(tree: SearchTree, val: Box, test: Box, queries: int) -> tuple[list[float], list[float]]:
    """Per k = 1..queries: (hv_val, hv_test) of the validation front of the first k results."""
    keys: list[str] = []
    hv_v: list[float] = []
    hv_t: list[float] = []
    front: list[str] = []
    for r in tree.full_results()[:queries]:
        if r.val_accuracy is not None:
            keys.append(r.key)
            front = val.front(front + [r.key])  # the front of k results is the front of (front of k-1) + 1
        hv_v.append(val.hypervolume(front))
        hv_t.append(test.hypervolume(front))
    while hv_v and len(hv_v) < queries:
        hv_v.append(hv_v[-1])
        hv_t.append(hv_t[-1])
    return hv_v, hv_t


def _figures(curves: np.ndarray, queries: int) -> dict[str, Any]:
    marks = checkpoints(queries)
    return {"mean_at": {str(k): float(curves[:, k - 1].mean()) for k in marks},
            "ci95_at": {str(k): _ci95(curves[:, k - 1]) for k in marks},
            "mean_curve": [float(v) for v in curves.mean(0)]}


def run_pareto_bench(space: str, dataset: str, queries: int, seeds: int, methods: Sequence[str], cost: str,
                     cache_dir: Path, log: Log | None = None, params: MctsParams | None = None,
                     estimator_factory: Callable[[], ValueEstimator] | None = None) -> dict[str, Any]:
    say = log or (lambda _m: None)
    if queries < 1 or seeds < 1:
        raise BenchError("--queries and --seeds must be at least 1")
    unknown = [m for m in methods if m not in PARETO_POLICY_NAMES]
    if unknown:
        raise BenchError(f"{unknown[0]!r} optimises one objective; with a cost, compare "
                         f"{', '.join(PARETO_POLICY_NAMES)}")
    task = tabular_task(space, dataset)
    costs = cost_table(task, cost, cache_dir)
    from agentnas.search.tabular import SpaceFeatures, cross_space_predictor, table_evaluator, tabular_estimator

    grammar = grammar_for(space)
    evaluate = table_evaluator(task)
    spec = pareto_spec(costs, cost)
    val, test = Box(task, costs, task.evaluate), Box(task, costs, task.test_accuracy)
    keys = task.architectures()
    report: dict[str, Any] = {
        "task": task.spec.name, "space": space, "dataset": dataset, "objectives": ["val_accuracy", cost],
        "queries": queries, "seeds": seeds,
        "box": {"val_accuracy": [val.acc_lo, val.acc_hi], "test_accuracy": [test.acc_lo, test.acc_hi],
                cost: [val.cost_lo, val.cost_hi]},
        "space_front": {"hv_val": val.hypervolume(val.front(keys)), "hv_test": test.hypervolume(test.front(keys)),
                        "size": len(val.front(keys))},
        "methods": {},
    }
    figures: dict[str, dict[str, Any]] = {}
    features: SpaceFeatures | None = None
    for method in sorted(methods, key=lambda m: m == "mcts"):  # baselines first: they encode nothing
        if method == "mcts" and estimator_factory is None:
            features = SpaceFeatures(task.space, cache_dir, say)
            estimator_factory = functools.partial(tabular_estimator, features,
                                                  cross_space_predictor(task.space, cache_dir, log=say), latent=True)
        t0 = time.perf_counter()
        hv_v, hv_t = [], []
        for seed in range(seeds):
            estimator = estimator_factory() if method == "mcts" and estimator_factory is not None else None
            policy = make_policy(method, grammar, estimator=estimator, params=params, pareto=spec)
            tree = run_search(policy, evaluate, Budget(evals=queries), seed=seed, estimator=estimator)
            v, t = hv_curves(tree, val, test, queries)
            hv_v.append(v)
            hv_t.append(t)
        figures[method] = {"hv_val": _figures(np.array(hv_v), queries), "hv_test": _figures(np.array(hv_t), queries),
                           "seconds": time.perf_counter() - t0}
        say(f"{method}: {seeds} seeds in {figures[method]['seconds']:.1f} s; hypervolume (val) @ {queries} "
            f"{figures[method]['hv_val']['mean_at'][str(queries)]:.4f}")
    report["methods"] = {m: figures[m] for m in methods}
    if features is not None:
        report["encodings_computed"] = features.encoded
    return report


def render_pareto(report: dict[str, Any]) -> Table:
    marks = checkpoints(report["queries"])
    front = report["space_front"]
    table = Table(title=f"{report['task']}: {' vs '.join(report['objectives'])}, {report['seeds']} seeds x "
                        f"{report['queries']} queries · hypervolume of the space's front: val "
                        f"{front['hv_val']:.4f}, test {front['hv_test']:.4f}")
    table.add_column("method")
    table.add_column("front by")
    for k in marks:
        table.add_column(f"HV @ {k}", justify="right")
    for name, m in report["methods"].items():
        for which in ("hv_val", "hv_test"):
            f = m[which]
            table.add_row(name if which == "hv_val" else "", which[3:],
                          *(f"{f['mean_at'][str(k)]:.4f} ± {f['ci95_at'][str(k)]:.4f}" for k in marks))
    return table
