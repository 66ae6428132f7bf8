"""Replies as real servers and small models give them, through the real `openai` client: JSON
in a fence with prose around it, bare code, a tool call with `content: null`, no usage, a
reply cut by the token limit, a schema echoed back; and servers that refuse structured output,
do not know the model, or go away."""

from __future__ import annotations

import pytest
from imperfect_models import behaviour
from llm_support import Sleeps, client
from scripted_openai import Reply, ScriptedOpenAI, free_port

from agentnas.llm import EndpointDown, HypothesisReply, InvalidReply, LLMCallFailed, Prompt, ProposalReply, build_prompt
from agentnas.llm.errors import InvalidReplyKind
from agentnas.llm.structured import parse_reply

from agentnas.bench.llm import mutate_context  # isort: skip  (the real mutate prompt)


def ask(base_url: str, *, stream: bool = False, **overrides: object) -> tuple[ProposalReply, object]:
    prompt = build_prompt("mutate", mutate_context())
    with client(base_url, **overrides) as llm:  # type: ignore[arg-type]
        got = llm.ask(prompt, stream=stream)
        assert isinstance(got.value, ProposalReply)
        return got.value, llm.ledger.summary()


@pytest.mark.parametrize("style", ["fenced_json", "bare_code", "tool_call", "no_usage"])
def test_a_usable_reply_in_any_form_gives_the_proposal(style: str) -> None:
    with ScriptedOpenAI(handler=behaviour(style)) as server:
        proposal, summary = ask(server.base_url)
    assert "def build_model" in proposal.code and "MLP" in proposal.code
    assert summary.estimated_calls == (1 if style == "no_usage" else 0)  # type: ignore[attr-defined]


def test_a_streamed_tool_call_is_the_answer_too() -> None:
    with ScriptedOpenAI(handler=behaviour("tool_call")) as server:
        proposal, _ = ask(server.base_url, stream=True)
    assert "def build_model" in proposal.code


def test_missing_usage_is_shown_as_an_estimate_and_an_unpriced_model_as_unpriced() -> None:
    with ScriptedOpenAI(handler=behaviour("no_usage")) as server:
        _, summary = ask(server.base_url)
    assert summary.tokens_text().startswith("~") and "estimated for 1 of 1" in summary.tokens_text()  # type: ignore
    assert "unpriced (scripted-model)" in summary.cost_text() and "$0.0000" not in summary.cost_text()  # type: ignore


@pytest.mark.parametrize("style, kind", [("truncated", InvalidReplyKind.TRUNCATED),
                                         ("schema_echo", InvalidReplyKind.SCHEMA)])
def test_a_cut_or_echoed_reply_is_a_typed_failure_not_a_proposal(style: str, kind: InvalidReplyKind) -> None:
    with ScriptedOpenAI(handler=behaviour(style)) as server, pytest.raises(InvalidReply) as info:
        ask(server.base_url)
    assert info.value.kind == kind


def test_a_reply_that_copies_the_format_paragraph_first_gives_the_answer_after_it() -> None:
    with ScriptedOpenAI(handler=behaviour("echo_format")) as server:
        proposal, _ = ask(server.base_url)
    assert "def build_model" in proposal.code and "Write one to three sentences" not in proposal.rationale
    assert proposal.rationale == "widened the hidden layer"


def test_a_hypothesis_laid_out_under_headings_takes_its_title_from_the_idea_not_the_labels() -> None:
    text = (HypothesisReply.instructions + "\n\n## Title: **Dilated residual stack** ### Description: three "
            "residual blocks with dilations 1, 2, 4 [K1].\n\n### Expected Validation Result:\nabove 0.97")
    got = parse_reply(text, HypothesisReply).value
    assert got.title == "Dilated residual stack"
    assert got.text.startswith("three residual blocks") and "0.97" in got.text and "Title" not in got.text


def test_a_reply_with_nothing_usable_is_not_shown_back_when_asked_again() -> None:
    answer = "A wider layer.\n```python\nfrom torch import nn\n\n\ndef build_model(input_shape, num_classes):\n" \
             "    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))\n```\n"

    def handler(req: object) -> Reply:
        prompt = req.messages[-1]["content"]  # type: ignore[attr-defined]
        if len(req.messages) == 2:  # type: ignore[attr-defined]
            return Reply.text("\n".join(prompt.splitlines()[-6:]))  # the prompt's own last lines, no code
        return Reply.text(answer)

    with ScriptedOpenAI(handler=handler) as server, client(server.base_url) as llm:
        got = llm.ask(build_prompt("mutate", mutate_context()), repairs=1)
        second = server.chat_requests[1].messages
    assert isinstance(got.value, ProposalReply) and "LazyLinear" in got.value.code
    assert second[-2] == {"role": "assistant", "content": "(a copy of parts of the prompt)"}
    assert second[-1]["content"].startswith("Your reply repeated the prompt instead of answering it")

    # prose of its own without the code: not shown back either (the model wrote it again, word for word)
    prose = "The failure occurred because the model expects an input with a batch dimension."
    with ScriptedOpenAI([Reply.text(prose), Reply.text(answer)]) as server, client(server.base_url) as llm:
        got = llm.ask(build_prompt("mutate", mutate_context()), repairs=1)
        second = server.chat_requests[1].messages
    assert "LazyLinear" in got.value.code  # type: ignore[attr-defined]
    assert second[-2] == {"role": "assistant", "content": "(a reply without what was asked: no_code)"}
    assert second[-1]["content"].startswith("Your reply could not be used (no_code)")


def test_a_hypothesis_under_the_reply_formats_own_words_as_headings_keeps_only_the_idea() -> None:
    # what the 1.5B model wrote (its reply began with the format's "On the first line")
    text = ("On the first line: Improved Residual Connection with Global Pooling.\n\n## Two or three sentences\n"
            "Add a residual connection around the block in the best model shown above [i00000-c1-r2].")
    got = parse_reply(text, HypothesisReply).value
    assert got.title == "Improved Residual Connection with Global Pooling."
    assert got.text.startswith("Add a residual connection") and "sentences" not in got.text


def test_a_reply_that_only_copies_the_format_paragraph_is_an_echo_to_ask_again() -> None:
    with pytest.raises(InvalidReply) as info:
        parse_reply(HypothesisReply.instructions, HypothesisReply)
    assert info.value.kind == InvalidReplyKind.ECHO and "follow them" in info.value.detail


def lesson_prompt() -> Prompt:
    ctx = mutate_context()
    return build_prompt("analyse", ctx.model_copy(update={"candidate": ctx.parent, "parent": None}))


def test_a_json_reply_is_asked_for_by_its_shape_not_by_a_schema_to_copy() -> None:
    with ScriptedOpenAI(handler=behaviour("json")) as server:
        with client(server.base_url, reply_format="json") as llm:
            assert llm.ask(lesson_prompt()).value.lesson
        text = server.chat_requests[0].messages[-1]["content"]
    assert '"lesson":' in text and '"evidence":' in text
    assert '"properties"' not in text and '"required"' not in text


def test_a_lesson_is_asked_for_in_words_by_default() -> None:
    with ScriptedOpenAI(["Wider helped by 2 points.\nEvidence: X1"]) as server:
        with client(server.base_url) as llm:
            lesson = llm.ask(lesson_prompt()).value
        assert "response_format" not in server.chat_requests[0].body
    assert lesson.lesson == "Wider helped by 2 points." and lesson.evidence == ["X1"]  # type: ignore[union-attr]


def test_code_is_asked_for_as_prose_and_a_python_block_without_structured_output() -> None:
    with ScriptedOpenAI(handler=behaviour("bare_code")) as server:
        ask(server.base_url)
        request = server.chat_requests[0]
    assert "```python block" in request.messages[-1]["content"] and "response_format" not in request.body


def test_structured_output_falls_back_format_by_format_when_the_server_refuses() -> None:
    refuse = {"json_schema": 500}  # llama-cpp-python: HTTP 500 with a validation error naming the field
    with ScriptedOpenAI(handler=behaviour("json"), refuse_formats=refuse) as server:
        with client(server.base_url, reply_format="json") as llm:
            llm.ask(lesson_prompt())
            llm.ask(lesson_prompt())
        sent = [r.body.get("response_format", {}).get("type") for r in server.chat_requests]
    assert sent == ["json_schema", "json_object", "json_object"]  # the refused format is not sent again
    schema = server.chat_requests[1].body["response_format"]["schema"]
    assert schema["required"] == ["lesson", "evidence"] and schema["additionalProperties"] is False


def test_a_server_that_refuses_every_format_still_serves_plain_replies() -> None:
    with ScriptedOpenAI(handler=behaviour("json"), refuse_formats={"json_schema": 400, "json_object": 422}) as server:
        proposal, _ = ask(server.base_url)
        assert "response_format" not in server.chat_requests[-1].body
    assert "def build_model" in proposal.code


def test_a_model_the_server_does_not_know_stops_at_once_naming_it() -> None:
    with ScriptedOpenAI(handler=behaviour("json"), strict_models=True, models=("other",)) as server:
        with pytest.raises(EndpointDown) as info:
            ask(server.base_url)
        assert len(server.chat_requests) == 1  # not retried: a 404 will not heal
    assert "does not know the model" in str(info.value) and "scripted-model" in str(info.value)


def test_a_server_that_went_away_stops_the_caller_after_its_retries() -> None:
    sleeps = Sleeps()
    with pytest.raises(EndpointDown) as info:
        ask(f"http://127.0.0.1:{free_port()}/v1", sleeps=sleeps, max_retries=2)
    assert "cannot be reached" in str(info.value) and len(sleeps) == 2


def test_repeated_client_errors_stop_the_caller_on_the_third_in_a_row() -> None:
    odd = [Reply.error(418, "odd"), Reply.error(418, "odd"), Reply.error(418, "odd")]
    with ScriptedOpenAI(odd) as server, client(server.base_url) as llm:
        for _ in range(2):
            with pytest.raises(LLMCallFailed):
                llm.complete("researcher", [{"role": "user", "content": "hi"}])
        with pytest.raises(EndpointDown):
            llm.complete("researcher", [{"role": "user", "content": "hi"}])


def test_every_retry_is_said_at_once() -> None:
    heard: list[str] = []
    with ScriptedOpenAI([Reply.error(503, "busy"), "fine"]) as server, client(server.base_url) as llm:
        llm.notify = heard.append
        assert llm.complete("researcher", [{"role": "user", "content": "hi"}]).content == "fine"
    assert len(heard) == 1 and "server_error" in heard[0] and "retry 1 of 3" in heard[0]


def test_a_cut_reply_is_not_asked_again_in_the_same_conversation() -> None:
    prompt = build_prompt("mutate", mutate_context())
    with ScriptedOpenAI(handler=behaviour("truncated")) as server, client(server.base_url) as llm:
        with pytest.raises(InvalidReply) as info:
            llm.ask(prompt, repairs=2)
        assert info.value.kind == InvalidReplyKind.TRUNCATED and "JSON" not in info.value.detail
        assert len(server.chat_requests) == 1


def test_a_malformed_reply_is_still_shown_its_problem_and_asked_again() -> None:
    prompt = build_prompt("mutate", mutate_context())
    with ScriptedOpenAI(handler=behaviour("schema_echo")) as server, client(server.base_url) as llm:
        with pytest.raises(InvalidReply):
            llm.ask(prompt, repairs=1)
        assert len(server.chat_requests) == 2
