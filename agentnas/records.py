"""Pydantic records that cross a boundary: evaluation requests and results."""

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


# -- LLM calls (agentnas.llm): cassette entries and ledger rows. None of them ever holds the API key
# or the endpoint URL, so they can go to the journal, logs and reports as they are.


class ChatMessage(BaseModel):
    """One chat message as sent to an OpenAI-compatible endpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: str = Field(pattern="^(system|user|assistant)$")
    content: str


class LLMUsage(BaseModel):
    """Tokens of one completion, as the server reported them (`estimated` when it reported none)."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLMRequest(BaseModel):
    """What one call asked: the cassette key is a hash of this (and an occurrence counter)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: str
    model: str
    messages: tuple[ChatMessage, ...]
    params: dict[str, object] = Field(default_factory=dict)


class LLMResponse(BaseModel):
    """What the endpoint answered (the assistant text, not the raw HTTP body)."""

    model_config = ConfigDict(frozen=True)

    content: str
    finish_reason: str | None = None
    model: str | None = None
    usage: LLMUsage = LLMUsage()


class LLMExchange(BaseModel):
    """One cassette entry: a request and its response under a deterministic key."""

    model_config = ConfigDict(frozen=True)

    key: str
    request: LLMRequest
    response: LLMResponse


class LLMCall(BaseModel):
    """One ledger row: a logical call (all its retries), live, replayed or failed."""

    model_config = ConfigDict(frozen=True)

    key: str | None = None
    role: str
    model: str
    status: str = Field(pattern="^(ok|replayed|error)$")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False
    cost_usd: float = 0.0
    priced: bool = True
    latency_s: float = 0.0
    attempts: int = 1
    stream: bool = False
    error: str | None = None


class LLMTotals(BaseModel):
    model_config = ConfigDict(frozen=True)

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class LLMSummary(BaseModel):
    """What the LLM cost a run: totals over every call, and per role."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    failed_calls: int = 0
    replayed_calls: int = 0
    estimated_calls: int = 0  # calls whose server reported no usage: their tokens are estimates
    unpriced_models: tuple[str, ...] = ()  # models without a price: their cost is unknown, not zero
    by_role: dict[str, LLMTotals] = Field(default_factory=dict)
    cap_hit: str | None = None

    def tokens_text(self) -> str:
        """'12,034+3,411' with a '~' and a note when some counts are estimates."""
        text = f"{self.prompt_tokens:,}+{self.completion_tokens:,}"
        if self.estimated_calls:
            return f"~{text} (estimated for {self.estimated_calls} of {self.calls} calls)"
        return text

    def cost_text(self) -> str:
        """'$0.0123', or 'unpriced (model)' when a model has no price (its cost is not zero, just unknown)."""
        if self.unpriced_models:
            priced = f"${self.cost_usd:.4f} + " if self.cost_usd else ""
            return f"{priced}unpriced ({', '.join(self.unpriced_models)})"
        return f"${self.cost_usd:.4f}"


# -- Experiments (agentnas.memory): one record per experiment, the unit the memory stores,
# retrieves and exports. Vectors travel with the record so an export moves between machines
# and backends without re-encoding anything (the architecture vector needs the sandbox).

from datetime import UTC, datetime  # noqa: E402  (kept beside the records that use it)


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
    store when absent). `score` is the validation accuracy: search selects on it; test
    accuracy is only reported.
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
    epochs: int | None = Field(default=None, gt=0)
    cost: ExperimentCost = ExperimentCost()
    created_at: datetime = Field(default_factory=_utc_now)
    finished_at: datetime | None = None
    arch_embedding: list[float] | None = None
    text_embedding: list[float] | None = None

    @property
    def score(self) -> float | None:
        return self.metrics.val_accuracy if self.metrics is not None else None
