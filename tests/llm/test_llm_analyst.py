"""The LLM analyst spends at most one call per expansion, on the best trained candidate, shown as
its changes from the parent; the others get the offline lesson; a spent budget costs no call."""

from __future__ import annotations

from llm_support import CANDIDATE, client
from scripted_openai import RecordedRequest, Reply, ScriptedOpenAI

from agentnas.agents.economy import CallBudget
from agentnas.agents.llm_agents import LLMAnalyst
from agentnas.agents.state import Candidate, Context
from agentnas.tasks import get_task

WIDER = CANDIDATE.replace("nn.Linear(input_shape[-1], num_classes)",
                          "nn.Linear(input_shape[-1], 64), nn.ReLU(), nn.Linear(64, num_classes)")
TREE_LINE = '\n# agentnas-arch: {"body": {"op": "seq"}}\n'


def lesson(req: RecordedRequest) -> Reply:
    return Reply.json({"lesson": "a hidden layer of 64 added 2 points", "evidence": []})


def context(metric: str = "accuracy") -> Context:
    return Context(iteration=1, seed=0, task="mnist1d", hypothesis_id="h1",
                   hypothesis="Hidden layer: a hidden layer helps the linear head", parent_id="p",
                   parent_code=CANDIDATE + TREE_LINE, parent_val_accuracy=0.5, parent_val_score=0.5, metric=metric)


def trained(id_: str, score: float) -> Candidate:
    return Candidate(id=id_, code=WIDER, operator="mutate", status="trained", val_accuracy=score, val_score=score)


def test_one_call_for_the_best_candidate_shown_as_a_diff_and_offline_lessons_for_the_rest() -> None:
    with ScriptedOpenAI(handler=lesson) as server, client(server.base_url) as llm:
        out = LLMAnalyst(llm, get_task("mnist1d").spec).analyse(context(), [trained("a", 0.6), trained("b", 0.7)])
        assert len(server.chat_requests) == 1
        text = server.chat_requests[0].messages[-1]["content"]
    assert out[1].lesson == "a hidden layer of 64 added 2 points" and out[0].lesson != out[1].lesson
    assert "```diff" in text and "+    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], 64)" in text
    assert "```python" not in text and "agentnas-arch" not in text
    assert text.count("a hidden layer helps the linear head") == 1


def test_the_best_candidate_follows_the_metric_direction() -> None:
    with ScriptedOpenAI(handler=lesson) as server, client(server.base_url) as llm:
        out = LLMAnalyst(llm, get_task("mnist1d").spec).analyse(context("loss"), [trained("a", 1.2), trained("b", 2.5)])
        assert len(server.chat_requests) == 1
    assert out[0].lesson == "a hidden layer of 64 added 2 points"  # the lower loss


def test_no_call_when_the_budget_keeps_nothing_in_reserve() -> None:
    with ScriptedOpenAI(handler=lesson) as server, client(server.base_url) as llm:
        budget = CallBudget(llm.ledger, 1.0, evaluations=lambda: 1, lookahead=lambda: 0)  # 1 call allowed, 0 made
        out = LLMAnalyst(llm, get_task("mnist1d").spec, budget=budget).analyse(context(), [trained("a", 0.6)])
        assert server.chat_requests == []
    assert out[0].lesson  # the offline analyst's
