"""A code-level run that optimises a trade-off (`--objectives val_accuracy,latency_ms`): which
architecture is worth training is its expected hypervolume improvement (EHVI, search.pareto)
over the front of what the run trained, score against one cost.

The score's prediction is the value model's (μ, σ; σ widened as in the tabular search); the
cost is what the check measured for the candidate's exported graph, before any training (the
MACs, parameters, size, memory or latency of agentnas.records.Costs). Costs are compared on
a log scale: halving a cost is worth the same at any size (0.01 ms against 0.02 ms as 1 ms
against 2 ms), as deployment budgets are usually stated. In utilities a point is
(score utility, log(cost_ref) − log(cost)) with cost_ref twice the largest cost the run has
measured, and the score's reference just below the worst trained score.

Where the choices are made: `ParetoRunPolicy` (an architecture's worth in the PUCT selection:
a trained one its exclusive hypervolume, which decides whose children are written next; a
predicted-only one its EHVI) and the expansion's gate (run.expansion.ValueGate), which grants
training to the children with the largest EHVI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agentnas.journal.tree import ArchNode, HypothesisNode, RunTree
from agentnas.records import COST_METRICS
from agentnas.search.pareto import contributions_2d, ehvi_2d
from agentnas.search.pareto_mcts import WIDEN
from agentnas.search.policy import RunPolicy


@dataclass(frozen=True)
class RunFront:
    cost: str  # a cost objective (agentnas.records.COST_METRICS)
    widen: float = WIDEN

    def __post_init__(self) -> None:
        if self.cost not in COST_METRICS:
            raise ValueError(f"{self.cost!r} is not a cost objective; known: {', '.join(COST_METRICS)}")

    def cost_of(self, node: ArchNode) -> float | None:
        """The node's measured cost (None: not measured, or zero: no log scale)."""
        value = node.costs.value(self.cost) if node.costs is not None else None
        return float(value) if value is not None and value > 0 else None

    def _trained(self, tree: RunTree) -> list[tuple[ArchNode, float]]:
        out = []
        for n in tree.trained_nodes():
            cost = self.cost_of(n)
            if cost is not None and n.val_score is not None:
                out.append((n, cost))
        return out

    def _cost_ref(self, tree: RunTree, extra: Sequence[float] = ()) -> float:
        seen = [c for c in (self.cost_of(n) for n in tree.nodes.values()) if c is not None] + list(extra)
        return 2.0 * max(seen) if seen else 1.0

    def _points(self, tree: RunTree, trained: list[tuple[ArchNode, float]], cost_ref: float
                ) -> tuple[np.ndarray, tuple[float, float]]:
        if not trained:
            return np.zeros((0, 2)), (-math.inf, 0.0)
        pts = np.array([[tree.metric.utility(n.val_score), math.log(cost_ref) - math.log(c)]  # type: ignore[arg-type]
                        for n, c in trained])
        low = float(pts[:, 0].min())
        return pts, (low - 1e-6 * max(1.0, abs(low)), 0.0)

    def gains(self, tree: RunTree, mean: Sequence[float], std: Sequence[float],
              cost: Sequence[float | None]) -> np.ndarray:
        """EHVI of candidates with predicted scores (mean, std) and measured costs; a candidate
        whose cost was not measured gains nothing (its place on the front is unknown)."""
        known = [c for c in cost if c is not None and c > 0]
        cost_ref = self._cost_ref(tree, known)
        pts, ref = self._points(tree, self._trained(tree), cost_ref)
        utility = tree.metric.utilities(np.asarray(mean, np.float64))
        sd = self.widen * np.asarray(std, np.float64)
        if not np.isfinite(ref[0]):  # nothing trained yet: from below every optimistic guess
            ref = (float(np.min(utility - 2 * sd)) - 1e-6 if len(utility) else 0.0, 0.0)
        cu = np.array([math.log(cost_ref) - math.log(c) if c is not None and c > 0 else -math.inf for c in cost])
        gain = ehvi_2d(utility, sd, np.where(np.isfinite(cu), cu, ref[1]), pts, ref)
        return np.where(np.isfinite(cu), gain, 0.0)

    def contributions(self, tree: RunTree) -> dict[str, float]:
        """Each trained node's exclusive hypervolume (0: dominated, or its cost unmeasured)."""
        trained = self._trained(tree)
        pts, ref = self._points(tree, trained, self._cost_ref(tree))
        if not len(pts):
            return {}
        return {n.id: float(v) for (n, _), v in zip(trained, contributions_2d(pts, ref), strict=True)}


@dataclass(frozen=True)
class ParetoRunPolicy(RunPolicy):
    """RunPolicy whose values are hypervolume: a trained architecture's exclusive hypervolume
    (expanding it writes children near the front), a predicted-only one's EHVI (promoting it
    trains it). The steering rules, widening of hypotheses and recombination are RunPolicy's."""

    front: RunFront = RunFront(cost="latency_ms")
    name: str = "run-pareto"

    def _options(self, tree: RunTree, h: HypothesisNode, beta: float) -> list[tuple[ArchNode, float, int]]:
        trained: list[ArchNode] = []
        waiting: list[ArchNode] = []
        for nid in h.nodes:
            node = tree.nodes[nid]
            if self._blocked(tree, node):
                continue
            if node.val_score is not None:
                trained.append(node)
            elif node.predicted_only and node.mean is not None and self.within_limits(tree, node):
                waiting.append(node)
        held = self.front.contributions(tree)
        gains = self.front.gains(tree, [n.mean or 0.0 for n in waiting], [n.std or 0.0 for n in waiting],
                                 [self.front.cost_of(n) for n in waiting])
        return ([(n, held.get(n.id, 0.0), len(n.children)) for n in trained]
                + [(n, float(g), 0) for n, g in zip(waiting, gains, strict=True)])

    @staticmethod
    def _scale(options: list[tuple[ArchNode, float, int]]) -> float:
        """s: the typical hypervolume at stake among the options (selection's unit)."""
        positive = [v for _, v, _ in options if v > 0]
        return float(np.median(positive)) if positive else 1.0
