"""Experiments as the memory stores them (agentnas.memory): one record per experiment."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from agentnas.records.costs import Costs
from agentnas.records.evaluation import Failure, Metric, Metrics, metric_named

# -- Experiments (agentnas.memory): one record per experiment, the unit the memory stores,
# retrieves and exports. Vectors travel with the record so an export moves between machines
# and backends without re-encoding anything (the architecture vector needs the sandbox).



class ExperimentStatus(StrEnum):
    """Where an experiment ended: trained and scored, failed (see `failure`), or only
    predicted by the value model (never trained)."""

    OK = "ok"
    FAILED = "failed"
    PREDICTED = "predicted"


class ExperimentCost(BaseModel):
    """What one experiment cost: LLM tokens and dollars, and compute seconds."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    cpu_seconds: float = Field(default=0.0, ge=0)
    gpu_seconds: float = Field(default=0.0, ge=0)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ExperimentRecord(BaseModel):
    """One experiment: what was tried (hypothesis, code, graph), how it went and what it taught.

    `id` is the upsert key of the memory. `code_hash` and `onnx_text_hash` are the duplicate
    keys (see agentnas.fingerprint); `arch_embedding` is the architecture vector of
    agentnas.memory.arch, `text_embedding` the MiniLM vector of the hypothesis (filled by the
    store when absent). `score` is the task metric's validation score (the accuracy, or a
    token task's loss; `metric` knows its direction): search selects on it; test scores are
    only reported.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")
    run_id: str = ""
    parent_id: str | None = None
    hypothesis_id: str | None = None
    hypothesis: str = ""
    code: str = ""
    code_hash: str = ""
    onnx_text_hash: str | None = None
    task: str = Field(min_length=1)
    status: ExperimentStatus = ExperimentStatus.OK
    metrics: Metrics | None = None
    failure: Failure | None = None
    lesson: str = ""
    params: int | None = Field(default=None, ge=0)
    flops: int | None = Field(default=None, ge=0)
    costs: Costs | None = None  # deployment costs measured from the exported graph (records written before: None)
    epochs: int | None = Field(default=None, gt=0)
    cost: ExperimentCost = ExperimentCost()
    created_at: datetime = Field(default_factory=_utc_now)
    finished_at: datetime | None = None
    arch_embedding: list[float] | None = None
    text_embedding: list[float] | None = None

    @property
    def score(self) -> float | None:
        """The task metric's validation score (the accuracy on classification tasks)."""
        return self.metrics.val_score if self.metrics is not None else None

    @property
    def metric(self) -> Metric:
        """The metric `score` is in, which knows its direction."""
        return metric_named(self.metrics.metric if self.metrics is not None else None)
