"""LLMClient over the real openai client against the scripted server: replies, retries, failures."""

from __future__ import annotations

import json
import time

import pytest
from llm_support import API_KEY, CANDIDATE, MODEL, Sleeps, client
from scripted_openai import Reply, ScriptedOpenAI

from agentnas.llm import (
    CallFailureKind,
    HypothesisReply,
    InvalidReply,
    InvalidReplyKind,
    LessonReply,
    LLMCallFailed,
    ProposalReply,
    RepairReply,
)

MESSAGES = [{"role": "system", "content": "You are the researcher."}, {"role": "user", "content": "Propose a model."}]


def test_proposal_json_reply_is_parsed_and_key_header_sent(server: ScriptedOpenAI) -> None:
    server.push(Reply.json({"hypothesis_id": 7, "rationale": "wider", "code": CANDIDATE}))
    with client(server.base_url) as llm:
        out = llm.complete_structured("researcher", MESSAGES, ProposalReply)
    assert out.value.code == CANDIDATE and out.value.hypothesis_id == "7" and out.via == "json"
    (request,) = server.chat_requests
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == MODEL
    # the schema went into the prompt, on the last user message
    assert "```python block" in request.messages[-1]["content"] and "Reply format" in request.messages[-1]["content"]
    assert request.messages[0] == MESSAGES[0]


def test_fenced_code_in_prose_is_recovered_as_a_repair(server: ScriptedOpenAI) -> None:
    server.push(Reply.text(f"The head was sized for length 40.\n```python\n{CANDIDATE}```\nThat fixes it."))
    with client(server.base_url) as llm:
        out = llm.complete_structured("engineer", MESSAGES, RepairReply)
    assert out.via == "fenced_code"
    assert out.value.code == CANDIDATE
    assert "sized for length 40" in out.value.diagnosis and "```" not in out.value.diagnosis


def test_invalid_reply_is_typed_then_a_retry_succeeds(server: ScriptedOpenAI) -> None:
    server.push(Reply.text("I think a deeper network would be better, but I am not sure."),
                Reply.text(f"Dilated convolutions widen the field.\n```python\n{CANDIDATE}```"))
    with client(server.base_url) as llm:
        with pytest.raises(InvalidReply) as info:  # a proposal with no code at all
            llm.complete_structured("researcher", MESSAGES, ProposalReply)
        assert info.value.kind is InvalidReplyKind.NO_CODE and "```python block" in str(info.value)
        assert info.value.role == "researcher" and info.value.key is not None and "deeper" in info.value.raw
        out = llm.complete_structured("researcher", MESSAGES, ProposalReply)
    assert out.value.code == CANDIDATE and "Dilated" in out.value.rationale
    assert len(server.chat_requests) == 2


def test_repairs_show_the_model_its_error_in_the_same_conversation(server: ScriptedOpenAI) -> None:
    server.push(Reply.json({"rationale": "x", "code": "print('no model here')"}),
                Reply.json({"rationale": "x", "code": CANDIDATE}))
    with client(server.base_url) as llm:
        out = llm.complete_structured("researcher", MESSAGES, ProposalReply, repairs=1)
    assert out.completions == 2 and out.value.code == CANDIDATE
    second = server.chat_requests[1].messages
    assert second[-2]["role"] == "assistant" and "no model here" in second[-2]["content"]
    assert "build_model" in second[-1]["content"] and "schema" in second[-1]["content"]
    # asked hotter the second time (a small model repeated its unusable reply word for word at 0.4)
    assert [r.body["temperature"] for r in server.chat_requests] == [0.4, 1.0]


def test_schema_failure_after_all_repairs_is_typed_not_a_crash(server: ScriptedOpenAI) -> None:
    server.push(Reply.json({"title": ""}), Reply.json({"title": ""}))
    with client(server.base_url) as llm, pytest.raises(InvalidReply) as info:
        llm.complete_structured("researcher", MESSAGES, HypothesisReply, repairs=1)
    assert info.value.kind is InvalidReplyKind.SCHEMA and "text" in info.value.detail


def test_429_waits_what_retry_after_says(server: ScriptedOpenAI) -> None:
    server.push(Reply.rate_limited(retry_after=2.5), Reply.rate_limited(retry_after=None, retry_after_ms=750),
                Reply.text("ok"))
    sleeps = Sleeps()
    with client(server.base_url, sleeps=sleeps) as llm:
        reply = llm.complete("researcher", MESSAGES)
    assert reply.content == "ok" and reply.attempts == 3
    assert sleeps == [2.5, 0.75]


def test_500_is_retried_with_growing_jittered_backoff(server: ScriptedOpenAI) -> None:
    server.push(Reply.error(500), Reply.error(503), Reply.text("recovered"))
    sleeps = Sleeps()
    with client(server.base_url, sleeps=sleeps, backoff_base_s=1.0) as llm:
        assert llm.complete("analyst", MESSAGES).content == "recovered"
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    assert [c.status for c in llm.ledger.calls] == ["ok"] and llm.ledger.calls[0].attempts == 3


def test_timeout_is_retried_then_fails_with_kind_timeout(server: ScriptedOpenAI) -> None:
    server.push(Reply.slow(3.0), Reply.slow(3.0))
    sleeps = Sleeps()
    t0 = time.monotonic()
    with client(server.base_url, sleeps=sleeps, timeout_s=0.3, max_retries=1) as llm, \
            pytest.raises(LLMCallFailed) as info:
        llm.complete("researcher", MESSAGES)
    assert time.monotonic() - t0 < 2.5
    assert info.value.kind is CallFailureKind.TIMEOUT and info.value.attempts == 2
    assert len(sleeps) == 1 and len(server.chat_requests) == 2
    (row,) = llm.ledger.calls
    assert row.status == "error" and row.error is not None and row.error.startswith("timeout")


def test_slow_reply_then_fast_one_succeeds(server: ScriptedOpenAI) -> None:
    server.push(Reply.slow(3.0), Reply.text("fast"))
    with client(server.base_url, timeout_s=0.3) as llm:
        assert llm.complete("researcher", MESSAGES).content == "fast"


@pytest.mark.parametrize("bad", [Reply.not_json(), Reply.missing_fields(), Reply.dropped()],
                         ids=["not-json", "missing-fields", "dropped-connection"])
def test_malformed_or_dropped_replies_are_retried(server: ScriptedOpenAI, bad: Reply) -> None:
    server.push(bad, Reply.text("fine"))
    with client(server.base_url) as llm:
        reply = llm.complete("researcher", MESSAGES)
    assert reply.content == "fine" and reply.attempts == 2


def test_malformed_replies_that_persist_fail_typed(server: ScriptedOpenAI) -> None:
    server.push(Reply.not_json(), Reply.missing_fields())
    with client(server.base_url, max_retries=1) as llm, pytest.raises(LLMCallFailed) as info:
        llm.complete("researcher", MESSAGES)
    assert info.value.kind is CallFailureKind.MALFORMED


def test_rejected_key_fails_at_once_without_retries(server: ScriptedOpenAI) -> None:
    server.push(Reply.error(401, "invalid api key"))
    sleeps = Sleeps()
    with client(server.base_url, sleeps=sleeps) as llm, pytest.raises(LLMCallFailed) as info:
        llm.complete("researcher", MESSAGES)
    assert info.value.kind is CallFailureKind.AUTH and info.value.status_code == 401
    assert sleeps == [] and len(server.chat_requests) == 1
    assert API_KEY not in str(info.value)


def test_json_mode_is_dropped_when_the_server_refuses_it(server: ScriptedOpenAI) -> None:
    server.push(Reply.error(400, "response_format is not supported"), Reply.json({"lesson": "l", "evidence": []}),
                Reply.json({"lesson": "m"}))
    with client(server.base_url, json_mode=True, structured=False) as llm:
        assert llm.complete_structured("analyst", MESSAGES, LessonReply).value.lesson == "l"
        llm.complete("analyst", MESSAGES)
    bodies = [r.body for r in server.chat_requests]
    assert bodies[0]["response_format"] == {"type": "json_object"}
    assert "response_format" not in bodies[1] and "response_format" not in bodies[2]


def test_streamed_completion_is_assembled_with_its_usage(server: ScriptedOpenAI) -> None:
    content = json.dumps({"rationale": "streamed", "code": CANDIDATE})
    server.push(Reply.text(content, stream_pieces=7, prompt_tokens=123, completion_tokens=45))
    with client(server.base_url, stream=True) as llm:
        out = llm.complete_structured("researcher", MESSAGES, ProposalReply)
    assert out.value.rationale == "streamed" and out.reply.content == content
    (request,) = server.chat_requests
    assert request.body["stream"] is True and request.body["stream_options"] == {"include_usage": True}
    assert (out.reply.usage.prompt_tokens, out.reply.usage.completion_tokens) == (123, 45)
    (row,) = llm.ledger.calls
    assert row.stream and (row.prompt_tokens, row.completion_tokens) == (123, 45) and not row.usage_estimated


def test_stream_without_usage_is_estimated_and_flagged(server: ScriptedOpenAI) -> None:
    server.push(Reply.text("x" * 400, omit_usage=True))
    with client(server.base_url) as llm:
        reply = llm.complete("researcher", MESSAGES, stream=True)
    assert reply.usage.estimated and reply.usage.completion_tokens == 100
    assert llm.ledger.calls[0].usage_estimated


def test_per_role_models_are_sent(server: ScriptedOpenAI) -> None:
    server.push("a", "b")
    with client(server.base_url, engineer_model="fixer-7b") as llm:
        llm.complete("researcher", MESSAGES)
        llm.complete("engineer", MESSAGES)
    assert [r.body["model"] for r in server.chat_requests] == [MODEL, "fixer-7b"]


def test_a_code_reply_that_writes_on_past_its_answer_is_not_read_further(server: ScriptedOpenAI) -> None:
    """A small model wrote more files after a complete answer until its token limit: the client stops
    reading there; the reply is the answer, and its usage (which the server sends last) is estimated."""
    answer = f"Wider first layer [X1].\n```python\n{CANDIDATE}```"
    ramble = "\n\n### Parent: another model\n```python\nimport torch\n" + "x = 1\n" * 400
    server.push(Reply.text(answer + ramble, stream_pieces=300, chunk_delay_s=0.002))
    with client(server.base_url) as llm:  # not configured to stream: a code reply streams anyway
        out = llm.complete_structured("researcher", MESSAGES, ProposalReply)
    assert out.value.code == CANDIDATE and out.reply.content == answer
    assert out.reply.finish_reason == "answer_complete" and out.reply.usage.estimated
    (request,) = server.chat_requests
    assert request.body["stream"] is True
    assert server.finished_streams == 0  # the client hung up before the end


def test_a_code_reply_that_ends_with_a_closing_sentence_is_read_to_its_end(server: ScriptedOpenAI) -> None:
    content = f"Dilated convolutions.\n```python\n{CANDIDATE}```\nThis should help."
    server.push(Reply.text(content, stream_pieces=20, prompt_tokens=321, completion_tokens=54))
    with client(server.base_url) as llm:
        out = llm.complete_structured("engineer", MESSAGES, RepairReply)
    assert out.reply.content == content and out.reply.finish_reason == "stop"
    assert (out.reply.usage.prompt_tokens, out.reply.usage.completion_tokens, out.reply.usage.estimated) == (
        321, 54, False)
    assert server.finished_streams == 1


def test_a_first_code_block_without_build_model_is_not_the_end_of_the_answer(server: ScriptedOpenAI) -> None:
    helper = "```python\nclass Block(torch.nn.Module):\n    pass\n```\n" + "Now the whole file, which is long. " * 3
    content = f"{helper}\n```python\n{CANDIDATE}```" + "\nMore words after it, and more still. " * 20
    server.push(Reply.text(content, stream_pieces=60))
    with client(server.base_url) as llm:
        out = llm.complete_structured("researcher", MESSAGES, ProposalReply)
    assert out.reply.finish_reason == "answer_complete" and out.reply.content.endswith(f"{CANDIDATE}```")
    assert out.value.code == CANDIDATE


def test_stop_after_answer_off_reads_every_reply_to_its_end(server: ScriptedOpenAI) -> None:
    content = f"Wider.\n```python\n{CANDIDATE}```" + "\nand then some more words." * 30
    server.push(Reply.text(content))
    with client(server.base_url, stop_after_answer=False) as llm:
        out = llm.complete_structured("researcher", MESSAGES, ProposalReply)
    assert out.reply.content == content and "stream" not in server.chat_requests[0].body


def test_a_hypothesis_that_goes_on_writing_the_prompts_sections_is_not_read_further(server: ScriptedOpenAI) -> None:
    answer = "Dilated stack\nDilations 1, 2, 4 widen the receptive field; expect +1 point over [X1]."
    server.push(Reply.text(answer + "\n\n## Sibling [n002]\nHypothesis: max pooling\n" + "More. " * 200,
                           stream_pieces=200, chunk_delay_s=0.002))
    with client(server.base_url) as llm:
        out = llm.complete_structured("researcher", MESSAGES, HypothesisReply)
    assert out.value.title == "Dilated stack" and "max pooling" not in out.value.text
    assert out.reply.finish_reason == "answer_complete" and server.finished_streams == 0
