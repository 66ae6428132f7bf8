"""A researcher that names the same idea again is asked once more, then the grammar's idea is used."""

from __future__ import annotations

import random

from llm_support import client
from scripted_openai import Reply, ScriptedOpenAI

from agentnas.agents.llm_agents import LLMResearcher, same_idea
from agentnas.agents.offline import OfflineResearcher
from agentnas.journal.tree import HypothesisNode, RunTree
from agentnas.tasks import get_task

BN = "Improved CNN with Batch Normalization: add batch norm after each convolution; expect +1 point."


def tree() -> RunTree:
    return RunTree(hypotheses={"h000": HypothesisNode(id="h000", text=BN, source="researcher")})


def ask(*replies: str) -> tuple[str, ScriptedOpenAI]:
    spec = get_task("mnist1d").spec
    with ScriptedOpenAI([Reply.text(r) for r in replies]) as server, client(server.base_url) as llm:
        researcher = LLMResearcher(llm, spec, OfflineResearcher(spec.input_shape, spec.num_classes))
        return researcher.new_hypothesis(tree(), random.Random(0)), server


def test_the_same_idea_reworded_is_one_idea_and_another_is_not() -> None:
    assert same_idea("CNN with batch normalization: adds BN", BN)
    assert not same_idea("Dilated convolutions: dilation 2 and 4 in the last layers", BN)


def test_a_repeated_hypothesis_is_asked_again_hotter_naming_what_it_repeated() -> None:
    text, server = ask("On the first line: Improved CNN with Batch Normalization\nBN after each conv.",
                       "Dilated convolutions\nDilation 2 and 4 in the last two layers widen the field.")
    assert text.startswith("Dilated convolutions: Dilation 2 and 4")
    first, second = server.chat_requests
    assert "repeated one already tested: Improved CNN with Batch Normalization" in second.messages[-1]["content"]
    assert second.body["temperature"] == 1.0 and first.body["temperature"] == 0.4


def test_a_hypothesis_repeated_twice_gives_way_to_the_grammars() -> None:
    text, server = ask("Improved CNN with Batch Normalization\nBN again.", "CNN with batch normalization\nStill BN.")
    assert len(server.chat_requests) == 2 and not same_idea(text, BN)


def test_directions_already_named_by_a_hypothesis_are_not_offered_again() -> None:
    from agentnas.agents.ideas import IDEAS, untried

    offered = untried([BN, "Dilated stack: dilation 2 and 4"], n=len(IDEAS))
    assert not any("batch normalisation" in i or "dilated" in i for i in offered)
    assert len(offered) == len(IDEAS) - 2
    assert untried([BN], n=3) != untried([BN, "a wider CNN: more channels"], n=3)  # rotates as the run goes


def test_the_hypothesis_prompt_lists_the_untried_directions() -> None:
    _, server = ask("Dilated convolutions\nDilation 2 and 4 in the last two layers widen the field.")
    prompt = server.chat_requests[0].messages[-1]["content"]
    assert "## Directions not tried yet in this run" in prompt and "batch normalisation" not in prompt


def test_a_repeat_in_other_words_is_known_by_the_directions_it_names() -> None:
    from agentnas.agents.ideas import only_tried

    # what the 1.5B model wrote, hypothesis after hypothesis
    assert only_tried("Batch Normalization on CNN: add batch normalization between convolutional layers", [BN])
    assert not only_tried("Batch norm and dilated convolutions: dilation 2 in the last layer", [BN])
    assert not only_tried("Something else entirely: a new idea", [BN])  # names no known direction


def test_a_reworded_repeat_is_asked_again() -> None:
    text, server = ask("New Hypothesis: On the first line: Improved CNN with Batch Normalization and BatchNorm\n"
                       "Add batch norm layers.",
                       "Dilated convolutions\nDilation 2 and 4 in the last two layers widen the field.")
    assert text.startswith("Dilated convolutions") and len(server.chat_requests) == 2
