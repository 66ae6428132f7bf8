"""Where a code-level run goes next: a `SearchPolicy` over the run's tree, with the selection
formula, exploration schedule and gate of every search (agentnas.search.selection).

Two levels, hypotheses (design directions in words) and the architectures (code) under
them. One step does one of:

1. a hypothesis the user or a warm start queued is expanded first (its first children);
2. a new hypothesis is opened while there are fewer than 1 + √N of them (N: trained
   architectures; progressive widening), unless the user focused the run;
3. otherwise PUCT picks a hypothesis, then one of its architectures:

       score(c) = (V(c) − max V) / s  +  c_puct · P(c) · √(N(p) + 1) / (1 + N(c))
       P(c) = softmax(V / (T·s)),  a(x) = u(μ(x)) + β·σ(x)   (selection.puct_scores, acquisition)

   At the hypothesis level V(h) is the best of its architectures' values and N(h) its
   trained architectures. At the architecture level the options are every architecture of
   the hypothesis that was trained (V: its reward; N: its children so far; chosen: expand it,
   i.e. the proposer writes its children, sometimes recombined with the best other one) and
   every predicted-only one (V: a(x); N 0; chosen: promote it, i.e. train it without a new
   expansion). A hypothesis with neither gets fresh samples. Rewards and predictions are
   utilities of the task's metric (u), so lower-is-better metrics need no sign flipped here.
   β follows the schedule of PuctParams: wide for the first results, then the run's β.

Steering: pruned subtrees are never chosen; a focus keeps the step inside the focused
hypothesis or node; candidates over the user's parameter limit are not promoted.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from agentnas.journal.tree import ArchNode, HypothesisNode, RunTree
from agentnas.records import EvalRequest, Expansion, Step
from agentnas.search.base import SearchPolicy
from agentnas.search.selection import PuctParams, acquisition, puct_scores

DEFAULT_STD = 0.05  # the doubt of a node the value model gave none (accuracy units)


@dataclass(frozen=True)
class RunPolicy(SearchPolicy[RunTree]):
    puct: PuctParams = PuctParams(c_puct=1.0, beta=1.0)
    recombine_p: float = 0.2
    name: str = "run"

    def beta(self, tree: RunTree) -> float:
        return self.puct.beta_at(len(tree.search.full_results()))

    def step(self, tree: RunTree, rng: random.Random) -> Step:
        n_total = len(tree.trained_nodes())
        live = self._allowed_hypotheses(tree)
        queued = [h for h in live if h.priority > 0 and not h.nodes]
        if queued:  # a steering hypothesis waits for its first expansion
            return Step(expand=Expansion(hypothesis_id=min(queued, key=lambda h: h.id).id), note="queued hypothesis")
        if tree.steering.focus is None and (not live or len(tree.hypotheses) < 1 + math.sqrt(n_total)):
            return Step(expand=Expansion(), note="new hypothesis")
        beta = self.beta(tree)
        h = self._hypothesis(tree, live, n_total, beta)
        return self._architecture(tree, h, rng, beta)

    # -- values --------------------------------------------------------------------------

    def _options(self, tree: RunTree, h: HypothesisNode, beta: float) -> list[tuple[ArchNode, float, int]]:
        """(node, V, N) of every choosable architecture of `h`: trained ones (to expand) and
        predicted-only ones within the user's limits (to promote)."""
        out = []
        for nid in h.nodes:
            node = tree.nodes[nid]
            if self._blocked(tree, node):
                continue
            if node.val_score is not None:  # trained
                out.append((node, tree.metric.utility(node.val_score), len(node.children)))
            elif node.predicted_only and node.mean is not None and self.within_limits(tree, node):
                a = acquisition(tree.metric.utilities(np.array([node.mean])), np.array([node.std or 0.0]), beta)
                out.append((node, float(a[0]), 0))
        return out

    @staticmethod
    def _scale(options: list[tuple[ArchNode, float, int]]) -> float:
        """s: the typical doubt of the value model over the options (unit-free scores)."""
        stds = [n.std for n, _, _ in options if n.std is not None and n.std > 1e-9]
        return float(np.median(stds)) if stds else DEFAULT_STD

    def _hypothesis(self, tree: RunTree, live: list[HypothesisNode], n_total: int, beta: float) -> HypothesisNode:
        hyps = sorted(live, key=lambda h: h.id)
        per = [self._options(tree, h, beta) for h in hyps]
        values = np.array([max((v for _, v, _ in o), default=-np.inf) for o in per])
        visits = np.array([sum(n.trained for n, _, _ in o) for o in per])
        scale = self._scale([x for o in per for x in o])
        scores = puct_scores(values, visits, n_total, scale, self.puct)
        return hyps[int(np.argmax(scores))]

    def _architecture(self, tree: RunTree, h: HypothesisNode, rng: random.Random, beta: float) -> Step:
        options = self._options(tree, h, beta)
        if not options:  # nothing trained or predicted here yet: fresh samples of the direction
            return Step(expand=Expansion(hypothesis_id=h.id), note=f"fresh samples of {h.id}")
        values = np.array([v for _, v, _ in options])
        visits = np.array([n for _, _, n in options])
        parent = sum(node.trained for node, _, _ in options)
        scores = puct_scores(values, visits, parent, self._scale(options), self.puct)
        node = options[int(np.argmax(scores))][0]
        if not node.trained:
            return Step(evaluate=(EvalRequest(node_id=node.id),), note=f"promote {node.id}")
        other = None
        if rng.random() < self.recombine_p:
            others = [m for m in tree.trained_nodes() if m.id != node.id and not self._blocked(tree, m)]
            if others:
                other = min(others, key=lambda m: tree.metric.sort_key(m.val_score)).id
        return Step(expand=Expansion(hypothesis_id=h.id, parent_id=node.id, other_id=other),
                    note=f"expand {node.id}" + (f" with {other}" if other else ""))

    # -- steering ------------------------------------------------------------------------

    @staticmethod
    def within_limits(tree: RunTree, node: ArchNode) -> bool:
        """A predicted-only node keeps the user's chat limits (set after its check, perhaps):
        parameters, and the costs its check measured (a cost it did not measure is not held)."""
        limit = tree.steering.max_params
        if limit and (node.params or 0) > limit:
            return False
        return node.costs is None or tree.steering.cost_limits().exceeded(node.costs, node.params) is None

    @staticmethod
    def _blocked(tree: RunTree, node: ArchNode) -> bool:
        """Inside a pruned subtree, or outside the focused node's subtree."""
        chain: list[str] = []
        cur: ArchNode | None = node
        while cur is not None:
            chain.append(cur.id)
            cur = tree.nodes.get(cur.parent_id) if cur.parent_id else None
        if tree.steering.pruned & set(chain):
            return True
        focus = tree.steering.focus
        return focus is not None and focus in tree.nodes and focus not in chain

    @staticmethod
    def _allowed_hypotheses(tree: RunTree) -> list[HypothesisNode]:
        s = tree.steering
        hyps = [h for h in tree.hypotheses.values() if h.id not in s.pruned]
        if s.focus is not None:
            target = s.focus if s.focus in tree.hypotheses else (
                tree.nodes[s.focus].hypothesis_id if s.focus in tree.nodes else None)
            hyps = [h for h in hyps if h.id == target] or hyps
        return hyps
