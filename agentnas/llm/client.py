"""`LLMClient`: the one way agentnas talks to an OpenAI-compatible endpoint.

Every call: a cassette key -> (replay: the recorded answer, or `CassetteMiss`) -> budget check ->
attempts with our retries -> cassette record -> ledger row (-> `BudgetExceeded` if that call
crossed a cap). Modes, when a cassette is given:

- "record": always call the endpoint, record every exchange (a fresh run);
- "replay": serve only from the cassette, never open a connection (`CassetteMiss` if absent);
- "auto":   serve what the cassette has, call the endpoint for the rest (resuming a run).

Side effects are injected (sleep, wall clock, RNG, even the openai client), so tests run the
real `openai` client against a scripted server without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import openai
from pydantic import BaseModel

from agentnas.llm.cassette import Cassette, KeyCounter
from agentnas.llm.config import LLMConfig
from agentnas.llm.connectivity import ConnectivityReport, check_endpoint
from agentnas.llm.errors import CallFailureKind, CassetteMiss, InvalidReply, LLMCallFailed, LLMConfigError
from agentnas.llm.ledger import Ledger, estimate_tokens
from agentnas.llm.prompts import Prompt
from agentnas.llm.retry import RetryPolicy
from agentnas.llm.schemas import AgentReply
from agentnas.llm.structured import parse_response, repair_messages, with_schema
from agentnas.llm.transport import MalformedResponse, chat_once, classify
from agentnas.records import ChatMessage, LLMCall, LLMRequest, LLMResponse, LLMUsage

T = TypeVar("T", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)
CassetteMode = Literal["record", "replay", "auto"]
MessagesIn = Sequence[ChatMessage | Mapping[str, str]]
_FAILURES = (openai.APIError, MalformedResponse)


@dataclass(frozen=True)
class LLMReply:
    """A completion as the caller sees it: the cassette key links it to the journal."""

    key: str
    role: str
    model: str
    content: str
    finish_reason: str | None
    usage: LLMUsage
    replayed: bool
    attempts: int


@dataclass(frozen=True)
class StructuredReply(Generic[T]):
    """A validated structured reply. `completions` counts the calls it took (repairs included),
    `via` says how it was found (json, fenced_json, embedded_json, fenced_code)."""

    value: T
    reply: LLMReply
    via: str
    completions: int


class LLMClient:
    def __init__(self, config: LLMConfig, *, cassette: Cassette | None = None, mode: CassetteMode = "record",
                 ledger: Ledger | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, openai_client: openai.OpenAI | None = None) -> None:
        if mode not in ("record", "replay", "auto"):
            raise LLMConfigError(f"unknown cassette mode {mode!r}; expected record, replay or auto")
        if mode == "replay" and cassette is None:
            raise LLMConfigError("replay mode needs a cassette to serve from")
        self.config = config
        self.cassette = cassette
        self.mode: CassetteMode = mode
        self.ledger = ledger or Ledger(config.prices, config.caps)
        self.retry = RetryPolicy(config.max_retries, config.backoff_base_s, config.backoff_max_s,
                                 config.max_retry_after_s)
        self.sleep, self.clock, self.wall_clock = sleep, clock, wall_clock
        self._rng = rng or random.Random()
        self._keys = KeyCounter()
        self._json_mode = config.json_mode
        self._secret = config.api_key.get_secret_value() if config.api_key is not None else None
        self._openai: openai.OpenAI | None = openai_client
        if mode != "replay" and openai_client is None:
            # Our retries, not the SDK's: they must be visible, capped and honour Retry-After.
            self._openai = openai.OpenAI(base_url=config.require_endpoint(), api_key=config.api_key_value(),
                                         max_retries=0, timeout=config.timeout_s)

    def __repr__(self) -> str:
        return f"LLMClient(base_url={self.config.base_url!r}, mode={self.mode!r}, models={self.config.models()})"

    def close(self) -> None:
        if self._openai is not None:
            self._openai.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- start-up --------------------------------------------------------------------------------
    def check(self) -> ConnectivityReport:
        """Fail fast (`LLMUnavailable`) on an endpoint that is down, hangs or rejects the key."""
        if self.mode == "replay" or self._openai is None:
            return ConnectivityReport(base_url=self.config.base_url or "", method="replay")
        return check_endpoint(self, self._openai)

    # -- calls -----------------------------------------------------------------------------------
    def complete(self, role: str, messages: MessagesIn, *, stream: bool | None = None,
                 temperature: float | None = None, max_tokens: int | None = None,
                 timeout_s: float | None = None) -> LLMReply:
        """One completion for `role`. Raises `LLMCallFailed`, `BudgetExceeded` or `CassetteMiss`."""
        model = self.config.model_for(role)
        msgs = tuple(m if isinstance(m, ChatMessage) else ChatMessage.model_validate(dict(m)) for m in messages)
        params: dict[str, object] = {
            "temperature": self.config.temperature if temperature is None else temperature,
            "max_tokens": self.config.max_completion_tokens if max_tokens is None else max_tokens,
            "json_mode": self.config.json_mode,
        }
        request = LLMRequest(role=role, model=model, messages=msgs, params=params)
        key = self._keys.next_key(request)
        if self.cassette is not None and self.mode != "record":
            hit = self.cassette.lookup(key)
            if hit is not None:
                return self._replayed(key, request, hit.response)
            if self.mode == "replay":
                raise CassetteMiss(key, role, model)
        self.ledger.check_before(model, estimate_tokens("".join(m.content for m in msgs)),
                                 params["max_tokens"] if isinstance(params["max_tokens"], int) else None)
        use_stream = self.config.stream if stream is None else stream
        response, attempts, latency = self._attempts(request, key, use_stream, timeout_s or self.config.timeout_s)
        if self.cassette is not None:
            self.cassette.record(key, self._redacted(request), self._redacted(response))
        usage = response.usage
        self.ledger.add(LLMCall(key=key, role=role, model=model, status="ok", prompt_tokens=usage.prompt_tokens,
                                completion_tokens=usage.completion_tokens, usage_estimated=usage.estimated,
                                cost_usd=self.ledger.cost(model, usage.prompt_tokens, usage.completion_tokens),
                                priced=self.ledger.priced(model), latency_s=latency, attempts=attempts,
                                stream=use_stream), response)
        return LLMReply(key, role, model, response.content, response.finish_reason, usage, False, attempts)

    def complete_structured(self, role: str, messages: MessagesIn, schema: type[T], *, repairs: int = 0,
                            stream: bool | None = None, temperature: float | None = None,
                            max_tokens: int | None = None, timeout_s: float | None = None) -> StructuredReply[T]:
        """A reply validated against `schema` (which is put into the prompt).

        An unusable reply raises `InvalidReply` (kind, message, raw text, cassette key); with `repairs` > 0
        the model is first shown its reply and the problem, up to that many times, in the same conversation.
        """
        msgs = with_schema([m if isinstance(m, ChatMessage) else ChatMessage.model_validate(dict(m))
                            for m in messages], schema)
        for n in range(repairs + 1):
            reply = self.complete(role, msgs, stream=stream, temperature=temperature, max_tokens=max_tokens,
                                  timeout_s=timeout_s)
            try:
                parsed = parse_response(LLMResponse(content=reply.content, finish_reason=reply.finish_reason),
                                        schema)
            except InvalidReply as e:
                e.role, e.key = role, reply.key
                if n == repairs:
                    raise
                msgs = repair_messages(msgs, reply.content, e)
                continue
            return StructuredReply(parsed.value, reply, parsed.via, n + 1)
        raise AssertionError("unreachable")

    def ask(self, prompt: Prompt, *, repairs: int = 0, **kw: Any) -> StructuredReply[AgentReply]:
        """`complete_structured` for an assembled prompt: its role, messages and reply schema."""
        return self.complete_structured(prompt.role, prompt.messages, prompt.reply_schema, repairs=repairs, **kw)

    # -- internals -------------------------------------------------------------------------------
    def _replayed(self, key: str, request: LLMRequest, response: LLMResponse) -> LLMReply:
        u = response.usage
        self.ledger.add(LLMCall(key=key, role=request.role, model=request.model, status="replayed",
                                prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
                                usage_estimated=u.estimated, priced=self.ledger.priced(request.model),
                                cost_usd=self.ledger.cost(request.model, u.prompt_tokens, u.completion_tokens)))
        return LLMReply(key, request.role, request.model, response.content, response.finish_reason, u, True, 0)

    def _attempts(self, request: LLMRequest, key: str, stream: bool,
                  timeout: float) -> tuple[LLMResponse, int, float]:
        assert self._openai is not None
        start = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = chat_once(self._openai, request, stream=stream, json_mode=self._json_mode,
                                     timeout=timeout)
                return response, attempt, self.clock() - start
            except _FAILURES as exc:
                kind, message, status, after = classify(exc, self.wall_clock())
                if kind is CallFailureKind.BAD_REQUEST and self._json_mode:
                    self._json_mode = False  # the server refuses response_format: never rely on it
                    attempt -= 1
                    continue
                if not kind.retryable or attempt > self.retry.max_retries:
                    self.ledger.add(LLMCall(key=key, role=request.role, model=request.model, status="error",
                                            latency_s=self.clock() - start, attempts=attempt, stream=stream,
                                            priced=self.ledger.priced(request.model),
                                            error=self._scrub(f"{kind}: {message}")))
                    raise LLMCallFailed(kind, self._scrub(message), role=request.role, model=request.model,
                                        attempts=attempt, status_code=status) from None
                self.sleep(self.retry.delay(attempt - 1, after, self._rng))

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _redacted(self, record: M) -> M:
        """The record with the API key blanked wherever it might have slipped in (it never should)."""
        if not self._secret or self._secret not in record.model_dump_json():
            return record
        return type(record).model_validate_json(self._scrub(record.model_dump_json()))
