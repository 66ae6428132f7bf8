"""Recombining two long files is left to the grammar (small models fail at it); short ones go to the model."""

from __future__ import annotations

import numpy as np
from llm_support import client
from scripted_openai import Reply, ScriptedOpenAI

from agentnas.agents.llm_agents import LLMResearcher
from agentnas.agents.offline import OfflineResearcher
from agentnas.agents.state import Context
from agentnas.llm.prompts import shown_code
from agentnas.tasks import get_task

SHORT = ("import torch\nfrom torch import nn\n\n\ndef build_model(input_shape, num_classes):\n"
         "    return nn.Sequential(nn.Flatten(), nn.LazyLinear({n}), nn.ReLU(), nn.LazyLinear(num_classes))\n")
ANSWER = "Widen the hidden layer.\n```python\n" + SHORT.format(n=96) + "```\n"


def _researcher(llm: object, recombine_chars: int | None = 3000) -> LLMResearcher:
    spec = get_task("mnist1d").spec
    return LLMResearcher(llm, spec, OfflineResearcher(spec.input_shape, spec.num_classes),  # type: ignore[arg-type]
                         recombine_chars=recombine_chars)


def _grammar_parents() -> Context:
    spec = get_task("mnist1d").spec
    proposer = OfflineResearcher(spec.input_shape, spec.num_classes).proposer
    a, b = proposer.propose(None, "", 2, np.random.default_rng(3))
    return Context(iteration=4, seed=0, task="mnist1d", hypothesis_id="h000", hypothesis="wider layers",
                   parent_id="n001", parent_code=a.code, parent_arch=a.arch_dict(), parent_val_accuracy=0.9,
                   other_code=b.code, other_arch=b.arch_dict(), k=2)


def test_two_long_parents_are_recombined_by_the_grammar_without_a_call() -> None:
    ctx = _grammar_parents()
    assert len(shown_code(ctx.parent_code or "")) + len(shown_code(ctx.other_code or "")) > 3000
    with ScriptedOpenAI([Reply.text(ANSWER)]) as server, client(server.base_url) as llm:
        drafts = _researcher(llm).propose(ctx)
        assert server.chat_requests == []
    assert len(drafts) == 2 and len({d.code for d in drafts}) == 2
    assert all(d.operator == "recombine" and d.fallback and "the grammar recombines" in d.fallback for d in drafts)


def test_short_parents_are_recombined_by_the_model() -> None:
    ctx = _grammar_parents().model_copy(update={
        "parent_code": SHORT.format(n=64), "parent_arch": None, "other_code": SHORT.format(n=32), "other_arch": None,
        "k": 1})
    with ScriptedOpenAI([Reply.text(ANSWER)]) as server, client(server.base_url) as llm:
        drafts = _researcher(llm).propose(ctx)
        assert len(server.chat_requests) == 1
    assert [d.operator for d in drafts] == ["recombine"] and drafts[0].fallback is None


def test_without_a_length_limit_the_model_recombines_long_files_too() -> None:
    ctx = _grammar_parents().model_copy(update={"k": 1})
    with ScriptedOpenAI([Reply.text(ANSWER)]) as server, client(server.base_url) as llm:
        drafts = _researcher(llm, recombine_chars=None).propose(ctx)
        assert len(server.chat_requests) == 1
    assert [d.operator for d in drafts] == ["recombine"] and drafts[0].fallback is None


def test_proposal_prompts_offer_the_grammars_blocks_on_channel_inputs_only() -> None:
    for task, offered in (("mnist1d", True), ("mqar-easy", False)):
        spec = get_task(task).spec
        ctx = Context(iteration=1, seed=0, task=task, hypothesis_id="h000", hypothesis="wider layers",
                      parent_id="n001", parent_code=SHORT.format(n=64), parent_val_accuracy=0.9, k=1)
        with ScriptedOpenAI([Reply.text(ANSWER)]) as server, client(server.base_url) as llm:
            LLMResearcher(llm, spec, OfflineResearcher(spec.input_shape, spec.num_classes,  # type: ignore[arg-type]
                                                       tokens=spec.kind == "causal_lm")).propose(ctx)
            prompt = server.chat_requests[0].messages[-1]["content"]
        assert ("## Building blocks you may use" in prompt) is offered
        assert ("- Residual(body, proj=None): x + body(x)" in prompt) is offered


def test_a_fresh_start_edits_a_seed_model_whose_layers_infer_their_input_sizes() -> None:
    ctx = Context(iteration=1, seed=0, task="mnist1d", hypothesis_id="h000", hypothesis="dilated convolutions", k=1)
    with ScriptedOpenAI([Reply.text(ANSWER)]) as server, client(server.base_url) as llm:
        _researcher(llm).propose(ctx)
        prompt = server.chat_requests[0].messages[-1]["content"]
    parent = prompt.split("## Parent", 1)[1]
    assert "nn.LazyConv1d(" in parent and "nn.Conv1d(" not in parent and "nn.Linear(" not in parent


def test_a_hypothesis_stored_with_heading_marks_is_shown_without_them() -> None:
    ctx = _grammar_parents().model_copy(update={
        "hypothesis": "Residual block: ## Two or three sentences Add a residual connection [i00000-c1-r2]",
        "other_code": None, "other_arch": None, "parent_code": SHORT.format(n=64), "parent_arch": None, "k": 1})
    with ScriptedOpenAI([Reply.text(ANSWER)]) as server, client(server.base_url) as llm:
        _researcher(llm).propose(ctx)
        prompt = server.chat_requests[0].messages[-1]["content"]
    assert "Two or three sentences Add a residual connection" in prompt and "## Two" not in prompt
