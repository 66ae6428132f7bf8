"""Tolerant parsing of structured replies, and the typed failure when nothing fits."""

from __future__ import annotations

import json

import pytest
from llm_support import CANDIDATE

from agentnas.llm import (
    HypothesisReply,
    InvalidReply,
    InvalidReplyKind,
    LessonReply,
    ProposalReply,
    parse_reply,
    schema_instructions,
)

HYP = {"title": "dilated stack", "text": "dilations widen the receptive field", "rationale": "[K2]"}


@pytest.mark.parametrize(("text", "via"), [
    (json.dumps(HYP), "json"),
    ("Sure! Here it is:\n```json\n" + json.dumps(HYP, indent=2) + "\n```\nGood luck.", "fenced_json"),
    ("My answer is " + json.dumps(HYP) + " as requested.", "embedded_json"),
], ids=["bare", "fenced", "embedded"])
def test_json_is_found_bare_fenced_or_in_prose(text: str, via: str) -> None:
    parsed = parse_reply(text, HypothesisReply)
    assert parsed.value == HypothesisReply(**HYP) and parsed.via == via


def test_code_with_raw_newlines_inside_the_json_string_is_accepted() -> None:
    text = '{"rationale": "plain", "code": "' + CANDIDATE.replace('"', '\\"') + '"}'
    assert "\n" in text  # not valid strict JSON
    assert parse_reply(text, ProposalReply).value.code == CANDIDATE


def test_code_fenced_inside_the_json_string_is_unwrapped() -> None:
    text = json.dumps({"rationale": "r", "code": f"```python\n{CANDIDATE}```"})
    assert parse_reply(text, ProposalReply).value.code == CANDIDATE


def test_a_later_object_that_fits_wins_over_an_earlier_one_that_does_not() -> None:
    text = 'Example: {"a": 1}. Final: ' + json.dumps({"lesson": "deeper helped", "evidence": [3, "K1"]})
    parsed = parse_reply(text, LessonReply)
    assert parsed.value.evidence == ["3", "K1"]


def test_fenced_python_without_json_becomes_a_proposal_with_the_prose_as_rationale() -> None:
    text = f"I widened the first conv.\n\n```python\n{CANDIDATE}```"
    parsed = parse_reply(text, ProposalReply)
    assert parsed.via == "fenced_code" and parsed.value.code == CANDIDATE
    assert parsed.value.rationale == "I widened the first conv."


@pytest.mark.parametrize(("text", "schema", "kind"), [
    ("", HypothesisReply, InvalidReplyKind.EMPTY),
    ("   \n", HypothesisReply, InvalidReplyKind.EMPTY),
    ("I would try attention, it usually helps.", ProposalReply, InvalidReplyKind.NO_CODE),  # a proposal needs code
    (json.dumps({"title": "no text field"}), HypothesisReply, InvalidReplyKind.SCHEMA),  # a broken object is no prose
    ("```python\nx = 1\n```", HypothesisReply, InvalidReplyKind.NO_JSON),   # code is no hypothesis
], ids=["empty", "blank", "prose", "missing-field", "code-for-hypothesis"])
def test_unusable_replies_are_typed(text: str, schema: type, kind: InvalidReplyKind) -> None:
    with pytest.raises(InvalidReply) as info:
        parse_reply(text, schema)
    assert info.value.kind is kind and info.value.raw == text and info.value.schema == schema.__name__


def test_a_hypothesis_and_a_lesson_in_words_are_read() -> None:
    h = parse_reply("**Dilated convolutions**\nDilate the later layers [K3]; expect +1 point.", HypothesisReply).value
    assert h.title == "Dilated convolutions" and h.text.startswith("Dilate the later layers")
    lesson = parse_reply("Dilation helped by 1.8 points over [i00002-c1].\nEvidence: i00002-c1, K3", LessonReply).value
    assert lesson.lesson == "Dilation helped by 1.8 points over [i00002-c1]." and lesson.evidence == ["i00002-c1", "K3"]


def test_code_without_build_model_is_a_schema_failure_that_says_so() -> None:
    with pytest.raises(InvalidReply) as info:
        parse_reply(json.dumps({"rationale": "r", "code": "import torch\n"}), ProposalReply)
    assert info.value.kind is InvalidReplyKind.SCHEMA and "build_model" in info.value.detail


def test_a_reply_cut_at_the_token_limit_is_reported_as_truncated() -> None:
    with pytest.raises(InvalidReply) as info:
        parse_reply('{"rationale": "r", "code": "import torch\\nclass Net', ProposalReply, finish_reason="length")
    assert info.value.kind is InvalidReplyKind.TRUNCATED


def test_schema_instructions_are_deterministic_and_show_the_shape_not_the_schema() -> None:
    text = schema_instructions(HypothesisReply, "json")
    assert text == schema_instructions(HypothesisReply, "json")
    for field in ('"title"', '"text"', '"rationale"'):
        assert field in text
    assert '"properties"' not in text and "<" in text  # each value says what goes there
    assert "first line" in schema_instructions(HypothesisReply)  # by default: in words


def test_code_is_asked_for_as_prose_and_one_python_block() -> None:
    text = schema_instructions(ProposalReply)
    assert "```python block" in text and "build_model" in text and "JSON" not in text


def test_code_with_a_forgotten_closing_fence_or_no_fence_at_all_is_read() -> None:
    unclosed = parse_reply(f"Widened the head.\n```python\n{CANDIDATE}", ProposalReply)
    assert unclosed.value.code == CANDIDATE and unclosed.value.rationale == "Widened the head."
    bare = parse_reply(f"Widened the head.\n{CANDIDATE}", ProposalReply)
    assert bare.value.code == CANDIDATE and bare.value.rationale == "Widened the head."
    with pytest.raises(InvalidReply):  # a cut file is not code
        parse_reply(f"```python\n{CANDIDATE[: len(CANDIDATE) // 2]}(", ProposalReply)


# What Qwen2.5-Coder-1.5B wrote for a new hypothesis: it began with a heading of the prompt's sibling list
# and went on listing made-up siblings until its token limit.
PROMPT_CONTINUED = ("## Sibling [n001]\nHypothesis: Improved Residual Connection with Batch Normalization\n"
                    "Build: a residual connection with batch normalisation at the end of the body. Expect 0.99.\n\n"
                    "## Sibling [n002]\nHypothesis: Improved Max Pooling\nBuild: max pooling with stride 3.\n\n"
                    "## Your job\nPropose one new hypothesis")


def test_a_hypothesis_that_goes_on_writing_the_prompts_sections_is_only_its_first_answer() -> None:
    value = parse_reply(PROMPT_CONTINUED, HypothesisReply).value
    assert value.title == "Improved Residual Connection with Batch Normalization"
    assert "residual connection" in value.text and "Max Pooling" not in value.text and "Sibling" not in value.text


def test_a_lesson_ends_where_the_model_starts_a_prompt_section() -> None:
    text = ("Batch norm helped: +2.1 points over the parent [i00001-c0].\nEvidence: i00001-c0\n\n"
            "## Candidate [i00002-c0]\nResult: val_accuracy 0.99")
    value = parse_reply(text, LessonReply).value
    assert value.lesson == "Batch norm helped: +2.1 points over the parent [i00001-c0]."
    assert value.evidence == ["i00001-c0"]


def test_a_proposal_is_the_block_that_defines_build_model_not_a_helper_block_before_it() -> None:
    text = f"A helper first:\n```python\nclass Block:\n    pass\n```\nThen the file:\n```python\n{CANDIDATE}```"
    assert parse_reply(text, ProposalReply).value.code == CANDIDATE


def test_generic_section_headings_are_not_part_of_a_hypothesis() -> None:
    text = ("Improved CNN with Batch Normalization\n### Description\nAdd batch norm after each convolution.\n"
            "### Expected Validation Result\nAbout one point over the parent.")
    value = parse_reply(text, HypothesisReply).value
    assert value.title == "Improved CNN with Batch Normalization"
    assert value.text == "Add batch norm after each convolution. About one point over the parent."
