"""One network's draw from the grammar: units, cells, blocks and downsampling.

The productions, top-down (each choice weighted by `BASE_WEIGHTS` times the steering
factors of the hypothesis text, see weights.py and steering.py):

    arch    → stem · body · head
    body    → stage+                       (1–4 stages; `depth` shifts the count)
    stage   → [downsample] block+          (1–3 blocks; stride-2 conv, pooling, or none)
    block   → residual(cell) | cell | branch(cell, cell[, cell]) | split(cell, cell[, ...]) [shuffle]
            | attention block | recurrent block | mlp block | cell · se | residual(cell · se)
    cell    → unit+ (1–3), where a unit may itself nest a block (einspace's recursion,
              bounded by the depth limit)
    unit    → conv · norm · act | depthwise conv · norm · point-wise · act | glu · norm
            | pool (stride 1) | point-wise · act        (pre-activation order per network)

Every choice reads the current feature shape, so samples are valid by construction. Per
network one activation, one norm kind and one unit order are drawn (with occasional
per-unit deviations), which is how people design networks and keeps samples out of the
least useful corners. `Draw` holds that style; the stem, stages and head are assembled
by `sampler.draw`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, cast

import numpy as np

import agentnas.space.grammar as g
from agentnas.space.shapes import Shape, split_sizes
from agentnas.space.weights import SamplerConfig, Weights, round_width

DILATIONS = (2, 4, 8)


class Draw:
    """One network's draw: the RNG, the weights, the bounds and the network-wide style."""

    def __init__(self, rng: np.random.Generator, weights: Weights, cfg: SamplerConfig, rank: int,
                 tokens: bool = False) -> None:
        self.rng, self.w, self.cfg, self.rank, self.tokens = rng, weights, cfg, rank, tokens
        self.act = cast(g.ActKind, weights.pick(rng, "act", g.ACTS))
        # A token model normalises each position alone (causal.py): layer norm or none.
        self.norm: str = weights.pick(rng, "norm", ("layer", "none") if tokens else (*g.NORMS, "none"))
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

    def act_node(self) -> g.Act:
        kind = self.act if self.rng.random() < 0.9 else self.w.pick(self.rng, "act", g.ACTS)
        return g.Act(kind=cast(g.ActKind, kind))

    def norm_nodes(self, x: Shape) -> list[g.Node]:
        kind = self.norm if self.rng.random() < 0.9 or self.tokens else self.w.pick(self.rng, "norm", g.NORMS)
        if kind == "none":
            return []
        return [g.Norm(kind=cast(g.NormKind, kind), groups=math.gcd(x.channels, 8) if kind == "group" else 8)]

    # units and cells ----------------------------------------------------------------
    def fit_dilation(self, kernel: int, d: int, x: Shape) -> int:
        """A forced dilation, halved until the kernel's span fits the positions."""
        while d > 1 and d * (kernel - 1) + 1 > max(x.spatial, default=1):
            d //= 2
        return d

    def unit_kinds(self) -> tuple[str, ...]:
        return ("conv", "dwsep", "glu", "pool", "linear") if self.rank else ("linear", "glu")

    def core(self, x: Shape, kind: str, out: int | None = None, dilation: int | None = None) -> list[g.Node]:
        """The computation of a unit without its norm and activation."""
        if kind == "pool" and out is not None and out != x.channels:
            kind = "conv"
        if kind == "conv":
            k = self.kernel(x)
            d = self.fit_dilation(k, dilation, x) if dilation is not None else self.dilation(k, x)
            groups = 1
            if self.w.chance(self.rng, "conv.grouped"):
                groups = math.gcd(math.gcd(x.channels, out or x.channels), self.int_choice((2, 4, 8)))
            return [g.Conv(out=out, kernel=k, dilation=d, groups=groups)]
        if kind == "dwsep":
            k = self.kernel(x)
            d = self.fit_dilation(k, dilation, x) if dilation is not None else self.dilation(k, x)
            return [g.Conv(depthwise=True, kernel=k, dilation=d), *self.norm_nodes(x), g.Linear(out=out)]
        if kind == "glu":
            return [g.GLU(out=out, kernel=self.int_choice((1, 3, 5), (2.0, 2.0, 1.0)) if self.rank else 1)]
        if kind == "pool":
            return [g.Pool(kind="max" if self.rng.random() < 0.5 else "avg", kernel=3, stride=1)]
        return [g.Linear(out=out)]

    def unit(self, x: Shape, out: int | None = None, dilation: int | None = None) -> list[g.Node]:
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
        tail: list[g.Node] = [] if kind == "glu" else [self.act_node()]
        return [*core, *self.norm_nodes(y), *tail]

    def cell(self, x: Shape, level: int, out: int | None = None, n: int | None = None,
             dilation: int | None = None) -> g.Node:
        """A short sequence of units (the first one sets `out` channels); may nest a block."""
        n = n or self.int_choice((1, 2, 3), (2.0, 3.0, 1.0))
        nodes: list[g.Node] = []
        for i in range(n):
            o = out if i == 0 else None
            nest = level + 2 < self.cfg.max_depth and o is None and self.rng.random() < 0.08 / (1 + level)
            if nest:
                nodes.append(self.block(Shape(out or x.channels, x.spatial), level + 1))
            else:
                nodes.extend(self.unit(x if i == 0 else Shape(out or x.channels, x.spatial), o, dilation))
        return g.Seq(children=tuple(nodes))

    # blocks ---------------------------------------------------------------------------
    def block_kinds(self, x: Shape) -> list[str]:
        kinds = ["residual", "plain", "branch", "split", "gated", "mlp"]
        if self.rank and x.channels >= 8:
            kinds.append("attention")
        if self.tokens:  # a recurrence over the positions: the token models' other mixer
            kinds.append("recur")
        elif self.rank and x.channels >= 4 and self.w["block.recurrent"] > 0:
            kinds.append("recurrent")  # listed only when drawable: a default draw's stream is unchanged
        if x.channels < 4:
            kinds.remove("split")
        return kinds

    def block(self, x: Shape, level: int = 0, dilation: int | None = None, kind: str | None = None) -> g.Node:
        """A channel- and size-preserving block reading x (of the given kind, else drawn)."""
        kind = kind or self.w.pick(self.rng, "block", self.block_kinds(x))
        if kind == "residual":
            body = self.cell(x, level + 1, n=self.int_choice((1, 2, 3), (1.0, 4.0, 1.0)), dilation=dilation)
            if self.order == "post" and isinstance(body, g.Seq) and isinstance(body.children[-1], g.Act):
                # ResNet v1: the last activation moves after the addition
                return g.Seq(children=(g.Residual(body=g.Seq(children=body.children[:-1])), body.children[-1]))
            return g.Residual(body=body)
        if kind == "plain":
            return self.cell(x, level + 1, dilation=dilation)
        if kind == "gated":
            inner = g.Seq(children=(self.cell(x, level + 1, dilation=dilation),
                                  g.SE(reduction=self.int_choice((2, 4, 8), (1.0, 2.0, 1.0)))))
            return g.Residual(body=inner) if self.w.chance(self.rng, "block.residual") else inner
        if kind == "mlp":
            e = self.int_choice((2, 4))
            hidden = round_width(x.channels * e, 4, self.cfg.max_width * 4)
            norm = self.norm_nodes(x)
            layers = (*norm, g.Linear(out=hidden), self.act_node(), g.Linear(out=x.channels))
            return g.Residual(body=g.Seq(children=layers))
        if kind == "attention":
            heads = max(h for h in (1, 2, 4, 8) if x.channels % h == 0 and x.channels // h >= 4)
            kind_norm = cast(g.NormKind, "layer" if self.norm in ("layer", "none") else self.norm)
            attn = g.Residual(body=g.Seq(children=(g.Norm(kind=kind_norm, groups=math.gcd(x.channels, 8)),
                                               g.Attention(heads=heads))))
            if self.rng.random() < 0.5:
                return attn
            e = self.int_choice((2, 4))
            mlp = g.Residual(body=g.Seq(children=(g.Norm(kind=kind_norm, groups=math.gcd(x.channels, 8)),
                                              g.Linear(out=x.channels * e), self.act_node(), g.Linear(out=x.channels))))
            return g.Seq(children=(attn, mlp))
        if kind == "recur":
            norm = self.norm_nodes(x)
            return g.Residual(body=g.Seq(children=(*norm, g.Recur())))
        if kind == "recurrent":
            cell: Literal["gru", "lstm"] = "lstm" if self.w.chance(self.rng, "recurrent.lstm") else "gru"
            rnn = g.Recurrent(cell=cell, bidirectional=x.channels % 2 == 0 and
                              self.w.chance(self.rng, "recurrent.bidirectional"))
            if self.rng.random() < 0.5:  # pre-norm residual, as the attention block
                kind_norm = cast(g.NormKind, "layer" if self.norm in ("layer", "none") else self.norm)
                return g.Residual(body=g.Seq(children=(g.Norm(kind=kind_norm, groups=math.gcd(x.channels, 8)), rnn)))
            return rnn
        if kind == "branch":
            n = self.int_choice((2, 3), (3.0, 1.0))
            merge = self.w.pick(self.rng, "merge", ("add", "concat"))
            if merge == "concat" and x.channels >= 2 * n:
                sizes = split_sizes(x.channels, n)
                branches = [self.cell(x, level + 1, out=s) for s in sizes]
                return g.Branch(merge="concat", branches=tuple(branches))
            branches = [self.cell(x, level + 1) for _ in range(n)]
            if self.rng.random() < 0.3:
                branches[-1] = g.Identity()
            return g.Branch(merge="add", branches=tuple(branches))
        # split: channels routed into groups, one cell each, optionally shuffled back together
        n = self.int_choice((2, 4), (3.0, 1.0)) if x.channels >= 8 else 2
        parts = [self.cell(Shape(s, x.spatial), level + 1) for s in split_sizes(x.channels, n)]
        nodes: list[g.Node] = [g.Split(parts=tuple(parts))]
        if x.channels % n == 0 and self.rng.random() < 0.5:
            nodes.append(g.Shuffle(groups=n))
        return g.Seq(children=tuple(nodes))

    def downsample(self, x: Shape, out: int) -> list[g.Node]:
        kind = self.w.pick(self.rng, "down", ("conv", "pool", "none"))
        if kind == "conv":
            core: list[g.Node] = [g.Conv(out=out, kernel=3, stride=2)]
            return [*core, *self.norm_nodes(Shape(out, x.spatial)), self.act_node()]
        nodes: list[g.Node] = []
        if kind == "pool":
            nodes.append(g.Pool(kind="max" if self.rng.random() < 0.6 else "avg", kernel=3, stride=2))
        if out != x.channels:
            nodes.append(g.Linear(out=out) if self.rng.random() < 0.5 else g.Conv(out=out, kernel=3))
        return nodes

