"""Architecture families for agentnas's labelled set: sampling profiles over the grammar.

A family is a table of production weights laid over the grammar's defaults (sampler.py),
so every family draws from the same grammar and renders through the same code as a run's
candidates; only the odds differ. `FAMILIES` names them:

| family      | what the weights favour                                                         |
|-------------|---------------------------------------------------------------------------------|
| conv        | plain convolution stacks (the MNIST-1D paper's CNN, VGG): no skips, no branches |
| residual    | residual blocks, some squeeze-excitation (ResNet)                               |
| dilated     | dilation schedules and large kernels in residual stacks (WaveNet, TCN)          |
| depthwise   | depthwise-separable units, grouped convs, channel splits, SE (MobileNet)        |
| branching   | parallel branches added or concatenated, channel splits (Inception)             |
| attention   | self-attention and MLP blocks after a convolution stem (hybrid transformers)    |
| recurrent   | GRU and LSTM layers over the positions, after some convolution (CRNN)           |
| mlp         | point-wise layers only, a flatten head with a hidden layer (an MLP over positions) |
| grammar     | the grammar's own defaults: what the offline proposer draws in a run            |

Per architecture a width and a depth scale are drawn as well (log-uniform, 0.5-2 and
0.6-1.6), so each family covers small and large networks. `tags` reads back from a tree
what it contains (attention, recurrent, residual, ...), independent of the family it was
drawn for: that is how the tests check that each family yields what it is named after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from agentnas.space.grammar import (
    Arch,
    Attention,
    Branch,
    Conv,
    Linear,
    Node,
    Pool,
    Recurrent,
    Residual,
    Split,
    map_leaves,
    walk,
)
from agentnas.space.repair import repair
from agentnas.space.sampler import BASE_WEIGHTS, SamplerConfig, Weights, draw, within_limits


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    weights: dict[str, float] = field(default_factory=dict)  # laid over sampler.BASE_WEIGHTS
    pointwise: bool = False  # the mlp family: every spatial mixing op is made point-wise


_NO_EXTRAS = {"block.attention": 0.0, "block.mlp": 0.0, "block.gated": 0.0, "block.recurrent": 0.0}

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("conv", "plain convolution stacks, no skips or branches",
           {**_NO_EXTRAS, "block.residual": 0.0, "block.plain": 4.0, "block.branch": 0.0, "block.split": 0.0,
            "unit.dwsep": 0.3, "unit.glu": 0.0, "unit.linear": 0.2, "unit.pool": 0.5}),
    Family("residual", "residual blocks, some squeeze-excitation",
           {**_NO_EXTRAS, "block.residual": 6.0, "block.plain": 1.0, "block.gated": 1.0, "block.mlp": 0.2,
            "block.branch": 0.2, "block.split": 0.1}),
    Family("dilated", "dilation schedules and large kernels in residual stacks",
           {**_NO_EXTRAS, "block.residual": 5.0, "block.plain": 1.0, "stage.dilation_schedule": 4.0,
            "conv.dilated": 3.0, "kernel.large": 3.0, "block.branch": 0.2, "block.split": 0.0}),
    Family("depthwise", "depthwise-separable units, grouped convolutions, channel splits, gating",
           {**_NO_EXTRAS, "unit.dwsep": 8.0, "conv.grouped": 1.0, "block.split": 1.5, "block.gated": 2.0,
            "block.residual": 3.0, "unit.glu": 0.5}),
    Family("branching", "parallel branches and channel splits",
           {**_NO_EXTRAS, "block.branch": 5.0, "block.split": 2.0, "block.residual": 1.5, "block.plain": 1.0}),
    Family("attention", "self-attention and MLP blocks after a convolution stem",
           {"block.attention": 10.0, "block.mlp": 1.5, "block.residual": 2.0, "block.plain": 1.0,
            "block.recurrent": 0.0, "block.branch": 0.2, "block.split": 0.1, "block.gated": 0.2}),
    Family("recurrent", "GRU and LSTM layers over the positions, after some convolution",
           {"block.recurrent": 9.0, "block.attention": 0.0, "block.mlp": 0.3, "block.residual": 2.0,
            "block.plain": 1.5, "block.branch": 0.1, "block.split": 0.0, "block.gated": 0.2, "down.conv": 3.0,
            "down.none": 0.3}),
    Family("mlp", "point-wise layers and a flatten head with a hidden layer",
           {**_NO_EXTRAS, "unit.conv": 0.0, "unit.dwsep": 0.0, "unit.pool": 0.0, "unit.linear": 5.0,
            "unit.glu": 0.5, "block.mlp": 3.0, "block.residual": 2.0, "block.plain": 2.0, "block.branch": 0.3,
            "block.split": 0.2, "down.conv": 0.0, "down.pool": 0.0, "down.none": 1.0, "head.hidden": 4.0},
           pointwise=True),
    Family("grammar", "the grammar's default weights (what the offline proposer draws)"),
)}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)
WIDTH_RANGE = (0.5, 2.0)
DEPTH_RANGE = (0.6, 1.6)


def family_weights(family: Family, rng: np.random.Generator) -> Weights:
    """The family's production weights with this architecture's width and depth scale."""
    def log_uniform(lo: float, hi: float) -> float:
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))

    table = {**BASE_WEIGHTS, **family.weights, "width": log_uniform(*WIDTH_RANGE),
             "depth": log_uniform(*DEPTH_RANGE)}
    return Weights(base=table)


def _pointwise(arch: Arch) -> Arch:
    """Every spatial mixing op of the body made point-wise (convolutions become linear maps,
    poolings and sequence layers go), a kernel-1 stem, and a flatten head with a hidden layer:
    positions meet only in the head, as in an MLP over the input."""
    def leaf(node: Node) -> Node:
        if isinstance(node, Conv) and node.stride == 1:
            return Linear(out=None if node.depthwise else node.out)
        if isinstance(node, Pool | Attention | Recurrent) and getattr(node, "stride", 1) == 1:
            return Linear()
        return node

    hidden = arch.head.hidden or 64
    return Arch(stem=arch.stem.model_copy(update={"kernel": 1, "stride": 1}), body=map_leaves(arch.body, leaf),
                head=arch.head.model_copy(update={"pool": "flatten", "hidden": hidden}))


def sample_family(family: str, shapes: list[tuple[tuple[int, ...], int]], rng: np.random.Generator,
                  cfg: SamplerConfig) -> Arch:
    """One architecture of `family` that is valid and within `cfg`'s limits for every
    (input shape, classes) in `shapes`; drawn for the first shape, repaired for the others.
    Raises RuntimeError when `cfg.tries` draws all fail."""
    fam = FAMILIES[family]
    first, classes = shapes[0]
    for _ in range(cfg.tries):
        arch = draw(first, rng, family_weights(fam, rng), cfg)
        if fam.pointwise:
            arch = repair(_pointwise(arch), first)
        if all(within_limits(repair(arch, s), s, n, cfg) for s, n in shapes):
            return arch
    raise RuntimeError(f"no {family} architecture within the limits after {cfg.tries} draws "
                       f"(max_params={cfg.max_params}, max_macs={cfg.max_macs})")


def tags(arch: Arch) -> list[str]:
    """What a tree contains, by family name (sorted; "conv" means a spatial convolution)."""
    found: set[str] = set()
    mixes = False
    for _, node in walk(arch.body):
        if isinstance(node, Attention):
            found.add("attention")
        elif isinstance(node, Recurrent):
            found.add("recurrent")
        elif isinstance(node, Residual):
            found.add("residual")
        elif isinstance(node, Branch | Split):
            found.add("branching")
        elif isinstance(node, Conv):
            found.add("depthwise" if node.depthwise else "conv")
            if node.dilation > 1:
                found.add("dilated")
        mixes = mixes or (isinstance(node, Conv | Pool | Attention | Recurrent)
                          and (not isinstance(node, Conv) or node.kernel > 1 or node.stride > 1))
    if arch.stem.kind == "conv" and arch.stem.kernel > 1:
        mixes = True
    if not mixes:
        found.add("mlp")
    return sorted(found)
