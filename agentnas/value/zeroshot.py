"""The zero-shot predictor: a deep ensemble of ranking heads over graph encodings, plus the
zero-cost committee prior (prior.py).

    mean = average over heads of the head's standardised score
           + prior_weight x committee score
           - DEAD_PENALTY if the network's output does not depend on its input

Heads learn what orders architectures in the training spaces; the committee (compute
measures and zero-cost proxies, no training) is what carries to a space nobody trained on.
`prior_weight` is chosen when fitting (`choose_prior_weight`): by leave-one-space-out
cross-validation when the training data holds two or more spaces (the honest question for
a shipped model is how it ranks a space it has never seen), by k-fold cross-validation
within the training set when asked ("cv": the predictor will be used on that same space),
and otherwise 1 — one space cannot tell how far its lessons carry, so the learned and the
unlearned experts get equal say.

`std` is the heads' spread: how much they disagree. Scores order architectures; they are
not accuracies. Encodings without proxies (an `.onnx` given directly) get the training
mean in the proxy columns for the heads, and a committee of the members they have.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from agentnas.encode.embed import EncodeMode
from agentnas.encode.features import FEATURE_NAMES
from agentnas.evaluator.proxies import PROXY_NAMES
from agentnas.value.metrics import kendall_tau
from agentnas.value.prior import DEAD_PENALTY, PRIOR_SIGNALS, CommitteePrior, feature_offset
from agentnas.value.ranking import RankHead, RankTraining, train_ranker

PRETRAINED = Path(__file__).resolve().parent / "pretrained" / "zeroshot.pt"
WEIGHT_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
DEFAULT_PRIOR_WEIGHT = 1.0
PriorWeight = float | Literal["auto", "cv"]


@dataclass
class ZeroShotPredictor:
    heads: list[RankHead]
    mode: EncodeMode
    centers: list[float]
    scales: list[float]
    info: dict[str, Any] = field(default_factory=dict)
    prior: CommitteePrior | None = None
    prior_weight: float = 0.0
    impute: dict[int, float] = field(default_factory=dict)  # proxy column -> training mean

    def _imputed(self, x: np.ndarray) -> np.ndarray:
        """Unknown proxies take their training mean (their `_missing` column sits len(PROXY_NAMES) on)."""
        if not self.impute:
            return x
        out = x
        for col, value in self.impute.items():
            unknown = x[:, col + len(PROXY_NAMES)] > 0.5
            if unknown.any():
                out = out.copy() if out is x else out
                out[unknown, col] = value
        return out

    def head_scores(self, x: np.ndarray) -> np.ndarray:
        """(heads, n) standardised scores."""
        x = self._imputed(x)
        return np.stack([(h.score(x) - c) / s for h, c, s in zip(self.heads, self.centers, self.scales,
                                                                  strict=True)])

    def prior_scores(self, x: np.ndarray) -> np.ndarray:
        return self.prior.score(x) if self.prior is not None else np.zeros(len(x))

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) per row of encodings `x` (n, d)."""
        x = np.atleast_2d(np.asarray(x, np.float32))
        if x.shape[1] != self.heads[0].dim:
            raise ValueError(f"encodings have {x.shape[1]} values; this value model expects {self.heads[0].dim} "
                             f"(mode {self.mode!r}): re-run `agentnas value pretrain`")
        scores = self.head_scores(x)
        mean = scores.mean(0)
        if self.prior is not None:
            mean = mean + self.prior_weight * self.prior.score(x) - DEAD_PENALTY * self.prior.dead(x)
        return mean, scores.std(0)

    def save(self, path: Path) -> None:
        blob = {"mode": self.mode, "centers": self.centers, "scales": self.scales, "info": self.info,
                "heads": [h.to_bytes() for h in self.heads], "prior_weight": self.prior_weight,
                "prior": self.prior.to_dict() if self.prior is not None else None,
                "impute": {str(k): v for k, v in self.impute.items()}}
        buf = io.BytesIO()
        torch.save(_plain(blob), buf)  # numpy scalars would not load with weights_only=True
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
        prior = blob.get("prior")
        return cls(heads=[RankHead.from_bytes(b) for b in blob["heads"]], mode=blob["mode"],
                   centers=list(blob["centers"]), scales=list(blob["scales"]), info=dict(blob["info"]),
                   prior=CommitteePrior.from_dict(prior) if prior is not None else None,
                   prior_weight=float(blob.get("prior_weight", 0.0)),
                   impute={int(k): float(v) for k, v in blob.get("impute", {}).items()})


def parse_prior_weight(text: str) -> PriorWeight:
    """A prior weight from the command line: "auto", "cv" or a number >= 0."""
    if text in ("auto", "cv"):
        return text  # type: ignore[return-value]
    try:
        weight = float(text)
    except ValueError:
        weight = float("nan")
    if not weight >= 0:
        raise ValueError(f"invalid prior weight {text!r}: expected a number >= 0, auto or cv")
    return weight


def _heads(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, members: int,
           base: RankTraining) -> tuple[list[RankHead], list[float], list[float]]:
    heads, centers, scales = [], [], []
    for seed in range(members):
        head = train_ranker(x, y, RankTraining(**{**base.__dict__, "seed": base.seed + seed}), groups)
        s = head.score(x)
        heads.append(head)
        centers.append(float(s.mean()))
        scales.append(float(s.std() or 1.0))
    return heads, centers, scales


def _impute(x: np.ndarray, mode: EncodeMode) -> dict[int, float]:
    offset = feature_offset(mode)
    if offset is None:
        return {}
    out = {}
    for name in PROXY_NAMES:
        col = offset + FEATURE_NAMES.index(f"proxy_{name}")
        known = x[:, col + len(PROXY_NAMES)] < 0.5
        out[col] = float(x[known, col].mean()) if known.any() else 0.0
    return out


def _fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, mode: EncodeMode, members: int,
         training: RankTraining, signals: tuple[str, ...], weight: float) -> ZeroShotPredictor:
    heads, centers, scales = _heads(x, y, groups, members, training)
    return ZeroShotPredictor(heads, mode, centers, scales, prior=CommitteePrior.fit(x, mode, signals),
                             prior_weight=weight, impute=_impute(x, mode))


def _grouped_tau(score: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Mean Kendall τ within each group: accuracies of two groups are not comparable."""
    return float(np.mean([kendall_tau(score[groups == g], y[groups == g]) for g in np.unique(groups)]))


def choose_prior_weight(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, mode: EncodeMode,
                        policy: PriorWeight, members: int, training: RankTraining,
                        signals: tuple[str, ...] = PRIOR_SIGNALS, folds: int = 4) -> tuple[float, dict[str, Any]]:
    """(weight, how it was chosen). Only the training data is looked at (see the module docstring)."""
    if not isinstance(policy, str):
        return float(policy), {"rule": "given"}
    ids = np.zeros(len(y), int) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    if policy == "auto" and len(np.unique(ids)) < 2:
        return DEFAULT_PRIOR_WEIGHT, {"rule": "one space: equal say for heads and committee"}
    if policy == "auto":
        splits = [(ids != g, ids == g) for g in np.unique(ids)]
        rule = "leave-one-space-out"
    else:
        order = np.random.default_rng(training.seed).permutation(len(y))
        fold = np.empty(len(y), int)
        fold[order] = np.arange(len(y)) % folds
        splits = [(fold != f, fold == f) for f in range(folds)]
        rule = f"{folds}-fold within the training set"
    taus = np.zeros(len(WEIGHT_GRID))
    for train, test in splits:
        # Fewer heads than the final ensemble: the CV only ranks a handful of weights.
        model = _fit(x[train], y[train], ids[train], mode, min(members, 3), training, signals, 0.0)
        heads = model.head_scores(x[test]).mean(0)
        prior = model.prior_scores(x[test])
        for i, w in enumerate(WEIGHT_GRID):
            taus[i] += _grouped_tau(heads + w * prior, y[test], ids[test]) / len(splits)
    best = int(np.argmax(taus))
    return WEIGHT_GRID[best], {"rule": rule, "grid": list(WEIGHT_GRID), "cv_tau": [round(t, 4) for t in taus]}


def fit_ensemble(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, mode: EncodeMode,
                 members: int = 5, training: RankTraining | None = None,
                 info: dict[str, Any] | None = None, flops_weight: PriorWeight | None = None, *,
                 prior_weight: PriorWeight = "auto", signals: tuple[str, ...] = PRIOR_SIGNALS) -> ZeroShotPredictor:
    """Train `members` heads with different seeds (a deep ensemble) on the same data, plus the
    committee prior, its weight chosen by `prior_weight` (a number, "auto" or "cv"; see the
    module docstring). `flops_weight` is the former name of `prior_weight` and wins if given."""
    base = training or RankTraining()
    policy = flops_weight if flops_weight is not None else prior_weight
    weight, how = choose_prior_weight(x, y, groups, mode, policy, members, base, signals)
    model = _fit(x, y, groups, mode, members, base, signals, weight)
    model.info = {**(info or {}), "prior_weight": weight, "prior_weight_choice": how, "prior_signals": list(signals)}
    return model


def _plain(obj: Any) -> Any:
    """The blob with numpy scalars and arrays turned into Python numbers and lists."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
