"""Searching for a front: what a multi-objective search optimises (`ParetoSpec`: the task's
score and one cost the graph tells), and the multi-objective evolution baseline (NSGA-II).

The score is the task metric's utility (the tree's `Metric` knows its direction); the cost
(MACs, parameters) is lower-is-better and known before training, so a policy may ask for it
for any candidate. In utilities a point is (score utility, cost utility) with cost utility
`(cost_ref - cost) / cost_scale`: cheaper is higher, and a candidate at `cost_ref` or above
adds nothing to the front (the reference point's cost; a `--max-*` constraint or the
space's costliest architecture).

NSGA-II (Deb et al. 2002), steady state: the population is the best `population` of all
full-fidelity results by non-dominated rank, then crowding distance (elitist, as NSGA-II's
(mu + lambda) survival, read back from the records); a step picks two parents by binary
tournaments on (rank, crowding), recombines them, mutates the child once and evaluates it;
the first `population` evaluations are uniform samples.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from agentnas.journal.tree import SearchTree
from agentnas.records import SearchResult, Step
from agentnas.search.base import SearchPolicy
from agentnas.search.baselines import _TRIES, _evaluate_new, _start, _unseen_random
from agentnas.search.keys import ChoiceGrammar
from agentnas.search.pareto import contributions_2d, crowding_distance, nondominated_sort

CostOf = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class ParetoSpec:
    """The second objective: `cost(keys)` gives each key's cost (lower is better), named
    `cost_name`, with the reference cost and the scale of its utility."""

    cost_name: str
    cost: CostOf
    cost_ref: float
    cost_scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.cost_scale > 0:
            raise ValueError("cost_scale must be positive")

    def cost_utilities(self, keys: Sequence[str]) -> np.ndarray:
        return (self.cost_ref - np.asarray(self.cost(list(keys)), np.float64)) / self.cost_scale

    def points(self, tree: SearchTree, results: Sequence[SearchResult]) -> np.ndarray:
        """(n, 2) utilities of full results that have a score (failures have none)."""
        if not results:
            return np.zeros((0, 2))
        scores = np.array([tree.metric.utility(r.score) for r in results])  # type: ignore[arg-type]
        return np.column_stack([scores, self.cost_utilities([r.key for r in results])])


def scored(tree: SearchTree) -> list[SearchResult]:
    return [r for r in tree.full_results() if r.score is not None]


def pareto_order(points: np.ndarray, ref: Sequence[float] | None = None) -> list[int]:
    """Indices of `points` best first: by non-dominated rank, then within the Pareto front by
    exclusive hypervolume (when `ref` is given) or crowding distance, in the other fronts
    by crowding distance; ties keep the earlier point."""
    order: list[int] = []
    for rank, front in enumerate(nondominated_sort(points)):
        pts = points[front]
        weight = contributions_2d(pts, ref) if rank == 0 and ref is not None else crowding_distance(pts)
        order += [front[j] for j in sorted(range(len(front)), key=lambda j: (-weight[j], front[j]))]
    return order


class Nsga2(SearchPolicy[SearchTree]):
    name = "nsga2"

    def __init__(self, grammar: ChoiceGrammar, pareto: ParetoSpec, population: int = 20) -> None:
        if population < 2:
            raise ValueError("NSGA-II needs a population of at least 2")
        self.grammar, self.pareto, self.population = grammar, pareto, population

    def members(self, tree: SearchTree) -> list[tuple[SearchResult, int, float]]:
        """The population: (result, rank, crowding) of the best `population` results."""
        results = scored(tree)
        points = self.pareto.points(tree, results)
        ranked: list[tuple[SearchResult, int, float]] = []
        for rank, front in enumerate(nondominated_sort(points)):
            crowd = crowding_distance(points[front])
            ranked += [(results[i], rank, float(c)) for i, c in zip(front, crowd, strict=True)]
        ranked.sort(key=lambda m: (m[1], -m[2]))
        return ranked[: self.population]

    @staticmethod
    def _tournament(members: list[tuple[SearchResult, int, float]], rng: random.Random) -> SearchResult:
        a, b = rng.sample(members, 2)
        if a[1] != b[1]:
            return a[0] if a[1] < b[1] else b[0]
        if a[2] != b[2]:
            return a[0] if a[2] > b[2] else b[0]
        return a[0] if rng.random() < 0.5 else b[0]

    def step(self, tree: SearchTree, rng: random.Random) -> Step:
        made, hyp = _start(tree, "NSGA-II: non-dominated sorting and crowding over the score and the cost.")
        members = self.members(tree)
        if len(tree.full_results()) < self.population or len(members) < 2:
            key = _unseen_random(tree, self.grammar, rng)
            return Step() if key is None else _evaluate_new(tree, made, hyp, hyp, key, "sample", "initial population")
        for _ in range(_TRIES):
            a, b = self._tournament(members, rng), self._tournament(members, rng)
            child = self.grammar.mutate(self.grammar.recombine(a.key, b.key, rng).key, rng)
            if tree.queried(child.key) is None:
                return _evaluate_new(tree, made, a.node_id, hyp, child.key, "recombine",
                                     f"recombined with {b.key}, then {child.text}")
        key = _unseen_random(tree, self.grammar, rng)
        return Step() if key is None else _evaluate_new(tree, made, hyp, hyp, key, "sample", "no new offspring")


def search_ref(tree: SearchTree, mean: np.ndarray, std: np.ndarray) -> tuple[float, float]:
    """The reference point a search measures improvement from, in utilities: below the worst
    score it has seen (or, before any result, below every candidate's optimistic score) and at
    the reference cost."""
    points = [tree.metric.utility(r.score) for r in scored(tree)]  # type: ignore[arg-type]
    if points:
        low = min(points)
        return low - 1e-6 * max(1.0, abs(low)), 0.0
    if len(mean):
        return float(np.min(np.asarray(mean) - 2 * np.asarray(std))) - 1e-6, 0.0
    return -math.inf, 0.0
