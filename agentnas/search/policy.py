"""Where a run goes next: the selection policy over the run's tree (agentnas.journal.tree).

Two levels: hypothesis nodes (a design direction in words) and architecture nodes (code)
under them; an architecture's children are its mutations, refinements, recombinations.
Nothing here writes: `RunTree.from_journal` re-reads the log, so resume and replay are
re-reading (house habit 5), and `select` is a pure function of the tree and a seeded RNG.

Selection (PUCT at both levels, rewards are validation accuracy in [0, 1]):

    hypothesis h:      Q(h) + c · P(h) · sqrt(N) / (1 + n(h))
        Q(h) = best validation accuracy under h (0 before any result, minus nothing:
               untried hypotheses are reached through the bonus), n(h) = trained nodes
               under h, N = all trained nodes, P(h) = softmax over hypotheses of the value
               model's best predicted mean + β·std under h (uniform while h is empty).
        A new hypothesis is opened while the count of hypotheses < 1 + sqrt(N)
        (progressive widening), before any scoring.
    architecture a in h (trained or predicted-only):
        trained:        acc(a) + c · σ(a) · sqrt(n(h)) / (1 + children(a))
        predicted-only: μ(a) + β · σ(a)     -> promoted: trained without a new expansion
        σ(a) is the value model's std for a; a fresh sample from h (no parent) competes
        with score  Q(h)·0 + c · sqrt(n(h)) / (1 + n(h)) so an empty h starts from scratch.
The selected node is expanded (or promoted); real rewards back up implicitly because Q
and n are recomputed from the journal's experiments after every expansion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from agentnas.journal.tree import ArchNode, HypothesisNode, RunTree


@dataclass(frozen=True)
class Selection:
    kind: Literal["new_hypothesis", "expand", "promote"]
    hypothesis_id: str | None = None
    node_id: str | None = None  # parent to mutate (expand) or node to train (promote); None: fresh sample
    other_id: str | None = None  # second parent for recombination


@dataclass(frozen=True)
class Policy:
    c: float = 1.0
    beta: float = 1.0
    recombine_p: float = 0.2

    def select(self, tree: RunTree, rng: np.random.Generator) -> Selection:
        n_total = len(tree.trained_nodes())
        live = self._allowed_hypotheses(tree)
        queued = [h for h in live if h.priority > 0 and not h.nodes]
        if queued:  # a steering hypothesis waits for its first expansion
            return Selection("expand", hypothesis_id=min(queued, key=lambda h: h.id).id)
        if tree.steering.focus is None and (not live or len(tree.hypotheses) < 1 + math.sqrt(n_total)):
            return Selection("new_hypothesis")
        h = self._hypothesis(tree, live, n_total)
        return self._architecture(tree, h, rng)

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

    def _hypothesis(self, tree: RunTree, live: list[HypothesisNode], n_total: int) -> HypothesisNode:
        hyps = sorted(live, key=lambda h: h.id)
        opt = np.array([max((self._optimism(tree.nodes[i]) for i in h.nodes), default=0.0) for h in hyps])
        prior = np.exp((opt - opt.max()) * 20.0) if len(opt) else opt
        prior = prior / prior.sum() if prior.sum() > 0 else np.full(len(hyps), 1 / len(hyps))
        best = max(range(len(hyps)), key=lambda i: self._q(tree, hyps[i]) + self.c * prior[i] * math.sqrt(
            n_total + 1) / (1 + sum(tree.nodes[j].trained for j in hyps[i].nodes)))
        return hyps[best]

    def _optimism(self, node: ArchNode) -> float:
        if node.trained:
            return node.val_accuracy or 0.0
        if node.mean is None:
            return 0.0
        return node.mean + self.beta * (node.std or 0.0)

    @staticmethod
    def _q(tree: RunTree, h: HypothesisNode) -> float:
        return max((tree.nodes[i].val_accuracy or 0.0 for i in h.nodes if tree.nodes[i].trained), default=0.0)

    def _architecture(self, tree: RunTree, h: HypothesisNode, rng: np.random.Generator) -> Selection:
        nodes = [tree.nodes[i] for i in h.nodes if not self._blocked(tree, tree.nodes[i])]
        n_h = sum(n.trained for n in nodes)
        options: list[tuple[float, Selection]] = [
            (self.c * math.sqrt(n_h + 1) / (1 + n_h) * 0.5, Selection("expand", hypothesis_id=h.id))]
        for n in nodes:
            if n.trained:
                bonus = self.c * (n.std if n.std is not None else 0.05) * math.sqrt(n_h + 1) / (1 + len(n.children))
                options.append(((n.val_accuracy or 0.0) + bonus, Selection("expand", h.id, node_id=n.id)))
            elif n.predicted_only and n.mean is not None and not (
                    tree.steering.max_params and (n.params or 0) > tree.steering.max_params):
                options.append((n.mean + self.beta * (n.std or 0.0), Selection("promote", h.id, node_id=n.id)))
        if tree.steering.focus in tree.nodes and len(options) > 1:
            options = options[1:]  # focused on a node: expand inside its subtree, not from scratch
        _, choice = max(options, key=lambda o: o[0])
        if choice.kind == "expand" and choice.node_id is not None and rng.random() < self.recombine_p:
            others = [m for m in tree.trained_nodes() if m.id != choice.node_id and not self._blocked(tree, m)]
            if others:
                other = max(others, key=lambda m: m.val_accuracy or 0.0)
                return Selection("expand", h.id, node_id=choice.node_id, other_id=other.id)
        return choice
