"""Hierarchical MCTS guided by the value model (formula: agentnas.search.selection).

One step does exactly one of three things, in this order:
1. promote: successive halving owes an evaluation at a higher fidelity (fidelity.py);
2. expand: the tree lacks children where the search needs them (the first step makes
   the hypotheses and samples `samples_per_hypothesis` architectures for each; the
   `eager_top` best evaluated architectures get their `children_per_expansion` mutations
   and recombinations; a hypothesis left with fewer than `min_frontier` candidates gets
   new samples). New children are predicted-only nodes with the value model's prediction;
3. select and gate: descend from the root by the PUCT score, through subtrees that still
   hold a candidate, to a candidate; of the candidates under the node reached, the best
   `bracket_size` by μ + β·σ get real evaluation (at the lowest fidelity). β follows a
   schedule (selection.PuctParams.beta_at): wide for the first results, then puct.beta.

Expanding only the best few architectures keeps the value model's work per query modest
(a few neighbourhoods of the incumbents, value-ranked), which matters where encoding a
candidate is costly (an ONNX export each); a subtree whose candidates are all spent is
left, and new hypothesis samples are the search's restarts.

A candidate is an architecture node whose key was never evaluated; several nodes may hold
the same key (a transposition, reached from different parents): evaluating one makes all
of them known. Rewards back up the tree when the loop records results (tree.py).
"""

from __future__ import annotations

import random

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agentnas.journal.tree import FULL, SearchTree
from agentnas.records import EvalRequest, SearchNode, Step
from agentnas.search.base import SearchPolicy, node_id
from agentnas.search.estimate import ValueEstimator
from agentnas.search.fidelity import Halving, pending_promotions
from agentnas.search.proposer import KeyProposal, Proposer
from agentnas.search.selection import PuctParams, acquisition, puct_scores

NEG = float("-inf")


class MctsParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    puct: PuctParams = PuctParams()
    samples_per_hypothesis: int = Field(default=8, gt=0)
    children_per_expansion: int = Field(default=32, gt=0)
    eager_top: int = Field(default=1, ge=0)  # measured on NB201: 1 reaches the optimum in fewer queries
    min_frontier: int = Field(default=2, ge=0)
    partners: int = Field(default=2, ge=0)  # recombination partners: the best other architectures
    halving: Halving = Halving()


class _Values:
    """Every node's own value and subtree value V for one step (see selection.py)."""

    def __init__(self, tree: SearchTree, policy: MctsPolicy) -> None:
        self.tree, self.policy = tree, policy
        self.tried = {r.key for r in tree.results}  # any fidelity: a bracket member waits for promotion
        self.candidates = {n.id for n in tree.nodes.values() if n.kind == "architecture" and n.key not in self.tried}
        keys = sorted({tree.nodes[i].key for i in self.candidates})
        mean, std = policy.estimator.predict(keys)
        acq, self.scale = policy.acquire(tree, keys, mean, std)
        self.pred = {k: (float(m), float(s), float(a)) for k, m, s, a in zip(keys, mean, std, acq, strict=True)}
        self.value = {n.id: self._own(n) for n in tree.nodes.values()}
        self.live = set(self.candidates)  # nodes with a candidate in their subtree: where a descent can end
        for nid in reversed(list(tree.nodes)):  # children are added after their parents
            parent = tree.nodes[nid].parent_id
            if parent is None:
                continue
            if self.value[nid] > self.value[parent]:
                self.value[parent] = self.value[nid]
            if nid in self.live:
                self.live.add(parent)

    def _own(self, node: SearchNode) -> float:
        if node.kind == "hypothesis":
            return NEG
        full = self.tree.queried(node.key, FULL)
        if full is not None:
            return self.policy.real_value(self.tree, full.score) if full.score is not None else NEG
        pred = self.pred.get(node.key)
        return pred[2] if pred is not None else NEG  # evaluated at a low fidelity only: not promoted


class MctsPolicy(SearchPolicy[SearchTree]):
    name = "mcts"

    def __init__(self, proposer: Proposer, estimator: ValueEstimator, params: MctsParams | None = None) -> None:
        self.proposer, self.estimator = proposer, estimator
        self.params = params or MctsParams()

    # -- step --------------------------------------------------------------------------

    def step(self, tree: SearchTree, rng: random.Random) -> Step:
        owed = pending_promotions(tree, self.params.halving)
        if owed:
            return Step(evaluate=tuple(owed), note="successive halving: promote")
        made = self._expansions(tree, rng)
        if made:
            return Step(new_nodes=tuple(made), note=f"expand: {len(made)} nodes")
        return self._select(tree, rng)

    # -- expansion ---------------------------------------------------------------------

    def _nodes(self, tree: SearchTree, parent: SearchNode | None, hyp: str, proposals: list[KeyProposal],
               start: int) -> list[SearchNode]:
        """New predicted-only children from proposals: no key twice, none already evaluated."""
        seen = {r.key for r in tree.results}
        fresh = []
        for p in proposals:
            if p.key not in seen:
                seen.add(p.key)
                fresh.append(p)
        if not fresh:
            return []
        mean, std = self.estimator.predict([p.key for p in fresh])
        return [SearchNode(id=node_id(tree.next_step, start + i), parent_id=parent.id if parent else hyp,
                           kind="architecture", operator=p.operator, key=p.key, text=p.text, hypothesis_id=hyp,
                           prior_mean=float(m), prior_std=float(s), step=tree.next_step)
                for i, (p, m, s) in enumerate(zip(fresh, mean, std, strict=True))]

    def _expansions(self, tree: SearchTree, rng: random.Random) -> list[SearchNode]:
        p = self.params
        made: list[SearchNode] = []
        if not tree.hypotheses():
            for text in self.proposer.hypotheses():
                hyp = SearchNode(id=node_id(tree.next_step, len(made)), kind="hypothesis", operator="hypothesis",
                                 text=text, step=tree.next_step)
                made.append(hyp)
                made += self._nodes(tree, None, hyp.id, self.proposer.sample(text, rng, p.samples_per_hypothesis),
                                    len(made))
            return made
        ranked = self._ranked(tree)
        for nid in ranked[: p.eager_top]:
            node = tree.nodes[nid]
            if not tree.children[nid]:
                partners = [tree.nodes[o].key for o in ranked if o != nid][: p.partners]
                proposals = self.proposer.children(node.key, rng, p.children_per_expansion, partners)
                made += self._nodes(tree, node, node.hypothesis_id, proposals, len(made))
        for hyp in tree.hypotheses():
            frontier = [c for c in tree.kids(hyp.id) if tree.queried(c.key) is None and not tree.evaluated(c.id)]
            if len(frontier) < p.min_frontier:
                made += self._nodes(tree, None, hyp.id, self.proposer.sample(hyp.text, rng, p.samples_per_hypothesis),
                                    len(made))
        return made

    def _ranked(self, tree: SearchTree) -> list[str]:
        """Evaluated architecture nodes, best full-fidelity reward first (ties: earlier)."""
        rewarded = [(tree.metric.utility(r.score), i, r.node_id)  # type: ignore[arg-type]
                    for i, r in enumerate(tree.full_results())]
        return [nid for _, _, nid in sorted(rewarded, key=lambda t: (-t[0], t[1]))]

    # -- what a candidate is worth -------------------------------------------------------

    def acquire(self, tree: SearchTree, keys: list[str], mean: np.ndarray,
                std: np.ndarray) -> tuple[np.ndarray, float]:
        """The acquisition a(x) of each candidate (predictions are scores; rewards utilities)
        and the typical doubt s that makes selection's terms unit-free."""
        scale = float(np.median(std)) if len(keys) else 1.0
        return acquisition(tree.metric.utilities(mean), std, self.beta(tree)), scale if scale > 1e-9 else 1.0

    def real_value(self, tree: SearchTree, score: float) -> float:
        """What an architecture trained at full fidelity is worth in V (its reward)."""
        return tree.metric.utility(score)

    # -- selection ---------------------------------------------------------------------

    def beta(self, tree: SearchTree) -> float:
        """The β of a(x) = μ + β·σ for this step (the exploration schedule, selection.PuctParams)."""
        return self.params.puct.beta_at(len(tree.full_results()))

    def _select(self, tree: SearchTree, rng: random.Random) -> Step:
        values = _Values(tree, self)
        parent: str | None = None
        while True:
            kids = [c for c in tree.children[parent] if c in values.live]
            if not kids:
                return Step()  # no candidate anywhere: the proposer has nothing new
            v = np.array([values.value[c] for c in kids])
            n = np.array([tree.visits(c) for c in kids])
            scores = puct_scores(v, n, tree.visits(parent), values.scale, self.params.puct)
            choice = kids[int(np.argmax(scores))]
            if choice in values.candidates:
                return self._gate(tree, values, [c for c in kids if c in values.candidates])
            parent = choice

    def _gate(self, tree: SearchTree, values: _Values, candidates: list[str]) -> Step:
        unique: dict[str, str] = {}
        for c in candidates:
            unique.setdefault(tree.nodes[c].key, c)
        keys = list(unique)
        acq = [values.pred[k][2] for k in keys]
        chosen = sorted(range(len(keys)), key=lambda i: (-acq[i], i))[: self.params.halving.bracket_size]
        fidelity = self.params.halving.first
        return Step(evaluate=tuple(EvalRequest(node_id=unique[keys[i]], fidelity=fidelity) for i in chosen),
                    note=f"gate: {len(chosen)} of {len(keys)} candidates")
