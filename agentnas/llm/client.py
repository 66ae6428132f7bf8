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
from agentnas.llm.errors import (
    CallFailureKind,
    CassetteMiss,
    EndpointDown,
    InvalidReply,
    InvalidReplyKind,
    LLMCallFailed,
    LLMConfigError,
)
from agentnas.llm.ledger import Ledger, estimate_tokens
from agentnas.llm.prompts import Prompt
from agentnas.llm.retry import RetryPolicy
from agentnas.llm.schemas import AgentReply
from agentnas.llm.structured import parse_response, repair_messages, reply_style, response_formats, with_schema
from agentnas.llm.transport import AnswerEnd, MalformedResponse, chat_once, classify
from agentnas.records import ChatMessage, LLMCall, LLMRequest, LLMResponse, LLMUsage

T = TypeVar("T", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)
CassetteMode = Literal["record", "replay", "auto"]
MessagesIn = Sequence[ChatMessage | Mapping[str, str]]
_FAILURES = (openai.APIError, MalformedResponse)
# After its retries, a call that failed this way means the endpoint cannot serve the run at all.
_DOWN_AT_ONCE = {CallFailureKind.NOT_FOUND: "the server does not know the model (check --llm-model and the "
                                            "server's GET /v1/models)",
                 CallFailureKind.AUTH: "the server rejected the API key (check $OPENAI_API_KEY)",
                 CallFailureKind.CONNECTION: "the server cannot be reached (is it running?)",
                 CallFailureKind.TIMEOUT: "the server did not answer in time (raise [llm] timeout_s for slow "
                                          "local models)",
                 CallFailureKind.SERVER_ERROR: "the server keeps failing",
                 CallFailureKind.RATE_LIMITED: "the server keeps refusing with rate limits"}
def _refuses_format(kind: CallFailureKind, message: str) -> bool:
    """A failure that says the server does not take this `response_format` (llama-cpp-python answers
    an unknown format with HTTP 500 and a validation error naming the field)."""
    if kind is CallFailureKind.BAD_REQUEST:
        return True
    return kind in (CallFailureKind.SERVER_ERROR, CallFailureKind.HTTP_ERROR) and (
        "response_format" in message or "json_schema" in message)


def _one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


FAILURES_IN_A_ROW = 3  # other failures (400s, malformed bodies) stop the run when they repeat
MAX_TIMEOUT_RETRIES = 1  # a timed-out call is retried once: each try costs the whole timeout


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


REPAIR_TEMPERATURE = 1.0  # the least temperature of a reply asked again in the same conversation


class LLMClient:
    def __init__(self, config: LLMConfig, *, cassette: Cassette | None = None, mode: CassetteMode = "record",
                 ledger: Ledger | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, openai_client: openai.OpenAI | None = None,
                 notify: Callable[[str], None] | None = None) -> None:
        """`notify` hears every failed attempt and retry at once (the run prints it on the terminal)."""
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
        self._format_level = 0 if config.structured else 99  # index into the response formats still tried
        self.notify = notify
        self._failures_in_a_row = 0
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
                 timeout_s: float | None = None,
                 formats: tuple[dict[str, object], ...] = (), until: AnswerEnd | None = None) -> LLMReply:
        """One completion for `role`. Raises `LLMCallFailed`, `EndpointDown`, `BudgetExceeded` or
        `CassetteMiss`. `formats`: structured-output `response_format`s to try, best first; one the
        server refuses is not sent again this session. They are not part of the cassette key: a
        replay serves the recorded answer whichever format the live call used. `until`: where the
        answer is complete in a reply's text (see `transport.chat_once`); it makes the call streamed
        so that a model writing on past its answer is not read (nor waited for) any further."""
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
        use_stream = (self.config.stream if stream is None else stream) or until is not None
        response, attempts, latency = self._attempts(request, key, use_stream, timeout_s or self.config.timeout_s,
                                                     formats, until)
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
        style = reply_style(schema, self.config.reply_format)
        msgs = with_schema([m if isinstance(m, ChatMessage) else ChatMessage.model_validate(dict(m))
                            for m in messages], schema, style)
        formats = response_formats(schema, style)
        # a reply in words is complete at its answer (a code block): small models write on past it
        until = schema.answer_end if (issubclass(schema, AgentReply) and style == "markdown"
                                      and self.config.stop_after_answer) else None
        for n in range(repairs + 1):
            # a repair round is asked hotter: at a low temperature a small model gave the same unusable
            # reply again, word for word, after being told what was wrong with it
            hot = temperature if n == 0 else max(temperature or 0.0, REPAIR_TEMPERATURE)
            reply = self.complete(role, msgs, stream=stream, temperature=hot, max_tokens=max_tokens,
                                  timeout_s=timeout_s, formats=formats, until=until)
            try:
                parsed = parse_response(LLMResponse(content=reply.content, finish_reason=reply.finish_reason),
                                        schema)
            except InvalidReply as e:
                e.role, e.key = role, reply.key
                # A cut reply is not asked again in the same conversation: the retry carries the cut text
                # and the same task, and a model that ran out of tokens once runs out again (local models
                # spent minutes per retry doing so); the caller's re-ask or fallback is cheaper.
                if n == repairs or e.kind is InvalidReplyKind.TRUNCATED:
                    raise
                msgs = repair_messages(msgs, reply.content, e, schema, style)
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

    def _attempts(self, request: LLMRequest, key: str, stream: bool, timeout: float,
                  formats: tuple[dict[str, object], ...] = (),
                  until: AnswerEnd | None = None) -> tuple[LLMResponse, int, float]:
        assert self._openai is not None
        start = self.clock()
        attempt = 0
        timeouts = 0
        while True:
            attempt += 1
            structured = formats[self._format_level] if self._format_level < len(formats) else None
            try:
                response = chat_once(self._openai, request, stream=stream, json_mode=self._json_mode,
                                     timeout=timeout, response_format=structured, until=until)
                self._failures_in_a_row = 0
                return response, attempt, self.clock() - start
            except _FAILURES as exc:
                kind, message, status, after = classify(exc, self.wall_clock())
                if structured is not None and _refuses_format(kind, message):
                    self._format_level += 1  # the server refuses this response_format: try the next, or none
                    attempt -= 1
                    continue
                if kind is CallFailureKind.BAD_REQUEST and self._json_mode:
                    self._json_mode = False  # the server refuses response_format: never rely on it
                    attempt -= 1
                    continue
                timeouts += kind is CallFailureKind.TIMEOUT
                if not kind.retryable or attempt > self.retry.max_retries or timeouts > MAX_TIMEOUT_RETRIES:
                    self._give_up(request, key, stream, start, attempt, kind, message, status)
                wait = self.retry.delay(attempt - 1, after, self._rng)
                self._say(f"LLM {request.role} call to {self.config.base_url} failed ({kind}: "
                          f"{_one_line(self._scrub(message))}); retry {attempt} of {self.retry.max_retries} "
                          f"in {wait:.1f} s")
                self.sleep(wait)

    def _give_up(self, request: LLMRequest, key: str, stream: bool, start: float, attempt: int,
                 kind: CallFailureKind, message: str, status: int | None) -> None:
        """Record the failed call, then raise `EndpointDown` when the endpoint cannot serve the run,
        else `LLMCallFailed` (the caller falls back for this one call)."""
        self.ledger.add(LLMCall(key=key, role=request.role, model=request.model, status="error",
                                latency_s=self.clock() - start, attempts=attempt, stream=stream,
                                priced=self.ledger.priced(request.model), error=self._scrub(f"{kind}: {message}")))
        self._failures_in_a_row += 1
        text = self._scrub(message)
        why = _DOWN_AT_ONCE.get(kind)
        if why is None and self._failures_in_a_row >= FAILURES_IN_A_ROW:
            why = f"{self._failures_in_a_row} calls in a row failed"
        if why is not None:
            raise EndpointDown(f"LLM endpoint {self.config.base_url} (model {request.model!r}): {why}; last "
                               f"error after {attempt} attempt(s): {kind}: {text}", kind=kind,
                               base_url=self.config.base_url or "", role=request.role, model=request.model,
                               attempts=attempt, status_code=status) from None
        self._say(f"LLM {request.role} call failed ({kind}: {_one_line(text)}); this call's role falls back")
        raise LLMCallFailed(kind, text, role=request.role, model=request.model, attempts=attempt,
                            status_code=status) from None

    def _say(self, message: str) -> None:
        if self.notify is not None:
            self.notify(message)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _redacted(self, record: M) -> M:
        """The record with the API key blanked wherever it might have slipped in (it never should)."""
        if not self._secret or self._secret not in record.model_dump_json():
            return record
        return type(record).model_validate_json(self._scrub(record.model_dump_json()))
