"""What an evaluation of a candidate returns to the trusted side: its status, failure and metrics."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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


class Failure(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: FailureKind
    message: str


class Metrics(BaseModel):
    model_config = ConfigDict(frozen=True)

    val_accuracy: float
    test_accuracy: float
    val_loss: float | None = None
    test_loss: float | None = None


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
    task: str = ""
    epochs: int | None = None
    seed: int | None = None
    isolation: str = ""
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"
