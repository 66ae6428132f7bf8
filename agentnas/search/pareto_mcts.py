"""The tree search for a front: MCTS whose acquisition is the expected hypervolume
improvement (EHVI) of each candidate over the front of what was trained.

Everything else is MctsPolicy's (expansion, PUCT descent, gate, successive halving); what
changes is what a node is worth:
- a candidate's value is its EHVI: the value model's prediction of the score, N(μ, σ²),
  at the cost the graph tells (agentnas.search.pareto.ehvi_2d), in the utilities of
  ParetoSpec, measured from `search_ref` (below the worst score seen, at the reference
  cost). Uncertainty enters through σ as in the single-objective search: where the model
  knows little, the chance of a large improvement is high;
- an architecture already trained adds nothing more to the front: its own value is 0, so a
  subtree's V is the best improvement still hoped for in it;
- a candidate whose network was trained already (another key for the same model, e.g. an
  NB201 cell differing only in edges that cannot change the output) is not a candidate;
- the architectures expanded first are the front's members with the largest exclusive
  hypervolume (then the next fronts by crowding distance), not the best score alone.
The gate then grants real evaluation to the candidates of the chosen subtree with the
largest EHVI; there is no β to tune.
"""

from __future__ import annotations

import numpy as np

from agentnas.journal.tree import SearchTree
from agentnas.search.estimate import ValueEstimator
from agentnas.search.mcts import NEG, MctsParams, MctsPolicy
from agentnas.search.multi import ParetoSpec, pareto_order, scored, search_ref
from agentnas.search.pareto import ehvi_2d
from agentnas.search.proposer import Proposer

# A front has several members worth expanding, where one incumbent has one.
PARETO_PARAMS = MctsParams(eager_top=3)
# EHVI is measured with the value model's σ widened by this factor: the exploration β gives the
# single-objective search. NB201-CIFAR-10 (val, MACs), tuning seeds 100-111, hypervolume @ 50:
# see BENCHMARKS.md ("Searching for a front").
WIDEN = 2.0


class ParetoMctsPolicy(MctsPolicy):
    name = "mcts"

    def __init__(self, proposer: Proposer, estimator: ValueEstimator, pareto: ParetoSpec,
                 params: MctsParams | None = None, widen: float = WIDEN) -> None:
        super().__init__(proposer, estimator, params or PARETO_PARAMS)
        if widen <= 0:
            raise ValueError("widen must be positive")
        self.pareto, self.widen = pareto, widen

    def acquire(self, tree: SearchTree, keys: list[str], mean: np.ndarray,
                std: np.ndarray) -> tuple[np.ndarray, float]:
        if not keys:
            return np.zeros(0), 1.0
        score = tree.metric.utilities(mean)
        ref = search_ref(tree, score, std)
        front = self.pareto.points(tree, scored(tree))
        gain = ehvi_2d(score, self.widen * np.asarray(std), self.pareto.cost_utilities(keys), front, ref)
        # A candidate building a network already trained is that model again: its only hope
        # of improvement is a luckier training, which the front cannot keep.
        trained = {self.proposer.network(r.key) for r in tree.results}
        gain = np.where([self.proposer.network(k) in trained for k in keys], NEG, gain)
        positive = gain[np.isfinite(gain) & (gain > 0)]
        scale = float(np.median(positive)) if len(positive) else 1.0
        return gain, scale if scale > 1e-12 else 1.0

    def real_value(self, tree: SearchTree, score: float) -> float:
        return 0.0

    def _ranked(self, tree: SearchTree) -> list[str]:
        results = scored(tree)
        points = self.pareto.points(tree, results)
        ref = search_ref(tree, np.zeros(0), np.zeros(0))
        return [results[i].node_id for i in pareto_order(points, ref)]
