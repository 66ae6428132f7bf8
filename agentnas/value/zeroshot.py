"""The zero-shot predictor: a deep ensemble of ranking heads over graph encodings, plus a
compute prior.

Each head's score is standardised on its training set; the prior adds
`flops_weight` x the standardised log multiply-accumulates of the graph. Why the prior:
more compute predicts better accuracy in every published space (FLOPs alone gives τ ≈
0.56-0.58 on NB201 and NAS-Bench-Macro), while what a head learns about one space's op mix
transfers only partly to another; measured on the two spaces, adding it never hurt the
left-out space and helped NB201 -> Macro by about 0.08-0.1 τ.

`mean` is the average over heads and `std` their spread: a higher mean means better
predicted accuracy, std says how much the heads disagree. Scores order architectures;
they are not accuracies.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentnas.encode.embed import TEXT_DIM, EncodeMode
from agentnas.encode.features import FEATURE_NAMES
from agentnas.value.ranking import RankHead, RankTraining, train_ranker

PRETRAINED = Path(__file__).resolve().parent / "pretrained" / "zeroshot.pt"


@dataclass
class ZeroShotPredictor:
    heads: list[RankHead]
    mode: EncodeMode
    centers: list[float]
    scales: list[float]
    info: dict[str, Any] = field(default_factory=dict)
    flops_index: int | None = None  # column of log MACs in the encoding; None: no compute prior
    flops_center: float = 0.0
    flops_scale: float = 1.0
    flops_weight: float = 0.0

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) per row of encodings `x` (n, d)."""
        x = np.atleast_2d(np.asarray(x, np.float32))
        if x.shape[1] != self.heads[0].dim:
            raise ValueError(f"encodings have {x.shape[1]} values; this value model expects {self.heads[0].dim} "
                             f"(mode {self.mode!r}): re-run `agentnas value pretrain`")
        scores = np.stack([(h.score(x) - c) / s for h, c, s in zip(self.heads, self.centers, self.scales,
                                                                     strict=True)])
        prior: float | np.ndarray = 0.0
        if self.flops_index is not None and self.flops_weight:
            prior = self.flops_weight * (x[:, self.flops_index] - self.flops_center) / self.flops_scale
        return scores.mean(0) + prior, scores.std(0)

    def save(self, path: Path) -> None:
        blob = {"mode": self.mode, "centers": self.centers, "scales": self.scales, "info": self.info,
                "heads": [h.to_bytes() for h in self.heads], "flops": [self.flops_index, self.flops_center,
                                                                        self.flops_scale, self.flops_weight]}
        buf = io.BytesIO()
        torch.save(blob, buf)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path | None = None) -> ZeroShotPredictor:
        path = path or PRETRAINED
        if not path.is_file():
            raise FileNotFoundError(f"no pretrained value model at {path}; create one with "
                                    "`agentnas value pretrain --spaces nb201,macro --out PATH`")
        blob = torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
        index, center, scale, weight = blob.get("flops", [None, 0.0, 1.0, 0.0])
        return cls(heads=[RankHead.from_bytes(b) for b in blob["heads"]], mode=blob["mode"],
                   centers=list(blob["centers"]), scales=list(blob["scales"]), info=dict(blob["info"]),
                   flops_index=index, flops_center=float(center), flops_scale=float(scale),
                   flops_weight=float(weight))


def flops_column(mode: EncodeMode) -> int | None:
    """Where log MACs sits in an encoding of `mode` (the text vector comes first in "both")."""
    if mode == "chunks":
        return None
    return (TEXT_DIM if mode == "both" else 0) + FEATURE_NAMES.index("log_flops")


def fit_ensemble(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, mode: EncodeMode,
                 members: int = 5, training: RankTraining | None = None,
                 info: dict[str, Any] | None = None, flops_weight: float = 0.5) -> ZeroShotPredictor:
    """Train `members` heads with different seeds (a deep ensemble) on the same data."""
    base = training or RankTraining()
    heads, centers, scales = [], [], []
    for seed in range(members):
        head = train_ranker(x, y, RankTraining(**{**base.__dict__, "seed": base.seed + seed}), groups)
        s = head.score(x)
        heads.append(head)
        centers.append(float(s.mean()))
        scales.append(float(s.std() or 1.0))
    index = flops_column(mode)
    column = x[:, index] if index is not None else np.zeros(1)
    return ZeroShotPredictor(heads, mode, centers, scales, info or {}, flops_index=index,
                             flops_center=float(column.mean()), flops_scale=float(column.std() or 1.0),
                             flops_weight=flops_weight if index is not None else 0.0)
