"""`agentnas value pretrain`: fit the zero-shot ensemble on benchmark-space encodings.

Accuracies from different spaces are not comparable, so ranking pairs are only drawn
within a space (`groups`); the heads learn what orders architectures inside each space.
The weight of the zero-cost committee prior is chosen by leave-one-space-out
cross-validation over the spaces given ("auto", see zeroshot.py).

The shipped model (pretrained/zeroshot.pt) comes from

    agentnas value pretrain --spaces nb201,macro --per-space 1000 --seed 2 \
        --out agentnas/value/pretrained/zeroshot.pt

with the other options at their defaults (features mode, 5 heads x 1,500 steps, prior
weight "auto"); its `info` records these settings and the cross-validated weight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentnas.encode.embed import EncodeMode
from agentnas.value.metrics import kendall_tau
from agentnas.value.ranking import RankTraining
from agentnas.value.spaces import SPACES, EncodeProgress, LabelledSet, SpaceEncoder, SpaceName, sample_keys
from agentnas.value.zeroshot import PriorWeight, ZeroShotPredictor, fit_ensemble


class PretrainOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    spaces: tuple[SpaceName, ...] = SPACES
    per_space: int = Field(default=400, gt=1)
    mode: EncodeMode = "features"
    members: int = Field(default=5, gt=0)
    steps: int = Field(default=1500, gt=0)
    seed: int = 0
    prior_weight: PriorWeight = Field(default="auto", description='a weight >= 0, "auto" or "cv" (zeroshot.py)')
    proxies: bool = Field(default=True, description="compute the zero-cost proxies of each architecture")

    @field_validator("prior_weight")
    @classmethod
    def _weight_not_negative(cls, v: PriorWeight) -> PriorWeight:
        if not isinstance(v, str) and v < 0:
            raise ValueError("the prior weight must be >= 0")
        return v


def labelled_sets(options: PretrainOptions, cache_dir: Path,
                  log: Callable[[str], Any] | None = None) -> list[LabelledSet]:
    encoder = SpaceEncoder(cache_dir, options.mode, options.proxies)
    sets = []
    for space in options.spaces:
        keys = sample_keys(space, options.per_space, options.seed)
        sets.append(encoder.encode(space, keys, EncodeProgress(space, log) if log is not None else None))
    return sets


def fit(sets: list[LabelledSet], options: PretrainOptions) -> ZeroShotPredictor:
    x = np.concatenate([s.x for s in sets])
    y = np.concatenate([s.y for s in sets])
    groups = np.concatenate([np.full(len(s.y), i) for i, s in enumerate(sets)])
    info = {"spaces": [s.space for s in sets], "per_space": options.per_space, "mode": options.mode,
            "members": options.members, "seed": options.seed, "proxies": options.proxies,
            "trained": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    return fit_ensemble(x, y, groups, options.mode, options.members,
                        RankTraining(steps=options.steps, seed=options.seed), info,
                        prior_weight=options.prior_weight)


def pretrain(options: PretrainOptions, cache_dir: Path, out: Path,
             log: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Encode, fit, save; report the in-sample τ per space (the honest, held-out numbers
    come from `agentnas bench value`)."""
    sets = labelled_sets(options, cache_dir, log)
    predictor = fit(sets, options)
    predictor.save(out)
    return {"out": str(out), **predictor.info,
            "train_tau": {s.space: kendall_tau(predictor.predict(s.x)[0], s.y) for s in sets}}
