"""The zero-cost committee: a prior that needs no training and carries across spaces.

Its members are the compute measures of model-scaling work and the classic zero-cost
proxies, each oriented so that higher predicts better accuracy:

    log FLOPs (MACs), log layer outputs ("activations", Dollár et al. 2021),
    NASWOT, synflow, gradnorm, jacob_cov (see sandbox/proxies.py)

Each member is standardised with the training set's mean and std and squashed beyond ±CLIP
(CLIP·asinh(z/CLIP): linear near 0, logarithmic further out, so an architecture far outside
the training spaces gets no score of any size from one signal, while the candidates of a
space of another scale, all far out, keep their order instead of being clipped to one
value), and the members are averaged with equal votes; the average is divided by its
spread on the training set so that the prior is in the same units as a head's score.
Nothing is fitted to accuracies, which is the point: what a learned head knows about one
space's trade-offs (in NAS-Bench-Macro more parameters at the same FLOPs mean worse
accuracy, in NB201 better) does not carry to another, while "more computation and a more
expressive untrained network rank higher" held in both (measured in
/work/notes/value-bench.md). Parameter count is not a member for that reason: where a
weight sits decides what it costs and gives.

Members that are unknown for a graph (no proxies, or NASWOT without rectifiers) do not vote.
A network whose output does not depend on its input at all (jacob_cov at its floor: the
input gradient is exactly zero) cannot beat chance; the predictor puts it at the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agentnas.encode.embed import TEXT_DIM, EncodeMode
from agentnas.encode.features import FEATURE_NAMES
from agentnas.evaluator.proxies import PROXY_NAMES, PROXY_SCALES

PRIOR_SIGNALS: tuple[str, ...] = ("log_flops", "log_layer_outputs", "proxy_naswot", "proxy_synflow",
                                  "proxy_gradnorm", "proxy_jacob_cov")
CLIP = 5.0
# Below any live score (heads and committee are about unit size), yet no extreme outlier for the online GP.
DEAD_PENALTY = 10.0
_JACOB_FLOOR = -50.0 / PROXY_SCALES["jacob_cov"]  # sandbox/proxies.py FLOOR, as stored in the vector


def feature_offset(mode: EncodeMode) -> int | None:
    """Where the structural features start in an encoding of `mode` (None: there are none)."""
    if mode == "chunks":
        return None
    return TEXT_DIM if mode == "both" else 0


def column(mode: EncodeMode, name: str) -> int | None:
    offset = feature_offset(mode)
    return None if offset is None else offset + FEATURE_NAMES.index(name)


def missing_column(name: str) -> str | None:
    """The feature that says `name` is unknown (proxies only; graph features are always known)."""
    missing = f"{name}_missing"
    return missing if name.startswith("proxy_") and missing in FEATURE_NAMES else None


@dataclass
class CommitteePrior:
    """Equal-vote average of standardised, clipped signals (see the module docstring)."""

    columns: list[int]
    centers: list[float]
    scales: list[float]
    missing: list[int | None]  # per member, the column that flags it unknown
    dead_index: int | None     # the proxy_jacob_cov column
    spread: float = 1.0

    @classmethod
    def fit(cls, x: np.ndarray, mode: EncodeMode, signals: tuple[str, ...] = PRIOR_SIGNALS) -> CommitteePrior | None:
        offset = feature_offset(mode)
        if offset is None or not signals:
            return None
        columns = [offset + FEATURE_NAMES.index(s) for s in signals]
        missing = [None if (flag := missing_column(s)) is None else offset + FEATURE_NAMES.index(flag)
                   for s in signals]
        centers, scales = [], []
        for c, m in zip(columns, missing, strict=True):
            known = x[:, m] < 0.5 if m is not None else np.ones(len(x), bool)
            rows = x[known, c]
            std = float(rows.std()) if len(rows) else 0.0
            centers.append(float(rows.mean()) if len(rows) else 0.0)
            scales.append(std if std > 1e-9 else float("inf"))  # constant (or unknown) in training: no vote
        jacob = "proxy_jacob_cov" in FEATURE_NAMES
        prior = cls(columns, centers, scales, missing,
                    offset + FEATURE_NAMES.index("proxy_jacob_cov") if jacob else None)
        spread = float(prior.raw(x).std())
        prior.spread = spread if spread > 1e-9 else 1.0
        return prior

    def _known(self, x: np.ndarray, member: int) -> np.ndarray:
        m = self.missing[member]
        return x[:, m] < 0.5 if m is not None else np.ones(len(x), bool)

    def raw(self, x: np.ndarray) -> np.ndarray:
        z = (x[:, self.columns] - np.asarray(self.centers)) / np.asarray(self.scales)
        z = CLIP * np.arcsinh(np.nan_to_num(z) / CLIP)                            # (n, k)
        votes = np.stack([self._known(x, i) & np.isfinite(self.scales[i]) for i in range(len(self.columns))],
                         1).astype(np.float64)                                    # (n, k)
        total = votes.sum(1)
        return np.where(total > 0, (z * votes).sum(1) / np.maximum(total, 1.0), 0.0)

    def score(self, x: np.ndarray) -> np.ndarray:
        return self.raw(x) / self.spread

    def dead(self, x: np.ndarray) -> np.ndarray:
        """Rows whose output does not depend on the input (known only with proxies)."""
        if self.dead_index is None:
            return np.zeros(len(x), bool)
        known = x[:, self.dead_index + len(PROXY_NAMES)] < 0.5  # its _missing column
        return known & (x[:, self.dead_index] <= _JACOB_FLOOR + 1e-6)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "centers": self.centers, "scales": self.scales, "missing": self.missing,
                "dead_index": self.dead_index, "spread": self.spread}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CommitteePrior:
        return cls([int(c) for c in d["columns"]], [float(c) for c in d["centers"]],
                   [float(s) for s in d["scales"]], [None if m is None else int(m) for m in d["missing"]],
                   None if d["dead_index"] is None else int(d["dead_index"]), float(d["spread"]))
