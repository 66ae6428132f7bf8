"""Sampling architectures from the grammar with a seeded numpy Generator.

The productions, top-down (each choice weighted by `BASE_WEIGHTS` times the steering
factors of the hypothesis text, see steering.py):

    arch    → stem · body · head
    body    → stage+                       (1–4 stages; `depth` shifts the count)
    stage   → [downsample] block+          (1–3 blocks; stride-2 conv, pooling, or none)
    block   → residual(cell) | cell | branch(cell, cell[, cell]) | split(cell, cell[, ...]) [shuffle]
            | attention block | mlp block | cell · se | residual(cell · se)
    cell    → unit+ (1–3), where a unit may itself nest a block (einspace's recursion,
              bounded by the depth limit)
    unit    → conv · norm · act | depthwise conv · norm · point-wise · act | glu · norm
            | pool (stride 1) | point-wise · act        (pre-activation order per network)

Every choice reads the current feature shape, so samples are valid by construction
(`shapes.repair` is still applied, as a safety net). Per network one activation, one
norm kind and one unit order are drawn (with occasional per-unit deviations), which is
how people design networks and keeps samples out of the least useful corners.
`SamplerConfig` bounds the trees (depth, leaves, widths) and the budget (parameters and
multiply-adds): an oversized sample is shrunk (all widths scaled down) before it is
rejected and drawn again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from agentnas.space.grammar import (
    ACTS,
    GLU,
    NORMS,
    SE,
    Act,
    ActKind,
    Arch,
    Attention,
    Branch,
    Conv,
    Head,
    HeadPool,
    Identity,
    Linear,
    Node,
    Norm,
    NormKind,
    Pool,
    Residual,
    Seq,
    Shuffle,
    Split,
    Stem,
    canonical,
    count_leaves,
    depth,
    kids,
    with_kids,
)
from agentnas.space.shapes import Shape, analyse, body_input, infer, input_to_shape, repair, split_sizes
from agentnas.space.steering import Steering

BASE_WEIGHTS: dict[str, float] = {
    # block productions
    "block.residual": 4.0, "block.plain": 2.0, "block.branch": 0.8, "block.split": 0.4,
    "block.attention": 0.5, "block.mlp": 0.5, "block.gated": 0.6,
    # unit productions
    "unit.conv": 5.0, "unit.dwsep": 1.0, "unit.glu": 0.5, "unit.pool": 0.3, "unit.linear": 0.5,
    # convolution details (weights of "yes" against 1.0 for "no")
    "conv.dilated": 0.35, "conv.grouped": 0.1, "kernel.large": 1.0, "stage.dilation_schedule": 0.15,
    # norms and activations
    "norm.none": 0.6, "norm.batch": 4.0, "norm.layer": 0.8, "norm.group": 0.8,
    "act.relu": 4.0, "act.gelu": 1.5, "act.silu": 1.5, "act.tanh": 0.3,
    "order.post": 3.0, "order.pre": 1.5,
    # branching merges, downsampling, head
    "merge.add": 1.5, "merge.concat": 1.0,
    "down.conv": 2.0, "down.pool": 1.0, "down.none": 1.0,
    "head.avg": 4.0, "head.max": 1.0, "head.avgmax": 1.5, "head.flatten": 1.0, "head.hidden": 0.25,
    # vector inputs: read the vector as a 1-channel signal (then convolutions apply)
    "stem.signal": 0.5, "stem.dense": 1.0,
    # scalar shifts
    "width": 1.0, "depth": 1.0,
}
DILATIONS = (2, 4, 8)


@dataclass(frozen=True)
class SamplerConfig:
    """Bounds on sampled trees. Budgets of None are unbounded."""

    max_params: int | None = None
    max_macs: int | None = None
    max_depth: int = 8          # nesting of the body tree
    max_leaves: int = 96        # leaf ops in the body
    max_stages: int = 4
    max_blocks: int = 3         # per stage
    widths: tuple[int, ...] = (16, 24, 32, 48, 64, 96)
    min_width: int = 8
    max_width: int = 256
    tries: int = 50             # draws before giving up on a budget


class Weights:
    """Production weights: the base table times the steering factors."""

    def __init__(self, steering: Steering | None = None, base: dict[str, float] | None = None) -> None:
        self.steering = steering or Steering()
        self.table = {k: v * self.steering.factor(k) for k, v in (base or BASE_WEIGHTS).items()}

    def __getitem__(self, key: str) -> float:
        return self.table.get(key, self.steering.factor(key))

    def pick(self, rng: np.random.Generator, prefix: str, options: Sequence[str]) -> str:
        w = np.array([self[f"{prefix}.{o}"] for o in options], dtype=float)
        return str(options[int(rng.choice(len(options), p=w / w.sum()))])

    def chance(self, rng: np.random.Generator, key: str) -> bool:
        """True with odds weight : 1 (a weight of 1 is a fair coin)."""
        w = self[key]
        return bool(rng.random() < w / (w + 1.0))


def round_width(w: float, lo: int = 8, hi: int = 256) -> int:
    return int(min(hi, max(lo, 8 * round(w / 8))))


class Draw:
    """One network's draw: the RNG, the weights, the bounds and the network-wide style."""

    def __init__(self, rng: np.random.Generator, weights: Weights, cfg: SamplerConfig, rank: int) -> None:
        self.rng, self.w, self.cfg, self.rank = rng, weights, cfg, rank
        self.act = cast(ActKind, weights.pick(rng, "act", ACTS))
        self.norm: str = weights.pick(rng, "norm", (*NORMS, "none"))
        self.order = weights.pick(rng, "order", ("post", "pre"))

    # small choices ---------------------------------------------------------------
    def int_choice(self, options: Sequence[int], weights: Sequence[float] | None = None) -> int:
        p = np.array(weights if weights is not None else [1.0] * len(options), dtype=float)
        return int(options[int(self.rng.choice(len(options), p=p / p.sum()))])

    def kernel(self, x: Shape | None = None) -> int:
        big = self.w["kernel.large"]
        # On images a k x k kernel costs k^2 taps: large ones are rarer there, and none wider than the map.
        weights = (4.0, 2.0 * big, 1.0 * big, 0.5 * big) if self.rank < 2 else (4.0, 1.0 * big, 0.3 * big, 0.0)
        limit = 2 * min(x.spatial) + 1 if x is not None and x.spatial else 99
        ks = [k for k in (3, 5, 7, 9) if k <= limit]
        return self.int_choice(ks, weights[: len(ks)])

    def dilation(self, kernel: int, x: Shape) -> int:
        if kernel == 1 or not self.w.chance(self.rng, "conv.dilated"):
            return 1
        ok = [d for d in DILATIONS if d * (kernel - 1) + 1 <= max(x.spatial, default=1)]
        return self.int_choice(ok) if ok else 1

    def act_node(self) -> Act:
        kind = self.act if self.rng.random() < 0.9 else self.w.pick(self.rng, "act", ACTS)
        return Act(kind=cast(ActKind, kind))

    def norm_nodes(self, x: Shape) -> list[Node]:
        kind = self.norm if self.rng.random() < 0.9 else self.w.pick(self.rng, "norm", NORMS)
        if kind == "none":
            return []
        return [Norm(kind=cast(NormKind, kind), groups=math.gcd(x.channels, 8) if kind == "group" else 8)]

    # units and cells ----------------------------------------------------------------
    def fit_dilation(self, kernel: int, d: int, x: Shape) -> int:
        """A forced dilation, halved until the kernel's span fits the positions."""
        while d > 1 and d * (kernel - 1) + 1 > max(x.spatial, default=1):
            d //= 2
        return d

    def unit_kinds(self) -> tuple[str, ...]:
        return ("conv", "dwsep", "glu", "pool", "linear") if self.rank else ("linear", "glu")

    def core(self, x: Shape, kind: str, out: int | None = None, dilation: int | None = None) -> list[Node]:
        """The computation of a unit without its norm and activation."""
        if kind == "pool" and out is not None and out != x.channels:
            kind = "conv"
        if kind == "conv":
            k = self.kernel(x)
            d = self.fit_dilation(k, dilation, x) if dilation is not None else self.dilation(k, x)
            groups = 1
            if self.w.chance(self.rng, "conv.grouped"):
                groups = math.gcd(math.gcd(x.channels, out or x.channels), self.int_choice((2, 4, 8)))
            return [Conv(out=out, kernel=k, dilation=d, groups=groups)]
        if kind == "dwsep":
            k = self.kernel(x)
            d = self.fit_dilation(k, dilation, x) if dilation is not None else self.dilation(k, x)
            return [Conv(depthwise=True, kernel=k, dilation=d), *self.norm_nodes(x), Linear(out=out)]
        if kind == "glu":
            return [GLU(out=out, kernel=self.int_choice((1, 3, 5), (2.0, 2.0, 1.0)) if self.rank else 1)]
        if kind == "pool":
            return [Pool(kind="max" if self.rng.random() < 0.5 else "avg", kernel=3, stride=1)]
        return [Linear(out=out)]

    def unit(self, x: Shape, out: int | None = None, dilation: int | None = None) -> list[Node]:
        """One computation unit reading x, with norm and activation; `out` forces its output channels."""
        kind = self.w.pick(self.rng, "unit", self.unit_kinds())
        if kind == "pool" and out is not None and out != x.channels:
            kind = "conv"
        core = self.core(x, kind, out, dilation)
        if kind == "pool":
            return core
        y = Shape(out or x.channels, x.spatial)
        if self.order == "pre":
            return [*self.norm_nodes(x), self.act_node(), *core]
        tail: list[Node] = [] if kind == "glu" else [self.act_node()]
        return [*core, *self.norm_nodes(y), *tail]

    def cell(self, x: Shape, level: int, out: int | None = None, n: int | None = None,
             dilation: int | None = None) -> Node:
        """A short sequence of units (the first one sets `out` channels); may nest a block."""
        n = n or self.int_choice((1, 2, 3), (2.0, 3.0, 1.0))
        nodes: list[Node] = []
        for i in range(n):
            o = out if i == 0 else None
            nest = level + 2 < self.cfg.max_depth and o is None and self.rng.random() < 0.08 / (1 + level)
            if nest:
                nodes.append(self.block(Shape(out or x.channels, x.spatial), level + 1))
            else:
                nodes.extend(self.unit(x if i == 0 else Shape(out or x.channels, x.spatial), o, dilation))
        return Seq(children=tuple(nodes))

    # blocks ---------------------------------------------------------------------------
    def block_kinds(self, x: Shape) -> list[str]:
        kinds = ["residual", "plain", "branch", "split", "gated", "mlp"]
        if self.rank and x.channels >= 8:
            kinds.append("attention")
        if x.channels < 4:
            kinds.remove("split")
        return kinds

    def block(self, x: Shape, level: int = 0, dilation: int | None = None, kind: str | None = None) -> Node:
        """A channel- and size-preserving block reading x (of the given kind, else drawn)."""
        kind = kind or self.w.pick(self.rng, "block", self.block_kinds(x))
        if kind == "residual":
            body = self.cell(x, level + 1, n=self.int_choice((1, 2, 3), (1.0, 4.0, 1.0)), dilation=dilation)
            if self.order == "post" and isinstance(body, Seq) and isinstance(body.children[-1], Act):
                # ResNet v1: the last activation moves after the addition
                return Seq(children=(Residual(body=Seq(children=body.children[:-1])), body.children[-1]))
            return Residual(body=body)
        if kind == "plain":
            return self.cell(x, level + 1, dilation=dilation)
        if kind == "gated":
            inner = Seq(children=(self.cell(x, level + 1, dilation=dilation),
                                  SE(reduction=self.int_choice((2, 4, 8), (1.0, 2.0, 1.0)))))
            return Residual(body=inner) if self.w.chance(self.rng, "block.residual") else inner
        if kind == "mlp":
            e = self.int_choice((2, 4))
            hidden = round_width(x.channels * e, 4, self.cfg.max_width * 4)
            norm = self.norm_nodes(x)
            return Residual(body=Seq(children=(*norm, Linear(out=hidden), self.act_node(), Linear(out=x.channels))))
        if kind == "attention":
            heads = max(h for h in (1, 2, 4, 8) if x.channels % h == 0 and x.channels // h >= 4)
            kind_norm = cast(NormKind, "layer" if self.norm in ("layer", "none") else self.norm)
            attn = Residual(body=Seq(children=(Norm(kind=kind_norm, groups=math.gcd(x.channels, 8)),
                                               Attention(heads=heads))))
            if self.rng.random() < 0.5:
                return attn
            e = self.int_choice((2, 4))
            mlp = Residual(body=Seq(children=(Norm(kind=kind_norm, groups=math.gcd(x.channels, 8)),
                                              Linear(out=x.channels * e), self.act_node(), Linear(out=x.channels))))
            return Seq(children=(attn, mlp))
        if kind == "branch":
            n = self.int_choice((2, 3), (3.0, 1.0))
            merge = self.w.pick(self.rng, "merge", ("add", "concat"))
            if merge == "concat" and x.channels >= 2 * n:
                sizes = split_sizes(x.channels, n)
                branches = [self.cell(x, level + 1, out=s) for s in sizes]
                return Branch(merge="concat", branches=tuple(branches))
            branches = [self.cell(x, level + 1) for _ in range(n)]
            if self.rng.random() < 0.3:
                branches[-1] = Identity()
            return Branch(merge="add", branches=tuple(branches))
        # split: channels routed into groups, one cell each, optionally shuffled back together
        n = self.int_choice((2, 4), (3.0, 1.0)) if x.channels >= 8 else 2
        parts = [self.cell(Shape(s, x.spatial), level + 1) for s in split_sizes(x.channels, n)]
        nodes: list[Node] = [Split(parts=tuple(parts))]
        if x.channels % n == 0 and self.rng.random() < 0.5:
            nodes.append(Shuffle(groups=n))
        return Seq(children=tuple(nodes))

    def downsample(self, x: Shape, out: int) -> list[Node]:
        kind = self.w.pick(self.rng, "down", ("conv", "pool", "none"))
        if kind == "conv":
            core: list[Node] = [Conv(out=out, kernel=3, stride=2)]
            return [*core, *self.norm_nodes(Shape(out, x.spatial)), self.act_node()]
        nodes: list[Node] = []
        if kind == "pool":
            nodes.append(Pool(kind="max" if self.rng.random() < 0.6 else "avg", kernel=3, stride=2))
        if out != x.channels:
            nodes.append(Linear(out=out) if self.rng.random() < 0.5 else Conv(out=out, kernel=3))
        return nodes


def _stem(d: Draw, x: Shape, width: int) -> Stem:
    norm = None if d.norm == "none" else cast(NormKind, d.norm)
    if x.rank == 0:
        kind = d.w.pick(d.rng, "stem", ("signal", "dense")) if x.channels >= 8 else "dense"
        if kind == "dense":
            return Stem(kind="dense", out=width, kernel=1, norm=norm, act=d.act)
        return Stem(kind="signal", out=width, kernel=d.int_choice((3, 5, 7)), norm=norm, act=d.act)
    stride = 2 if min(x.spatial) >= 32 and d.rng.random() < 0.2 else 1
    return Stem(kind="conv", out=width, kernel=d.int_choice((3, 5, 7), (3.0, 2.0, 1.0)), stride=stride,
                norm=norm, act=d.act)


def _head(d: Draw, y: Shape) -> Head:
    pools: tuple[HeadPool, ...] = ("avg", "max", "avgmax", "flatten")
    if y.rank and y.channels * math.prod(y.spatial) > 2048:
        pools = pools[:3]
    pool = cast(HeadPool, "flatten" if y.rank == 0 else d.w.pick(d.rng, "head", pools))
    hidden = d.int_choice((32, 64, 128)) if d.w.chance(d.rng, "head.hidden") else None
    return Head(pool=pool, hidden=hidden, act=d.act)


def draw(input_shape: tuple[int, ...], rng: np.random.Generator, weights: Weights,
         cfg: SamplerConfig) -> Arch:
    """One unconstrained draw from the grammar (valid for the input shape, budget not checked)."""
    x0 = input_to_shape(input_shape)
    d = Draw(rng, weights, cfg, x0.rank)
    scale = weights["width"]
    n = len(cfg.widths)
    # Peaked just below the middle of the list, the widest rarest: (16..96) -> 1, 2, 3, 2, 1, 0.5
    prior = [1.0 + min(i, n - 2 - i) if i < n - 1 else 0.5 for i in range(n)]
    width = round_width(d.int_choice(cfg.widths, prior) * scale, cfg.min_width, cfg.max_width)
    stem = _stem(d, x0, width)
    d.rank = 0 if stem.kind == "dense" else 1 if stem.kind == "signal" else x0.rank
    x = x0_body = body_input(Arch(stem=stem), input_shape)
    dz = weights["depth"]
    n_stages = d.int_choice(range(1, cfg.max_stages + 1), [2.0 * dz**i * (0.6**i) for i in range(cfg.max_stages)])
    stages: list[Node] = []
    for s in range(n_stages):
        nodes: list[Node] = []
        if s > 0:
            can_down = x.rank > 0 and min(x.spatial) >= 4
            grow = d.int_choice((1, 2, 3), (1.0, 2.0, 1.0)) if can_down else d.int_choice((1, 2), (2.0, 1.0))
            out = round_width(x.channels * (1.0, 1.5, 2.0)[grow - 1], cfg.min_width, cfg.max_width)
            if can_down:
                nodes += d.downsample(x, out)
            elif out != x.channels:
                nodes.append(Linear(out=out) if x.rank == 0 else Conv(out=out, kernel=3))
            x = infer(Seq(children=tuple(nodes)), x) if nodes else x
        n_blocks = d.int_choice(range(1, cfg.max_blocks + 1), [3.0 * dz**i * (0.7**i) for i in range(cfg.max_blocks)])
        schedule = x.rank > 0 and d.w.chance(d.rng, "stage.dilation_schedule")
        if schedule:  # WaveNet-style: dilation 1, 2, 4, 8 over the stage's blocks
            n_blocks = max(n_blocks, min(cfg.max_blocks + 1, 4))
        for b in range(n_blocks):
            nodes.append(d.block(x, 0, dilation=2**b if schedule else None))
        stages.append(Seq(children=tuple(nodes)))
    body = canonical(Seq(children=tuple(stages)))
    y = infer(body, x0_body)
    return repair(Arch(stem=stem, body=body, head=_head(d, y)), input_shape)


def scale_widths(arch: Arch, factor: float, cfg: SamplerConfig) -> Arch:
    """All explicit widths (stem, convs, linears, gated units, head) scaled by `factor`."""
    def w(v: int | None) -> int | None:
        return None if v is None else round_width(v * factor, cfg.min_width, cfg.max_width * 4)

    def go(node: Node) -> Node:
        children = kids(node)
        if children:
            return with_kids(node, tuple(go(c) for c in children))
        if isinstance(node, Conv | Linear | GLU) and node.out is not None:
            return node.model_copy(update={"out": w(node.out)})
        return node

    stem = arch.stem.model_copy(update={"out": w(arch.stem.out)})
    head = arch.head.model_copy(update={"hidden": w(arch.head.hidden)})
    return Arch(version=arch.version, stem=stem, body=go(arch.body), head=head)


def within_limits(arch: Arch, input_shape: tuple[int, ...], num_classes: int, cfg: SamplerConfig) -> bool:
    if depth(arch.body) > cfg.max_depth or count_leaves(arch.body) > cfg.max_leaves:
        return False
    stats = analyse(arch, input_shape, num_classes)
    return (cfg.max_params is None or stats.params <= cfg.max_params) and \
        (cfg.max_macs is None or stats.macs <= cfg.max_macs)


def fit_budget(arch: Arch, input_shape: tuple[int, ...], num_classes: int, cfg: SamplerConfig) -> Arch | None:
    """`arch` itself if within limits, else a narrower copy that is, else None."""
    for _ in range(6):
        if within_limits(arch, input_shape, num_classes, cfg):
            return arch
        if depth(arch.body) > cfg.max_depth or count_leaves(arch.body) > cfg.max_leaves:
            return None
        stats = analyse(arch, input_shape, num_classes)
        ratios = [stats.params / cfg.max_params if cfg.max_params else 0.0,
                  stats.macs / cfg.max_macs if cfg.max_macs else 0.0]
        arch = repair(scale_widths(arch, 0.95 / math.sqrt(max(ratios)), cfg), input_shape)
    return arch if within_limits(arch, input_shape, num_classes, cfg) else None


def sample(input_shape: tuple[int, ...], num_classes: int, rng: np.random.Generator,
           weights: Weights | None = None, cfg: SamplerConfig | None = None) -> Arch:
    """A valid architecture within the config's limits; raises RuntimeError if none is found."""
    cfg = cfg or SamplerConfig()
    weights = weights or Weights()
    for _ in range(cfg.tries):
        arch = fit_budget(draw(input_shape, rng, weights, cfg), input_shape, num_classes, cfg)
        if arch is not None:
            return arch
    raise RuntimeError(f"no architecture within the limits after {cfg.tries} draws "
                       f"(max_params={cfg.max_params}, max_macs={cfg.max_macs})")
