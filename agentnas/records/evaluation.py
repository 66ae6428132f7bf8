"""What an evaluation of a candidate returns to the trusted side: its status, failure and metrics."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentnas.records.costs import Costs


class Metric(BaseModel):
    """The one object that knows a metric's direction: nobody flips signs by hand.

    `utility` turns a score into what searches maximise (the score itself when higher is
    better, its negative when lower is); `better` and `best` compare scores; `sort_key`
    orders scores best first. Trees, policies, gates, leaderboards and lessons ask it."""

    model_config = ConfigDict(frozen=True)

    name: str = "accuracy"
    higher_is_better: bool = True

    def better(self, a: float, b: float) -> bool:
        """True when score `a` is strictly better than score `b`."""
        return a > b if self.higher_is_better else a < b

    def utility(self, score: float) -> float:
        return score if self.higher_is_better else -score

    def utilities(self, scores: np.ndarray) -> np.ndarray:
        """`utility` of every score of an array (value-model predictions are scores)."""
        return np.asarray(scores, np.float64) * (1.0 if self.higher_is_better else -1.0)

    def score(self, utility: float) -> float:
        """The score whose utility this is (the inverse of `utility`)."""
        return utility if self.higher_is_better else -utility

    def sort_key(self, score: float | None) -> float:
        """Ascending sort by this key puts the best score first (None last)."""
        return float("inf") if score is None else -self.utility(score)

    def best(self, scores: list[float]) -> float | None:
        return max(scores, key=self.utility) if scores else None

    def delta(self, new: float, old: float) -> float:
        """How much better `new` is than `old` (negative: worse), in the score's units."""
        return self.utility(new) - self.utility(old)


ACCURACY = Metric()
# Causal token modelling: validation cross-entropy per scored token, in nats.
LOSS = Metric(name="loss", higher_is_better=False)
METRICS: dict[str, Metric] = {m.name: m for m in (ACCURACY, LOSS)}


def metric_named(name: str | None) -> Metric:
    """The metric a record names (records written before metrics had names are accuracy)."""
    return METRICS.get(name or "accuracy", ACCURACY)


class FailureKind(StrEnum):
    """Every way an evaluation can fail; the engineer agent and the search act on these."""

    SYNTAX = "syntax"
    IMPORT = "import"
    BUILD = "build"
    SHAPE = "shape"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    NONFINITE_LOSS = "nonfinite_loss"
    CRASH = "crash"
    ISOLATION_VIOLATION = "isolation_violation"
    EXPORT = "export"
    # A token model whose logits at a position changed when only later tokens changed: it
    # looks ahead, so its score would be a lie (agentnas/evaluator/causal.py).
    NON_CAUSAL = "non_causal"
    # Measured over a limit the user set (--max-params, --max-size-mb, --max-latency-ms): the
    # message names the figure and the limit; such a candidate is never trained.
    OVER_BUDGET = "over_budget"


class Failure(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: FailureKind
    message: str


class Metrics(BaseModel):
    """Every number the trusted side computed from a candidate's predictions.

    `metric` names the task's metric and `val_score`/`test_score` hold its values: the score
    a search ranks by, read through the task's `Metric` (which knows the direction). For
    classification the metric is "accuracy" and the score is the accuracy; for causal token
    modelling it is "loss" (cross-entropy per scored token, nats) and `val_accuracy` is the
    next-token accuracy on the same positions. Records written before the score existed
    hold only the accuracies: their score is derived from the metric's name on reading.
    """

    model_config = ConfigDict(frozen=True)

    val_accuracy: float
    test_accuracy: float
    val_loss: float | None = None
    test_loss: float | None = None
    metric: str = "accuracy"
    # Derived from the metric's name when not given (the validator below), so never NaN in a record.
    val_score: float = math.nan
    test_score: float = math.nan
    scored_tokens: int | None = Field(default=None, description="validation positions scored (token tasks)")

    @model_validator(mode="before")
    @classmethod
    def _derive_scores(cls, data: Any) -> Any:
        if not isinstance(data, dict) or ("val_score" in data and "test_score" in data):
            return data
        metric = str(data.get("metric", "accuracy"))
        if metric not in ("accuracy", "loss"):
            raise ValueError(f"metrics of {metric!r} must give val_score and test_score")
        out = dict(data)
        for split in ("val", "test"):
            out.setdefault(f"{split}_score", data.get(f"{split}_{metric}"))
        return out

    @property
    def val_bits(self) -> float | None:
        """Validation loss in bits per scored token (bits per character on a character task)."""
        return None if self.val_loss is None else self.val_loss / math.log(2)

    @property
    def test_bits(self) -> float | None:
        return None if self.test_loss is None else self.test_loss / math.log(2)


class EvalResult(BaseModel):
    """The outcome of one evaluation. Metrics are computed on the trusted side only."""

    model_config = ConfigDict(frozen=True)

    path: str
    status: str = Field(pattern="^(ok|failed)$")
    failure: Failure | None = None
    metrics: Metrics | None = None
    params: int | None = None
    flops: int | None = None
    train_seconds: float | None = None
    wall_seconds: float = 0.0
    onnx_path: str | None = None
    exporter: str | None = None
    export_error: str | None = None
    proxies: dict[str, float | None] | None = None  # zero-cost proxies from the sandbox: a prior, never a score
    costs: Costs | None = None  # measured on the trusted side from the exported graph (agentnas.encode.costs)
    task: str = ""
    epochs: int | None = None
    seed: int | None = None
    isolation: str = ""
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"
