"""LLM calls (agentnas.llm): cassette entries and ledger rows, never holding the API key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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
    """One role's share of the calls `summarise` counted (errors among them; replayed ones beside)."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    errors: int = 0
    replayed: int = 0
    latency_s: float = 0.0
    estimated: int = 0      # calls whose token counts are estimates
    unpriced: bool = False  # a model without a price answered: the cost is unknown, not zero


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
