"""One HTTP attempt through the `openai` client, and what its failure means.

`chat_once` returns an `LLMResponse` or raises: an `openai` error, or `MalformedResponse` when
a 200 carries something that is not a chat completion (a proxy's HTML page, missing fields).
`classify` maps any of those to a `CallFailureKind` and the server's Retry-After.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai

from agentnas.llm.errors import CallFailureKind
from agentnas.llm.ledger import estimate_tokens
from agentnas.llm.retry import retry_after_seconds
from agentnas.records import LLMRequest, LLMResponse, LLMUsage


class MalformedResponse(Exception):
    """A successful status with a body that is not a usable chat completion."""


def api_params(request: LLMRequest, *, json_mode: bool,
               response_format: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments for `chat.completions.create` (parameters left as None are not sent).
    `response_format` (structured output) wins over the plain `json_mode`."""
    params: dict[str, Any] = {"model": request.model,
                              "messages": [m.model_dump() for m in request.messages]}
    if request.params.get("temperature") is not None:
        params["temperature"] = request.params["temperature"]
    if request.params.get("max_tokens") is not None:
        params["max_tokens"] = request.params["max_tokens"]
    if response_format is not None:
        params["response_format"] = response_format
    elif json_mode:
        params["response_format"] = {"type": "json_object"}
    return params


def _usage(raw: Any, request: LLMRequest, content: str) -> LLMUsage:
    prompt = getattr(raw, "prompt_tokens", None)
    completion = getattr(raw, "completion_tokens", None)
    if isinstance(prompt, int) and isinstance(completion, int):
        return LLMUsage(prompt_tokens=prompt, completion_tokens=completion)
    # A server that reports no usage still spends: estimate, so caps keep holding.
    text = "".join(m.content for m in request.messages)
    return LLMUsage(prompt_tokens=estimate_tokens(text), completion_tokens=estimate_tokens(content), estimated=True)


# Text past a complete answer (see `AnswerEnd`) that makes a streamed reply stop being read: a little
# slack, so a reply that ends with a closing sentence still ends on its own and keeps its exact usage.
RAMBLE_CHARS = 40
ANSWER_COMPLETE = "answer_complete"  # the finish reason of a reply the client stopped reading

AnswerEnd = Callable[[str], "int | None"]


def chat_once(client: openai.OpenAI, request: LLMRequest, *, stream: bool, json_mode: bool,
              timeout: float, response_format: dict[str, Any] | None = None,
              until: AnswerEnd | None = None) -> LLMResponse:
    """`until` (streamed replies only): where the answer in the text so far is complete, or None; once
    the model writes on past it, the rest is not read (closing the stream ends the generation on
    llama.cpp, vLLM and OpenAI) and the reply is the answer, its usage estimated."""
    params = api_params(request, json_mode=json_mode, response_format=response_format)
    if stream:
        return _streamed(client, request, params, timeout, until)
    completion: Any = client.chat.completions.create(**params, timeout=timeout)
    choices = getattr(completion, "choices", None)
    if not choices:
        raise MalformedResponse(_describe(completion))
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str) or not content.strip():
        # Servers that answer through a tool call leave `content` null: the arguments are the answer.
        content = _tool_arguments(getattr(message, "tool_calls", None)) or content
    if not isinstance(content, str):
        raise MalformedResponse("the completion's first choice has no message content and no tool call")
    return LLMResponse(content=content, finish_reason=getattr(choices[0], "finish_reason", None),
                       model=getattr(completion, "model", None), usage=_usage(completion.usage, request, content))


def _streamed(client: openai.OpenAI, request: LLMRequest, params: dict[str, Any], timeout: float,
              until: AnswerEnd | None = None) -> LLMResponse:
    parts: list[str] = []
    tool_parts: list[str] = []  # arguments of a streamed tool call, for servers that answer that way
    finish: str | None = None
    model: str | None = None
    usage: Any = None
    stream: Any = client.chat.completions.create(**params, stream=True, stream_options={"include_usage": True},
                                                 timeout=timeout)
    with stream:
        for chunk in stream:
            if not hasattr(chunk, "choices"):
                raise MalformedResponse(f"a streamed event is not a completion chunk: {_describe(chunk)}")
            model = getattr(chunk, "model", None) or model
            if getattr(chunk, "usage", None) is not None:
                usage = chunk.usage
            for choice in chunk.choices or ():
                delta = getattr(choice, "delta", None)
                if delta is not None and getattr(delta, "content", None):
                    parts.append(delta.content)
                for call in getattr(delta, "tool_calls", None) or ():
                    piece = getattr(getattr(call, "function", None), "arguments", None)
                    if isinstance(piece, str):
                        tool_parts.append(piece)
                finish = getattr(choice, "finish_reason", None) or finish
            if until is not None and finish is None and parts:
                text = "".join(parts)
                end = until(text)
                if end is not None and len(text[end:].strip()) > RAMBLE_CHARS:
                    parts, finish, usage = [text[:end]], ANSWER_COMPLETE, None
                    break  # leaving the `with` closes the stream: the server stops generating
    content = "".join(parts) or "".join(tool_parts)
    if finish is None and not content:
        raise MalformedResponse("the stream ended without any content or finish reason")
    return LLMResponse(content=content, finish_reason=finish, model=model, usage=_usage(usage, request, content))


def _tool_arguments(tool_calls: Any) -> str | None:
    """The arguments of the first function tool call (a JSON string), if any."""
    for call in tool_calls or ():
        arguments = getattr(getattr(call, "function", None), "arguments", None)
        if isinstance(arguments, str) and arguments.strip():
            return arguments
    return None


def _describe(obj: Any) -> str:
    if isinstance(obj, str):
        return f"the body is not a chat completion but text: {obj[:120]!r}"
    return f"the completion has no choices ({type(obj).__name__})"


def classify(exc: BaseException, now_epoch: float) -> tuple[CallFailureKind, str, int | None, float | None]:
    """(kind, message, status code, Retry-After seconds) for a failed attempt."""
    if isinstance(exc, MalformedResponse):
        return CallFailureKind.MALFORMED, str(exc), None, None
    if isinstance(exc, openai.APITimeoutError):
        return CallFailureKind.TIMEOUT, "the request timed out", None, None
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return CallFailureKind.CONNECTION, f"connection error ({type(cause).__name__ if cause else 'unknown'})", \
            None, None
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        after = retry_after_seconds(dict(exc.response.headers), now_epoch)
        message = f"HTTP {status}: {_error_message(exc)}"
        if status == 429:
            return CallFailureKind.RATE_LIMITED, message, status, after
        if status >= 500 or status in (408, 409):
            return CallFailureKind.SERVER_ERROR, message, status, after
        if status in (401, 403):
            return CallFailureKind.AUTH, message + " (check OPENAI_API_KEY)", status, None
        if status == 404:
            return CallFailureKind.NOT_FOUND, message + " (is the model name right?)", status, None
        if status in (400, 422):
            return CallFailureKind.BAD_REQUEST, message, status, None
        return CallFailureKind.HTTP_ERROR, message, status, None
    if isinstance(exc, openai.APIError):  # e.g. a response that failed validation
        return CallFailureKind.MALFORMED, str(exc)[:300], None, None
    raise exc


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(exc.message)[:300]
