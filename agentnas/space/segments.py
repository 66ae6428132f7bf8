"""A body read as a list of *segments*: a structural node or computation followed by the
norms and activations that belong to it, which is what "block 3" means in a description
of a mutation or a recombination.
"""

from __future__ import annotations

from agentnas.space.describe import describe
from agentnas.space.grammar import SE, Act, Linear, Node, Norm, Seq, Shuffle

_LIGHT = (Norm, Act, Shuffle, SE)  # belong to the segment before them


def blocks(body: Node) -> list[Node]:
    return list(body.children) if isinstance(body, Seq) else [body]


def segments(body: Node) -> list[tuple[int, int]]:
    """[start, end) ranges of the body's top-level children, one per block."""
    items = blocks(body)
    cuts = [i for i, n in enumerate(items) if i == 0 or not isinstance(n, _LIGHT)]
    return [(a, b) for a, b in zip(cuts, [*cuts[1:], len(items)], strict=True)]


def seg_text(items: list[Node]) -> str:
    return describe(Seq(children=tuple(items))) if len(items) > 1 else describe(items[0])


def body_from(items: list[Node]) -> Node:
    return Seq(children=tuple(items)) if items else Linear()

