"""Sampling architectures from the grammar with a seeded numpy Generator.

`draw` assembles one network: a stem, 1–4 stages of blocks drawn by `Draw` (draw.py, where
the productions are listed), and a head; `space.repair` is still applied, as a safety
net. `sample` keeps the result within `SamplerConfig`'s limits (weights.py): an oversized
sample is shrunk (all widths scaled down) before it is rejected and drawn again.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np

import agentnas.space.grammar as g
from agentnas.space.draw import DILATIONS, Draw
from agentnas.space.repair import repair
from agentnas.space.shapes import Shape, analyse, body_input, infer, input_to_shape
from agentnas.space.weights import BASE_WEIGHTS, SamplerConfig, Weights, round_width

__all__ = ["BASE_WEIGHTS", "DILATIONS", "Draw", "SamplerConfig", "Weights", "draw", "fit_budget", "round_width",
           "sample", "scale_widths", "within_limits"]


def _stem(d: Draw, x: Shape, width: int) -> g.Stem:
    norm = None if d.norm == "none" else cast(g.NormKind, d.norm)
    if d.tokens:
        return g.Stem(kind="embed", out=width, kernel=1, norm=norm, act=None)
    if x.rank == 0:
        kind = d.w.pick(d.rng, "stem", ("signal", "dense")) if x.channels >= 8 else "dense"
        if kind == "dense":
            return g.Stem(kind="dense", out=width, kernel=1, norm=norm, act=d.act)
        return g.Stem(kind="signal", out=width, kernel=d.int_choice((3, 5, 7)), norm=norm, act=d.act)
    stride = 2 if min(x.spatial) >= 32 and d.rng.random() < 0.2 else 1
    return g.Stem(kind="conv", out=width, kernel=d.int_choice((3, 5, 7), (3.0, 2.0, 1.0)), stride=stride,
                norm=norm, act=d.act)


def _head(d: Draw, y: Shape) -> g.Head:
    if d.tokens:
        return g.Head(pool="token", hidden=d.int_choice((64, 128)) if d.w.chance(d.rng, "head.hidden") else None,
                      act=d.act)
    pools: tuple[g.HeadPool, ...] = ("avg", "max", "avgmax", "flatten")
    if y.rank and y.channels * math.prod(y.spatial) > 2048:
        pools = pools[:3]
    pool = cast(g.HeadPool, "flatten" if y.rank == 0 else d.w.pick(d.rng, "head", pools))
    hidden = d.int_choice((32, 64, 128)) if d.w.chance(d.rng, "head.hidden") else None
    return g.Head(pool=pool, hidden=hidden, act=d.act)


def draw(input_shape: tuple[int, ...], rng: np.random.Generator, weights: Weights,
         cfg: SamplerConfig, tokens: bool = False) -> g.Arch:
    """One unconstrained draw from the grammar (valid for the input shape, budget not checked);
    `tokens`: a causal token model for sequences of input_shape (T,) (agentnas.space.causal)."""
    x0 = input_to_shape(input_shape)
    d = Draw(rng, weights, cfg, x0.rank, tokens)
    scale = weights["width"]
    n = len(cfg.widths)
    # Peaked just below the middle of the list, the widest rarest: (16..96) -> 1, 2, 3, 2, 1, 0.5
    prior = [1.0 + min(i, n - 2 - i) if i < n - 1 else 0.5 for i in range(n)]
    width = round_width(d.int_choice(cfg.widths, prior) * scale, cfg.min_width, cfg.max_width)
    stem = _stem(d, x0, width)
    d.rank = 0 if stem.kind == "dense" else 1 if stem.kind in ("signal", "embed") else x0.rank
    x = x0_body = body_input(g.Arch(stem=stem), input_shape)
    dz = weights["depth"]
    n_stages = d.int_choice(range(1, cfg.max_stages + 1), [2.0 * dz**i * (0.6**i) for i in range(cfg.max_stages)])
    stages: list[g.Node] = []
    for s in range(n_stages):
        nodes: list[g.Node] = []
        if s > 0:
            can_down = x.rank > 0 and min(x.spatial) >= 4 and not tokens
            grow = d.int_choice((1, 2, 3), (1.0, 2.0, 1.0)) if can_down else d.int_choice((1, 2), (2.0, 1.0))
            out = round_width(x.channels * (1.0, 1.5, 2.0)[grow - 1], cfg.min_width, cfg.max_width)
            if can_down:
                nodes += d.downsample(x, out)
            elif out != x.channels:
                nodes.append(g.Linear(out=out) if x.rank == 0 else g.Conv(out=out, kernel=3))
            x = infer(g.Seq(children=tuple(nodes)), x) if nodes else x
        n_blocks = d.int_choice(range(1, cfg.max_blocks + 1), [3.0 * dz**i * (0.7**i) for i in range(cfg.max_blocks)])
        schedule = x.rank > 0 and d.w.chance(d.rng, "stage.dilation_schedule")
        if schedule:  # WaveNet-style: dilation 1, 2, 4, 8 over the stage's blocks
            n_blocks = max(n_blocks, min(cfg.max_blocks + 1, 4))
        for b in range(n_blocks):
            nodes.append(d.block(x, 0, dilation=2**b if schedule else None))
        stages.append(g.Seq(children=tuple(nodes)))
    body = g.canonical(g.Seq(children=tuple(stages)))
    y = infer(body, x0_body)
    return repair(g.Arch(stem=stem, body=body, head=_head(d, y)), input_shape)


def scale_widths(arch: g.Arch, factor: float, cfg: SamplerConfig) -> g.Arch:
    """All explicit widths (stem, convs, linears, gated units, head) scaled by `factor`."""
    def w(v: int | None) -> int | None:
        return None if v is None else round_width(v * factor, cfg.min_width, cfg.max_width * 4)

    def go(node: g.Node) -> g.Node:
        children = g.kids(node)
        if children:
            return g.with_kids(node, tuple(go(c) for c in children))
        if isinstance(node, g.Conv | g.Linear | g.GLU) and node.out is not None:
            return node.model_copy(update={"out": w(node.out)})
        return node

    stem = arch.stem.model_copy(update={"out": w(arch.stem.out)})
    head = arch.head.model_copy(update={"hidden": w(arch.head.hidden)})
    return g.Arch(version=arch.version, stem=stem, body=go(arch.body), head=head)


def within_limits(arch: g.Arch, input_shape: tuple[int, ...], num_classes: int, cfg: SamplerConfig) -> bool:
    if g.depth(arch.body) > cfg.max_depth or g.count_leaves(arch.body) > cfg.max_leaves:
        return False
    stats = analyse(arch, input_shape, num_classes)
    return (cfg.max_params is None or stats.params <= cfg.max_params) and \
        (cfg.max_macs is None or stats.macs <= cfg.max_macs)


def fit_budget(arch: g.Arch, input_shape: tuple[int, ...], num_classes: int, cfg: SamplerConfig) -> g.Arch | None:
    """`arch` itself if within limits, else a narrower copy that is, else None."""
    for _ in range(6):
        if within_limits(arch, input_shape, num_classes, cfg):
            return arch
        if g.depth(arch.body) > cfg.max_depth or g.count_leaves(arch.body) > cfg.max_leaves:
            return None
        stats = analyse(arch, input_shape, num_classes)
        ratios = [stats.params / cfg.max_params if cfg.max_params else 0.0,
                  stats.macs / cfg.max_macs if cfg.max_macs else 0.0]
        arch = repair(scale_widths(arch, 0.95 / math.sqrt(max(ratios)), cfg), input_shape)
    return arch if within_limits(arch, input_shape, num_classes, cfg) else None


def sample(input_shape: tuple[int, ...], num_classes: int, rng: np.random.Generator,
           weights: Weights | None = None, cfg: SamplerConfig | None = None, tokens: bool = False) -> g.Arch:
    """A valid architecture within the config's limits; raises RuntimeError if none is found."""
    cfg = cfg or SamplerConfig()
    weights = weights or Weights()
    for _ in range(cfg.tries):
        arch = fit_budget(draw(input_shape, rng, weights, cfg, tokens), input_shape, num_classes, cfg)
        if arch is not None:
            return arch
    raise RuntimeError(f"no architecture within the limits after {cfg.tries} draws "
                       f"(max_params={cfg.max_params}, max_macs={cfg.max_macs})")
