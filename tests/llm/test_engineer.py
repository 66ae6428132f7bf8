"""The engineer's second attempt on a candidate knows what its first one tried."""

from __future__ import annotations

from llm_support import CANDIDATE, client
from scripted_openai import Reply, ScriptedOpenAI

from agentnas.agents.llm_agents import LLMEngineer
from agentnas.agents.state import Candidate, Context
from agentnas.fingerprint import code_hash
from agentnas.tasks import get_task

BROKEN = CANDIDATE.replace("nn.Linear(input_shape[-1], num_classes)", "nn.Linear(7, num_classes)")
CTX = Context(iteration=0, seed=0, task="mnist1d", hypothesis_id="h000", hypothesis="wider")


def failed(attempts: int, rationale: str, before: str) -> Candidate:
    return Candidate(id="i00000-c0", code=BROKEN, operator="mutate", status="failed", attempts=attempts,
                     rationale=rationale, failure_kind="shape",
                     failure_message="mat1 and mat2 shapes cannot be multiplied (2x40 and 7x10)",
                     history=[{"kind": "shape", "message": "mat1 and mat2", "code_hash": code_hash(before)}])


def repair_prompt(candidate: Candidate) -> str:
    with ScriptedOpenAI([Reply.text(f"Sized the head from the input.\n```python\n{CANDIDATE}```")]) as server:
        with client(server.base_url) as llm:
            draft = LLMEngineer(llm, get_task("mnist1d").spec).repair(CTX, candidate)
        assert draft is not None and draft.code == CANDIDATE
        return str(server.chat_requests[0].messages[-1]["content"])


def test_a_second_repair_is_shown_the_first_and_that_it_changed_nothing() -> None:
    prompt = repair_prompt(failed(1, "The head was too small; I widened it.", before=BROKEN))
    assert "## Repairs already tried (they did not work)" in prompt
    assert "- The head was too small; I widened it. (but the file came back unchanged)" in prompt


def test_a_second_repair_after_a_changed_file_names_the_attempt_only() -> None:
    prompt = repair_prompt(failed(1, "The head was too small; I widened it.", before=CANDIDATE))
    assert "- The head was too small; I widened it.\n" in prompt and "unchanged" not in prompt


def test_a_first_repair_shows_no_earlier_attempts() -> None:
    assert "Repairs already tried" not in repair_prompt(failed(0, "Wider first layer.", before=BROKEN))
