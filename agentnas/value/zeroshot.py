"""The zero-shot predictor: a deep ensemble of ranking heads over graph encodings.

`mean` is the ensemble's average score and `std` its spread, both in units of the
pretraining spaces' score spread (each head's scores are standardised on its training
set), so a higher mean means better predicted accuracy and std says how much the heads
disagree. Scores order architectures; they are not accuracies.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentnas.encode.embed import EncodeMode
from agentnas.value.ranking import RankHead, RankTraining, train_ranker

PRETRAINED = Path(__file__).resolve().parent / "pretrained" / "zeroshot.pt"


@dataclass
class ZeroShotPredictor:
    heads: list[RankHead]
    mode: EncodeMode
    centers: list[float]
    scales: list[float]
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) per row of encodings `x` (n, d)."""
        x = np.atleast_2d(np.asarray(x, np.float32))
        if x.shape[1] != self.heads[0].dim:
            raise ValueError(f"encodings have {x.shape[1]} values; this value model expects {self.heads[0].dim} "
                             f"(mode {self.mode!r}): re-run `agentnas value pretrain`")
        scores = np.stack([(h.score(x) - c) / s for h, c, s in zip(self.heads, self.centers, self.scales,
                                                                     strict=True)])
        return scores.mean(0), scores.std(0)

    def save(self, path: Path) -> None:
        blob = {"mode": self.mode, "centers": self.centers, "scales": self.scales, "info": self.info,
                "heads": [h.to_bytes() for h in self.heads]}
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
        return cls(heads=[RankHead.from_bytes(b) for b in blob["heads"]], mode=blob["mode"],
                   centers=list(blob["centers"]), scales=list(blob["scales"]), info=dict(blob["info"]))


def fit_ensemble(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, mode: EncodeMode,
                 members: int = 5, training: RankTraining | None = None,
                 info: dict[str, Any] | None = None) -> ZeroShotPredictor:
    """Train `members` heads with different seeds (a deep ensemble) on the same data."""
    base = training or RankTraining()
    heads, centers, scales = [], [], []
    for seed in range(members):
        head = train_ranker(x, y, RankTraining(**{**base.__dict__, "seed": base.seed + seed}), groups)
        s = head.score(x)
        heads.append(head)
        centers.append(float(s.mean()))
        scales.append(float(s.std() or 1.0))
    return ZeroShotPredictor(heads, mode, centers, scales, info or {})
