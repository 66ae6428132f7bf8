"""The scripted server itself: what other test folders rely on."""

from __future__ import annotations

import json

import httpx
import pytest
from llm_support import client
from scripted_openai import RecordedRequest, Reply, ScriptedOpenAI

from agentnas.llm import CallFailureKind, LLMCallFailed

ASK = [{"role": "user", "content": "echo me"}]


def test_unscripted_request_fails_fast_instead_of_retrying(server: ScriptedOpenAI) -> None:
    with client(server.base_url) as llm, pytest.raises(LLMCallFailed) as info:
        llm.complete("researcher", ASK)
    assert info.value.kind is CallFailureKind.HTTP_ERROR and "no reply queued" in str(info.value)
    assert len(server.chat_requests) == 1


def test_handler_answers_from_the_request_after_the_queue_is_empty() -> None:
    def echo(request: RecordedRequest) -> Reply:
        return Reply.text(request.messages[-1]["content"].upper())

    with ScriptedOpenAI(["queued first"], handler=echo) as server, client(server.base_url) as llm:
        assert llm.complete("researcher", ASK).content == "queued first"
        assert llm.complete("researcher", ASK).content == "ECHO ME"
        assert server.pending == 0


def test_raw_http_streaming_sends_sse_chunks_and_done() -> None:
    with ScriptedOpenAI([Reply.text("abcdef", stream_pieces=3)]) as server:
        body = {"model": "m", "messages": ASK, "stream": True, "stream_options": {"include_usage": True}}
        with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body) as r:
            assert r.headers["content-type"] == "text/event-stream"
            events = [line.removeprefix("data: ") for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "abcdef"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 1
    assert server.reported_usage == [chunks[-1]["usage"]]


def test_without_include_usage_the_stream_has_no_usage_chunk() -> None:
    with ScriptedOpenAI(["x y"]) as server:
        body = {"model": "m", "messages": ASK, "stream": True}
        with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body) as r:
            events = [line for line in r.iter_lines() if line.startswith("data: {")]
    assert all("usage" not in json.loads(e.removeprefix("data: ")) for e in events)
    assert server.reported_usage == []
