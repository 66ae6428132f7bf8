"""Shape inference, parameter and MAC counts, and shape repair for grammar trees.

A feature shape is (channels, spatial sizes): rank 0 for flat vectors, 1 for signals
(C, L), 2 for images (C, H, W). Every spatial rule is one formula: an op with stride s
maps a size n to ceil(n / s) (odd kernels, 'same' padding), so a residual's skip path
is projected with a 1x1 convolution of the body's total stride, and a flatten head
knows its input size from the input shape alone.

`analyse` checks a tree against an input shape and counts parameters exactly as torch
will (tests compare with the rendered module) and multiply-accumulates approximately
(convolutions, linear layers, attention, recurrences; the cost that decides training time).
`agentnas.space.repair` makes any tree valid for an input shape with these rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agentnas.space.grammar import (
    GLU,
    SE,
    Act,
    Arch,
    Attention,
    Branch,
    Conv,
    Head,
    Identity,
    Linear,
    Node,
    Norm,
    Path,
    Pool,
    Recur,
    Recurrent,
    Residual,
    Seq,
    Shuffle,
    Split,
    Stem,
    count_leaves,
    depth,
    kids,
)


@dataclass(frozen=True)
class Shape:
    channels: int
    spatial: tuple[int, ...] = ()

    @property
    def rank(self) -> int:
        return len(self.spatial)

    def __str__(self) -> str:
        return "(" + ", ".join(str(d) for d in (self.channels, *self.spatial)) + ")"


class ShapeError(ValueError):
    """The tree is not valid for the input shape; `path` locates the offending body node."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"at body{list(path)}: {message}")
        self.path = path


@dataclass
class ArchStats:
    params: int
    macs: int
    features: Shape  # the body's output, before the head
    depth: int
    leaves: int
    shapes: dict[Path, tuple[Shape, Shape]] = field(default_factory=dict)  # body path -> (in, out)


def input_to_shape(input_shape: tuple[int, ...]) -> Shape:
    if not 1 <= len(input_shape) <= 3 or any(int(d) < 1 for d in input_shape):
        raise ValueError(f"input shape must be (D,), (C, L) or (C, H, W) with positive sizes, got {input_shape}")
    if len(input_shape) == 1:
        return Shape(int(input_shape[0]))
    return Shape(int(input_shape[0]), tuple(int(d) for d in input_shape[1:]))


def down(spatial: tuple[int, ...], stride: int) -> tuple[int, ...]:
    return tuple(-(-n // stride) for n in spatial)


def stride_of(node: Node) -> int:
    """The total downsampling factor of a sub-tree (parallel paths agree in a valid tree)."""
    if isinstance(node, Conv | Pool):
        return node.stride
    if isinstance(node, Seq):
        return math.prod(stride_of(c) for c in node.children)
    return max((stride_of(c) for c in kids(node)), default=1)


def split_sizes(channels: int, parts: int) -> list[int]:
    """Channel counts of a split into `parts` groups, as even as possible."""
    return [channels // parts + (1 if i < channels % parts else 0) for i in range(parts)]


def needs_projection(node: Residual, x: Shape, y: Shape) -> bool:
    """Whether a residual's skip path needs a projection to match the body's output."""
    return y.channels != x.channels or stride_of(node.body) != 1


def se_hidden(channels: int, reduction: int) -> int:
    return max(1, channels // reduction)


def stem_groups(channels: int) -> int:
    """Group count of a group-norm stem (the stem has no groups field)."""
    return math.gcd(channels, 8)


def _largest_divisor_at_most(n: int, k: int) -> int:
    return max(d for d in range(1, min(n, k) + 1) if n % d == 0)


class _Counter:
    def __init__(self, record: bool) -> None:
        self.params = 0
        self.macs = 0
        self.record = record
        self.shapes: dict[Path, tuple[Shape, Shape]] = {}

    def add(self, params: int, macs: int) -> None:
        self.params += params
        self.macs += macs


def _leaf(node: Node, x: Shape, path: Path, c: _Counter) -> Shape:
    C, sp, r = x.channels, x.spatial, x.rank
    n = math.prod(sp)
    if isinstance(node, Conv):
        if r == 0:
            raise ShapeError(path, "a convolution needs a spatial input (use linear on vectors)")
        if node.depthwise:
            if node.out is not None and node.out != C:
                raise ShapeError(path, f"a depthwise convolution keeps {C} channels, not {node.out}")
            out, groups = C, C
        else:
            out, groups = node.out or C, node.groups
            if C % groups or out % groups:
                raise ShapeError(path, f"groups={groups} must divide in ({C}) and out ({out}) channels")
        y = Shape(out, down(sp, node.stride))
        taps = node.kernel**r
        c.add(out * (C // groups) * taps + out, out * math.prod(y.spatial) * (C // groups) * taps)
        return y
    if isinstance(node, Linear):
        out = node.out or C
        c.add(C * out + out, C * out * n)
        return Shape(out, sp)
    if isinstance(node, Norm):
        if node.kind == "group" and C % node.groups:
            raise ShapeError(path, f"group norm with {node.groups} groups does not divide {C} channels")
        c.add(2 * C, 0)
        return x
    if isinstance(node, Act | Identity):
        return x
    if isinstance(node, Pool):
        if r == 0:
            raise ShapeError(path, "pooling needs a spatial input")
        return Shape(C, down(sp, node.stride))
    if isinstance(node, Attention):
        if r == 0:
            raise ShapeError(path, "attention needs positions to attend over")
        if C % node.heads:
            raise ShapeError(path, f"{node.heads} heads do not divide {C} channels")
        c.add(4 * C * C + 4 * C, 4 * C * C * n + 2 * n * n * C)
        return x
    if isinstance(node, SE):
        h = se_hidden(C, node.reduction)
        c.add(2 * C * h + h + C, 2 * C * h)
        return x
    if isinstance(node, GLU):
        if r == 0 and node.kernel != 1:
            raise ShapeError(path, "a gated unit on vectors has kernel 1")
        out = node.out or C
        taps = node.kernel**r
        c.add(2 * out * C * taps + 2 * out, 2 * out * C * taps * n)
        return Shape(out, sp)
    if isinstance(node, Shuffle):
        if C % node.groups:
            raise ShapeError(path, f"shuffle groups={node.groups} must divide {C} channels")
        return x
    if isinstance(node, Recurrent):
        if r == 0:
            raise ShapeError(path, "a recurrent layer needs positions to read in order")
        if node.bidirectional and C % 2:
            raise ShapeError(path, f"a bidirectional recurrent layer splits {C} channels in two halves")
        h, dirs, gates = node.hidden(C), 1 + node.bidirectional, 3 if node.cell == "gru" else 4
        # torch keeps two bias vectors per gate (input and hidden)
        c.add(dirs * gates * (h * C + h * h + 2 * h), n * dirs * gates * h * (C + h))
        return x
    if isinstance(node, Recur):
        if r != 1:
            raise ShapeError(path, "a recurrence runs over a (C, L) sequence")
        h = node.out or C
        c.add(3 * h * (C + h) + 6 * h, 3 * h * (C + h) * n)
        return Shape(h, sp)
    raise ShapeError(path, f"unknown op {node.op!r}")


def _infer(node: Node, x: Shape, path: Path, c: _Counter) -> Shape:
    if isinstance(node, Seq):
        y = x
        for i, child in enumerate(node.children):
            y = _infer(child, y, (*path, i), c)
    elif isinstance(node, Branch):
        if len({stride_of(b) for b in node.branches}) > 1:
            raise ShapeError(path, "parallel branches must downsample alike")
        outs = [_infer(b, x, (*path, i), c) for i, b in enumerate(node.branches)]
        if node.merge == "add":
            if len(set(outs)) > 1:
                raise ShapeError(path, f"added branches must match: {', '.join(map(str, outs))}")
            y = outs[0]
        else:
            y = Shape(sum(o.channels for o in outs), outs[0].spatial)
    elif isinstance(node, Split):
        if len({stride_of(p) for p in node.parts}) > 1:
            raise ShapeError(path, "split parts must downsample alike")
        if x.channels < len(node.parts):
            raise ShapeError(path, f"cannot split {x.channels} channels into {len(node.parts)} parts")
        outs = [_infer(p, Shape(size, x.spatial), (*path, i), c)
                for i, (p, size) in enumerate(zip(node.parts, split_sizes(x.channels, len(node.parts)), strict=True))]
        y = Shape(sum(o.channels for o in outs), outs[0].spatial)
    elif isinstance(node, Residual):
        y = _infer(node.body, x, (*path, 0), c)
        if needs_projection(node, x, y):  # a 1x1 convolution of the body's stride (a linear layer on vectors)
            taps_out = math.prod(y.spatial)
            c.add(x.channels * y.channels + y.channels, x.channels * y.channels * taps_out)
    else:
        y = _leaf(node, x, path, c)
    if c.record:
        c.shapes[path] = (x, y)
    return y


def infer(node: Node, x: Shape) -> Shape:
    """The output shape of a sub-tree reading x; raises ShapeError if it is invalid there."""
    return _infer(node, x, (), _Counter(False))


def _stem(stem: Stem, x: Shape, c: _Counter, vocab: int = 0) -> Shape:
    if stem.kind == "embed":  # tokens (T,): a vector per token of the vocabulary and per position
        if x.rank != 0:
            raise ShapeError((), "an embedding stem reads token sequences (T,)")
        c.add((vocab + x.channels) * stem.out, 0)
        y = Shape(stem.out, (x.channels,))
    elif stem.kind == "dense":
        if x.rank != 0:
            raise ShapeError((), "a dense stem is for flat vector inputs")
        c.add(x.channels * stem.out + stem.out, x.channels * stem.out)
        y = Shape(stem.out)
    else:
        if stem.kind == "signal":
            if x.rank != 0:
                raise ShapeError((), "a signal stem is for flat vector inputs")
            x = Shape(1, (x.channels,))
        elif x.rank == 0:
            raise ShapeError((), "a conv stem needs a (C, L) or (C, H, W) input")
        y = Shape(stem.out, down(x.spatial, stem.stride))
        taps = stem.kernel**x.rank
        c.add(stem.out * x.channels * taps + stem.out, stem.out * x.channels * taps * math.prod(y.spatial))
    if stem.norm is not None:
        c.add(2 * stem.out, 0)
    return y


def head_features(head: Head, x: Shape) -> int:
    if x.rank == 0 or head.pool == "token":
        return x.channels
    if head.pool == "flatten":
        return x.channels * math.prod(x.spatial)
    return 2 * x.channels if head.pool == "avgmax" else x.channels


def analyse(arch: Arch, input_shape: tuple[int, ...], num_classes: int, *, shapes: bool = False) -> ArchStats:
    """Check the architecture against the input shape and count its cost; raise ShapeError if invalid."""
    c = _Counter(shapes)
    x = _stem(arch.stem, input_to_shape(input_shape), c, num_classes)
    y = _infer(arch.body, x, (), c)
    if y.rank == 0 and arch.head.pool != "flatten":
        raise ShapeError((), "a vector body needs the flatten head (there is nothing to pool)")
    if (arch.head.pool == "token") != (arch.stem.kind == "embed"):
        raise ShapeError((), "a token model has an embedding stem and a per-position head, and only it")
    f = head_features(arch.head, y)
    positions = math.prod(y.spatial) if arch.head.pool == "token" else 1  # the head runs at every position
    if arch.head.hidden:
        h = arch.head.hidden
        c.add(f * h + h + h * num_classes + num_classes, positions * (f * h + h * num_classes))
    else:
        c.add(f * num_classes + num_classes, positions * f * num_classes)
    return ArchStats(params=c.params, macs=c.macs, features=y, depth=depth(arch.body),
                     leaves=count_leaves(arch.body), shapes=c.shapes)


def body_input(arch: Arch, input_shape: tuple[int, ...]) -> Shape:
    """The shape the body receives (the stem's output)."""
    return _stem(arch.stem, input_to_shape(input_shape), _Counter(False))
