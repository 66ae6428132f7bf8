"""What the sampler draws with: the production weights and the bounds of a draw.

`BASE_WEIGHTS` weighs every choice of the productions (draw.py); `Weights` multiplies it
by the keyword factors of a hypothesis text (keywords.py). `SamplerConfig` bounds the
trees (depth, leaves, widths) and the budget (parameters and multiply-adds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agentnas.space.keywords import KeywordBias

BASE_WEIGHTS: dict[str, float] = {
    # block productions
    "block.residual": 4.0, "block.plain": 2.0, "block.branch": 0.8, "block.split": 0.4,
    "block.attention": 0.5, "block.mlp": 0.5, "block.gated": 0.6,
    "block.recur": 0.8,  # token models only
    # Off by default (a run draws what it drew before `Recurrent` joined the grammar);
    # `agentnas value collect` turns it on for its recurrent family. Not in token models.
    "block.recurrent": 0.0, "recurrent.lstm": 0.5, "recurrent.bidirectional": 0.5,
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

    def __init__(self, steering: KeywordBias | None = None, base: dict[str, float] | None = None) -> None:
        self.steering = steering or KeywordBias()
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

