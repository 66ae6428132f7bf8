"""The start-up check fails fast and clearly on endpoints that cannot serve."""

from __future__ import annotations

import time

import pytest
from llm_support import API_KEY, MODEL, client
from scripted_openai import Blackhole, Reply, ScriptedOpenAI, free_port

from agentnas.llm import LLMUnavailable


def test_unreachable_endpoint_fails_fast_with_a_clear_message() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    t0 = time.monotonic()
    with client(url) as llm, pytest.raises(LLMUnavailable) as info:
        llm.check()
    assert time.monotonic() - t0 < 2.0
    message = str(info.value)
    assert url in message and "connection failed" in message and "OPENAI_BASE_URL" in message


def test_hanging_endpoint_fails_after_the_check_timeout_not_the_call_timeout() -> None:
    with Blackhole() as hole, client(hole.base_url, check_timeout_s=0.3, timeout_s=60) as llm:
        t0 = time.monotonic()
        with pytest.raises(LLMUnavailable, match="no answer within 0.3 s"):
            llm.check()
        assert time.monotonic() - t0 < 2.0


def test_models_listing_is_reported_with_missing_models(server: ScriptedOpenAI) -> None:
    with client(server.base_url, analyst_model="llama3") as llm:
        report = llm.check()
    assert report.method == "models" and report.models == (MODEL,)
    assert report.missing_models == ("llama3",)
    (request,) = server.requests
    assert request.path == "/v1/models" and request.headers["authorization"] == f"Bearer {API_KEY}"


def test_server_without_models_route_gets_a_one_token_completion() -> None:
    with ScriptedOpenAI([Reply.text("p", prompt_tokens=3, completion_tokens=1)], models_status=404) as server, \
            client(server.base_url) as llm:
        report = llm.check()
        (chat,) = server.chat_requests
    assert report.method == "completion"
    assert chat.body["max_tokens"] == 1
    (row,) = llm.ledger.calls
    assert row.role == "check" and (row.prompt_tokens, row.completion_tokens) == (3, 1)


def test_rejected_key_is_reported_at_start_up() -> None:
    with ScriptedOpenAI(models_status=401) as server, client(server.base_url) as llm, \
            pytest.raises(LLMUnavailable, match="rejected the API key"):
        llm.check()


def test_unknown_model_on_a_server_without_models_route_is_named() -> None:
    with ScriptedOpenAI([Reply.error(404, "model not found")], models_status=404) as server, \
            client(server.base_url) as llm, pytest.raises(LLMUnavailable, match="scripted-model"):
        llm.check()


def test_replay_mode_checks_nothing(tmp_path: object) -> None:
    from agentnas.llm import MemoryCassette

    url = f"http://127.0.0.1:{free_port()}/v1"
    with client(url, cassette=MemoryCassette(), mode="replay") as llm:
        assert llm.check().method == "replay"
