"""Typed failures of the LLM layer. Callers act on the class and its `kind`; nothing here crashes a run.

None of these messages ever holds the API key: they are built from status codes, error bodies
and our own words, never from request headers.
"""

from __future__ import annotations

from enum import StrEnum

from agentnas.records import LLMResponse, LLMSummary


class LLMError(Exception):
    """Base class of every failure the LLM layer raises on purpose."""


class LLMConfigError(LLMError, ValueError):
    """The LLM configuration is invalid or incomplete; the message says which value and how to fix it."""


class LLMUnavailable(LLMError):
    """The start-up connectivity check failed: the endpoint is unreachable, hangs, or rejects the key."""


class CallFailureKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    MALFORMED = "malformed"      # a 200 whose body is not a chat completion (a proxy page, missing fields)
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"      # usually an unknown model name
    HTTP_ERROR = "http_error"    # any other status

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = {CallFailureKind.RATE_LIMITED, CallFailureKind.SERVER_ERROR, CallFailureKind.TIMEOUT,
              CallFailureKind.CONNECTION, CallFailureKind.MALFORMED}


class LLMCallFailed(LLMError):
    """A call failed for good: a non-retryable error, or retries were used up."""

    def __init__(self, kind: CallFailureKind, message: str, *, role: str, model: str, attempts: int,
                 status_code: int | None = None) -> None:
        super().__init__(f"{role} call to model {model!r} failed after {attempts} attempt(s) [{kind}]: {message}")
        self.kind = kind
        self.role = role
        self.model = model
        self.attempts = attempts
        self.status_code = status_code


class InvalidReplyKind(StrEnum):
    EMPTY = "empty"           # no text at all
    NO_JSON = "no_json"       # prose with neither a JSON object nor usable fenced code
    NO_CODE = "no_code"       # a reply in words that should carry a model file, without one
    SCHEMA = "schema"         # a JSON object that does not validate against the schema
    TRUNCATED = "truncated"   # the reply hit the token limit before the object was complete
    ECHO = "echo"             # the reply only repeated the prompt's reply-format instructions


class InvalidReply(LLMError):
    """The model answered, but not with what the schema asks. Retry, or repair by showing it `message`."""

    def __init__(self, kind: InvalidReplyKind, message: str, *, schema: str, raw: str, role: str = "",
                 key: str | None = None) -> None:
        super().__init__(f"invalid {schema} reply [{kind}]: {message}")
        self.kind = kind
        self.detail = message
        self.schema = schema
        self.raw = raw
        self.role = role
        self.key = key


class BudgetExceeded(LLMError):
    """A hard cap (USD, tokens or calls) stops further calls. Raised before a call that would exceed a cap,
    and after the call that did (then `response` holds that paid-for answer, already in the ledger)."""

    def __init__(self, cap: str, limit: float, used: float, summary: LLMSummary,
                 response: LLMResponse | None = None) -> None:
        super().__init__(f"LLM budget cap reached: {cap} {used:g} of {limit:g}; no further calls are made")
        self.cap = cap
        self.limit = limit
        self.used = used
        self.summary = summary
        self.response = response


class EndpointDown(LLMCallFailed):
    """A failed call that says the endpoint cannot serve this run: an unknown model, a rejected key,
    a server that is down or dying, or several failed calls in a row. The run stops at once
    (resumable) instead of spending iterations against it."""

    def __init__(self, message: str, *, kind: CallFailureKind, base_url: str, role: str, model: str,
                 attempts: int, status_code: int | None = None) -> None:
        super().__init__(kind, message, role=role, model=model, attempts=attempts, status_code=status_code)
        self.args = (message,)
        self.base_url = base_url

    def __str__(self) -> str:
        return str(self.args[0])


class CassetteMiss(LLMError):
    """Replay mode found no recorded response for a request: the run being replayed never made this call."""

    def __init__(self, key: str, role: str, model: str) -> None:
        super().__init__(
            f"cassette has no entry for key {key} (role {role}, model {model!r}); replay serves recorded "
            "calls only, so the prompts, models or call order differ from the recorded run")
        self.key = key
        self.role = role
        self.model = model


class CassetteConflict(LLMError):
    """A cassette already holds another response under this key (recording over an older run)."""


# Raised through every agent role: each ends the run (gracefully, resumable) or fails a replay loudly.
FATAL: tuple[type[LLMError], ...] = (BudgetExceeded, EndpointDown, CassetteMiss)
