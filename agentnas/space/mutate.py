"""Mutation and recombination of grammar trees: which operator, in what order, and crossover.

The operators themselves are in operators.py (`Mutator`); here is their registry with
their base weights (`mut.*`, steerable like the productions), the weighted random order in
which the proposer tries them (the first that applies is used), and `crossover`.

`crossover` crosses two parents: one-point (A's stem and first blocks, B's last blocks and
head) or a block of B put in place of a block of A; shapes are repaired after.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from agentnas.space.grammar import Arch
from agentnas.space.operators import Mutator
from agentnas.space.segments import blocks, body_from, seg_text, segments
from agentnas.space.weights import Weights

__all__ = ["MUTATION_WEIGHTS", "OPERATORS", "Mutator", "blocks", "crossover", "mutation_order", "segments"]

MUTATION_WEIGHTS: dict[str, float] = {
    "mut.op": 2.0, "mut.width": 1.5, "mut.kernel": 1.0, "mut.dilation": 1.0, "mut.insert": 1.5,
    "mut.remove": 1.0, "mut.residual": 1.0, "mut.branch": 0.5, "mut.gating": 0.7, "mut.act": 0.6,
    "mut.norm": 0.6, "mut.attention": 0.4, "mut.head": 0.5,
}


OPERATORS: dict[str, Callable[[Mutator], tuple[Arch, str] | None]] = {
    "op": Mutator.op, "width": Mutator.width, "kernel": Mutator.kernel, "dilation": Mutator.dilation,
    "insert": Mutator.insert, "remove": Mutator.remove, "residual": Mutator.residual, "branch": Mutator.branch,
    "gating": Mutator.gating, "act": Mutator.act, "norm": Mutator.norm, "attention": Mutator.attention,
    "head": Mutator.head,
}


def mutation_order(rng: np.random.Generator, weights: Weights) -> list[str]:
    """All operators in a random order drawn by weight (the first that applies is used)."""
    names = list(OPERATORS)
    w = np.array([MUTATION_WEIGHTS[f"mut.{n}"] * weights.steering.factor(f"mut.{n}") for n in names])
    order = rng.choice(len(names), size=len(names), replace=False, p=w / w.sum())
    return [names[int(i)] for i in order]


def crossover(a: Arch, b: Arch, rng: np.random.Generator) -> tuple[Arch, str]:
    """A child of two parents (shapes not yet repaired)."""
    ia, ib = blocks(a.body), blocks(b.body)
    sa, sb = segments(a.body), segments(b.body)
    if rng.random() < 0.5 and (len(sa) > 1 or len(sb) > 1):
        i = int(rng.integers(1, len(sa) + 1))
        j = int(rng.integers(0, len(sb)))
        cut_a, cut_b = (sa[i][0] if i < len(sa) else len(ia)), sb[j][0]
        child = Arch(stem=a.stem, body=body_from(ia[:cut_a] + ib[cut_b:]), head=b.head)
        return child, (f"A's stem and first {i} block(s) ({seg_text(ia[:cut_a])}) + B's last {len(sb) - j} "
                       f"block(s) ({seg_text(ib[cut_b:])}) and head")
    i, j = int(rng.integers(len(sa))), int(rng.integers(len(sb)))
    (a0, a1), (b0, b1) = sa[i], sb[j]
    child = Arch(stem=a.stem, body=body_from(ia[:a0] + ib[b0:b1] + ia[a1:]), head=a.head)
    return child, f"A with its block {i + 1} ({seg_text(ia[a0:a1])}) replaced by B's block {j + 1} " \
                  f"({seg_text(ib[b0:b1])})"
