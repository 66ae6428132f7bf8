"""What the scripted OpenAI server (scripted_openai.py) answers and records: `Reply`, one
scripted answer, and `RecordedRequest`, one request as received.

Faults a `Reply` can inject: any status with headers (429 + Retry-After / retry-after-ms,
500, ...), a delay before the response (beyond the client's timeout), a non-JSON body, arbitrary
JSON (e.g. missing fields), a dropped connection, and prose without JSON (just `Reply.text`).

Usage: by default `prompt_tokens` is the number of whitespace-separated words over all message
contents and `completion_tokens` the words of the reply (at least 1 each); a `Reply` can set
them. `usage` counts them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """One scripted answer to a chat completion request."""

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0                  # before anything is sent
    raw_body: bytes | None = None         # sent verbatim instead of a completion (malformed replies)
    json_body: Any = None                 # sent as JSON instead of a completion (e.g. missing fields)
    prompt_tokens: int | None = None      # None: counted from the request
    completion_tokens: int | None = None  # None: counted from `content`
    finish_reason: str = "stop"
    stream_pieces: int = 4                # content deltas when streamed
    chunk_delay_s: float = 0.0            # between streamed chunks
    omit_usage: bool = False              # a server that never reports usage
    disconnect: bool = False              # close the connection without answering
    tool_call: bool = False               # answer through a tool call: content null, `content` as its arguments

    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        return cls(content=content, **kw)

    @classmethod
    def json(cls, obj: Any, **kw: Any) -> Reply:
        """A completion whose message content is `obj` as JSON."""
        return cls(content=json.dumps(obj), **kw)

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1.0, retry_after_ms: float | None = None) -> Reply:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        return cls(status=429, headers=headers,
                   json_body={"error": {"message": "rate limited", "type": "rate_limit_error", "code": "429"}})

    @classmethod
    def error(cls, status: int = 500, message: str = "scripted server error") -> Reply:
        return cls(status=status, json_body={"error": {"message": message, "type": "server_error", "code": None}})

    @classmethod
    def slow(cls, delay_s: float, content: str = "late") -> Reply:
        return cls(content=content, delay_s=delay_s)

    @classmethod
    def not_json(cls, body: bytes = b"<html>502 bad gateway from a proxy</html>") -> Reply:
        return cls(raw_body=body, headers={"Content-Type": "text/html"})

    @classmethod
    def missing_fields(cls) -> Reply:
        return cls(json_body={"id": "chatcmpl-broken", "object": "chat.completion"})

    @classmethod
    def dropped(cls) -> Reply:
        return cls(disconnect=True)


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received: method, path, lower-cased headers and the JSON body (or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


def count_words(text: str) -> int:
    return len(text.split())


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def as_reply(r: Reply | str) -> Reply:
    return Reply.text(r) if isinstance(r, str) else r


def usage(request: RecordedRequest, reply: Reply) -> dict[str, int]:
    """The usage reported for `reply` to `request` (see the module docstring)."""
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = max(1, sum(count_words(_content_text(m.get("content"))) for m in request.messages))
    completion = reply.completion_tokens
    if completion is None:
        completion = max(1, count_words(reply.content))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def split_text(text: str, n: int) -> list[str]:
    """`text` in `n` roughly equal pieces that concatenate back to it."""
    if not text:
        return []
    n = max(1, min(n, len(text)))
    step = -(-len(text) // n)
    return [text[i:i + step] for i in range(0, len(text), step)]
