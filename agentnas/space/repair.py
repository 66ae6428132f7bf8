"""Shape repair for grammar trees: `repair` turns any tree into a valid one for the input
shape with the smallest edits (groups and heads to divisors, rank-invalid ops swapped or
dropped, mismatched branches projected, strides of disagreeing parallel paths dropped), so
mutations and crossover can be careless and still yield buildable code. The shape rules
are agentnas.space.shapes'."""

from __future__ import annotations

import math

from agentnas.space.causal import causal_arch, is_token_arch
from agentnas.space.grammar import (
    GLU,
    Arch,
    Attention,
    Branch,
    Conv,
    Identity,
    Linear,
    Node,
    Norm,
    Pool,
    Recur,
    Recurrent,
    Residual,
    Seq,
    Shuffle,
    Split,
    canonical,
    kids,
    with_kids,
)
from agentnas.space.shapes import (
    Shape,
    _Counter,
    _infer,
    _largest_divisor_at_most,
    _leaf,
    _stem,
    input_to_shape,
    split_sizes,
    stride_of,
)


def unstride(node: Node) -> Node:
    """The tree with every stride set to 1 (used where parallel paths disagree on size)."""
    if isinstance(node, Conv | Pool) and node.stride != 1:
        return node.model_copy(update={"stride": 1})
    children = kids(node)
    return with_kids(node, tuple(unstride(ch) for ch in children)) if children else node


def _fix_leaf(node: Node, x: Shape) -> Node:
    C, r = x.channels, x.rank
    if isinstance(node, Conv):
        if r == 0:
            return Linear(out=node.out)
        if node.depthwise:
            return node if node.out is None else node.model_copy(update={"out": None})
        out = node.out or C
        g = math.gcd(node.groups, math.gcd(C, out))
        return node if g == node.groups else node.model_copy(update={"groups": g})
    if isinstance(node, Pool | Attention | Recurrent) and r == 0 or isinstance(node, Recur) and r != 1:
        return Identity()
    if isinstance(node, Recurrent) and node.bidirectional and C % 2:
        return node.model_copy(update={"bidirectional": False})
    if isinstance(node, Attention) and C % node.heads:
        return node.model_copy(update={"heads": _largest_divisor_at_most(C, node.heads)})
    if isinstance(node, GLU) and r == 0 and node.kernel != 1:
        return node.model_copy(update={"kernel": 1})
    if isinstance(node, Norm) and node.kind == "group" and C % node.groups:
        return node.model_copy(update={"groups": math.gcd(C, node.groups)})
    if isinstance(node, Shuffle) and C % node.groups:
        g = math.gcd(C, node.groups)
        return Identity() if g < 2 else Shuffle(groups=g)
    return node


def _fix(node: Node, x: Shape) -> tuple[Node, Shape]:
    probe = _Counter(False)
    if isinstance(node, Seq):
        children, y = [], x
        for child in node.children:
            fixed, y = _fix(child, y)
            children.append(fixed)
        return Seq(children=tuple(children)), y
    if isinstance(node, Residual):
        body, _ = _fix(node.body, x)
        return Residual(body=body), _infer(body, x, (), probe)
    if isinstance(node, Branch):
        branches = node.branches
        if len({stride_of(b) for b in branches}) > 1:
            branches = tuple(unstride(b) for b in branches)
        pairs = [_fix(b, x) for b in branches]
        if node.merge == "add":
            target = pairs[0][1].channels
            pairs = [(b, y) if y.channels == target else
                     (Seq(children=(b, Linear(out=target))), Shape(target, y.spatial)) for b, y in pairs]
        fixed = Branch(merge=node.merge, branches=tuple(b for b, _ in pairs))
        return fixed, _infer(fixed, x, (), probe)
    if isinstance(node, Split):
        parts = node.parts[: max(1, min(len(node.parts), x.channels))]
        if len(parts) == 1:
            return _fix(parts[0], x)
        if len({stride_of(p) for p in parts}) > 1:
            parts = tuple(unstride(p) for p in parts)
        pairs = [_fix(p, Shape(s, x.spatial)) for p, s in zip(parts, split_sizes(x.channels, len(parts)), strict=True)]
        fixed_split = Split(parts=tuple(p for p, _ in pairs))
        return fixed_split, _infer(fixed_split, x, (), probe)
    leaf = _fix_leaf(node, x)
    return leaf, _leaf(leaf, x, (), probe)


def repair(arch: Arch, input_shape: tuple[int, ...]) -> Arch:
    """A valid, canonical version of `arch` for `input_shape` (unchanged if already valid)."""
    x = input_to_shape(input_shape)
    if is_token_arch(arch) and x.rank == 0:
        arch = causal_arch(arch)
    stem = arch.stem
    if x.rank == 0 and stem.kind == "conv":
        stem = stem.model_copy(update={"kind": "signal"})
    elif x.rank > 0 and stem.kind != "conv":
        stem = stem.model_copy(update={"kind": "conv"})
    if stem.kind != "embed" and arch.head.pool == "token":  # only a token model keeps a logit per position
        arch = arch.model_copy(update={"head": arch.head.model_copy(update={"pool": "avg"})})
    body_in = _stem(stem, x, _Counter(False))
    body, y = _fix(canonical(arch.body), body_in)
    body = canonical(body)
    head = arch.head
    if y.rank == 0 and head.pool != "flatten":
        head = head.model_copy(update={"pool": "flatten"})
    return Arch(version=arch.version, stem=stem, body=body, head=head)
