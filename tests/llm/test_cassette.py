"""Record/replay: every exchange keyed deterministically; replay serves it without any network call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_support import API_KEY, CANDIDATE, client
from scripted_openai import Reply, ScriptedOpenAI, free_port

from agentnas.llm import (
    CassetteConflict,
    CassetteMiss,
    JsonlCassette,
    MemoryCassette,
    ProposalReply,
    request_fingerprint,
)
from agentnas.records import ChatMessage, LLMRequest, LLMResponse

ASK = [{"role": "user", "content": "Propose a model."}]
OTHER = [{"role": "user", "content": "Analyse the result."}]


def _record_session(url: str, cassette_path: Path) -> list[str]:
    with client(url, cassette=JsonlCassette(cassette_path)) as llm:
        first = llm.complete_structured("researcher", ASK, ProposalReply).value.rationale
        second = llm.complete_structured("researcher", ASK, ProposalReply).value.rationale  # same prompt again
        third = llm.complete("analyst", OTHER, stream=True).content
    return [first, second, third]


def test_replay_serves_identical_responses_in_order_with_the_server_down(server: ScriptedOpenAI,
                                                                         tmp_path: Path) -> None:
    server.push(Reply.json({"rationale": "first", "code": CANDIDATE}),
                Reply.json({"rationale": "second", "code": CANDIDATE}), Reply.text("lesson text"))
    path = tmp_path / "llm.jsonl"
    live = _record_session(server.base_url, path)
    assert live == ["first", "second", "lesson text"]

    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here: any network call would fail
    with client(down, cassette=JsonlCassette(path), mode="replay") as llm:
        replayed = [llm.complete_structured("researcher", ASK, ProposalReply).value.rationale,
                    llm.complete_structured("researcher", ASK, ProposalReply).value.rationale,
                    llm.complete("analyst", OTHER).content]
        summary = llm.ledger.summary()
    assert replayed == live
    assert summary.replayed_calls == 3 and summary.prompt_tokens == sum(u["prompt_tokens"]
                                                                        for u in server.reported_usage)


def test_replay_makes_no_request_even_when_a_server_is_up(server: ScriptedOpenAI) -> None:
    cassette = MemoryCassette()
    server.push("recorded")
    with client(server.base_url, cassette=cassette) as llm:
        llm.complete("researcher", ASK)
    with client(server.base_url, cassette=cassette, mode="replay") as llm:
        assert llm.complete("researcher", ASK).replayed
        llm.check()
    assert len(server.requests) == 1


def test_missing_entry_fails_loudly_naming_key_and_role(tmp_path: Path) -> None:
    cassette = JsonlCassette(tmp_path / "empty.jsonl")
    with client(f"http://127.0.0.1:{free_port()}/v1", cassette=cassette, mode="replay") as llm, \
            pytest.raises(CassetteMiss) as info:
        llm.complete("engineer", ASK)
    assert info.value.role == "engineer" and info.value.key.endswith(":0")
    assert info.value.key in str(info.value) and "engineer" in str(info.value)


def test_a_third_identical_prompt_misses_when_only_two_were_recorded(server: ScriptedOpenAI) -> None:
    cassette = MemoryCassette()
    server.push("one", "two")
    with client(server.base_url, cassette=cassette) as llm:
        llm.complete("researcher", ASK)
        llm.complete("researcher", ASK)
    with client(server.base_url, cassette=cassette, mode="replay") as llm:
        assert [llm.complete("researcher", ASK).content for _ in range(2)] == ["one", "two"]
        with pytest.raises(CassetteMiss, match=":2"):
            llm.complete("researcher", ASK)


def test_auto_mode_replays_what_it_has_and_records_the_rest(server: ScriptedOpenAI) -> None:
    cassette = MemoryCassette()
    server.push("old")
    with client(server.base_url, cassette=cassette) as llm:
        llm.complete("researcher", ASK)
    server.push("new")
    with client(server.base_url, cassette=cassette, mode="auto") as llm:
        assert llm.complete("researcher", ASK).content == "old"
        assert llm.complete("researcher", ASK).content == "new"
    assert len(server.chat_requests) == 2 and len(cassette) == 2


def test_api_key_never_reaches_cassette_or_ledger(server: ScriptedOpenAI, tmp_path: Path) -> None:
    # A hostile or buggy server echoes the key back: it must still not be stored.
    server.push(Reply.text(f"your key is {API_KEY}"), Reply.error(401, f"bad key {API_KEY}"))
    path = tmp_path / "llm.jsonl"
    with client(server.base_url, cassette=JsonlCassette(path)) as llm:
        reply = llm.complete("researcher", ASK)
        with pytest.raises(Exception) as info:
            llm.complete("analyst", ASK)
    assert server.chat_requests[0].headers["authorization"].endswith(API_KEY)  # it was sent
    stored = path.read_text()
    assert API_KEY not in stored and "your key is ***" in stored
    dumps = json.dumps([c.model_dump(mode="json") for c in llm.ledger.calls]) + llm.ledger.summary().model_dump_json()
    assert API_KEY not in dumps and API_KEY not in str(info.value)
    assert API_KEY not in repr(llm) + repr(llm.config) + llm.config.model_dump_json()
    assert API_KEY in reply.content  # the caller still sees the answer as given


def test_key_is_a_hash_of_the_request_and_its_occurrence() -> None:
    a = LLMRequest(role="researcher", model="m", messages=(ChatMessage(role="user", content="x"),),
                   params={"temperature": 0.2, "max_tokens": None})
    b = LLMRequest(role="researcher", model="m", messages=(ChatMessage(role="user", content="x"),),
                   params={"max_tokens": None, "temperature": 0.2})
    assert request_fingerprint(a) == request_fingerprint(b)
    assert request_fingerprint(a) != request_fingerprint(a.model_copy(update={"model": "n"}))
    assert request_fingerprint(a) != request_fingerprint(a.model_copy(update={"params": {"temperature": 0.3}}))


def test_jsonl_cassette_survives_a_torn_last_line_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    request = LLMRequest(role="analyst", model="m", messages=(ChatMessage(role="user", content="q"),))
    cassette = JsonlCassette(path)
    cassette.record("k:0", request, LLMResponse(content="a"))
    with path.open("a") as f:
        f.write('{"key": "k:1", "request": {"ro')  # killed mid-write
    reopened = JsonlCassette(path)
    assert reopened.skipped_lines == 1 and reopened.lookup("k:0") is not None
    reopened.record("k:1", request, LLMResponse(content="b"))
    reopened.record("k:0", request, LLMResponse(content="a"))  # the same answer again: a no-op
    with pytest.raises(CassetteConflict):
        reopened.record("k:0", request, LLMResponse(content="different"))
    final = JsonlCassette(path)
    assert final.lookup("k:1") is not None and final.lookup("k:1").response.content == "b"  # type: ignore[union-attr]
    assert len(final) == 2


def test_replay_mode_without_a_cassette_is_refused() -> None:
    from agentnas.llm import LLMConfigError

    with pytest.raises(LLMConfigError, match="cassette"):
        client("http://127.0.0.1:9/v1", mode="replay")
