"""What a prompt may show, as records: the context the agents fill and the templates render
(agentnas.llm.prompts), trimmed to its token budgets first (agentnas.llm.budgets)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agentnas.llm.schemas import HypothesisReply
from agentnas.records import EvalResult, Failure
from agentnas.tasks.base import TaskSpec


class CandidateBrief(BaseModel):
    """An experiment as a prompt shows it: id, what it tested, code (when shown), result, lesson."""

    model_config = ConfigDict(frozen=True)

    id: str
    hypothesis: str = ""
    code: str | None = None
    diff: str | None = None  # its changes from the parent (unified diff), shown instead of the whole file
    result: EvalResult | None = None
    lesson: str | None = None


class MemoryItem(BaseModel):
    """A retrieved experiment or a piece of seed knowledge, cited by `id`."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    source: str | None = None


class Constraints(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_params: int | None = Field(default=None, gt=0)
    max_flops: int | None = Field(default=None, gt=0)
    notes: tuple[str, ...] = ()


class PromptContext(BaseModel):
    """Everything a prompt may show. A field left empty is a missing section."""

    model_config = ConfigDict(frozen=True)

    task: TaskSpec | None = None
    hypothesis: HypothesisReply | None = None
    hypothesis_id: str | None = None
    parent: CandidateBrief | None = None
    parents: tuple[CandidateBrief, ...] = ()
    candidate: CandidateBrief | None = None
    siblings: tuple[CandidateBrief, ...] = ()
    similar: tuple[MemoryItem, ...] = ()
    knowledge: tuple[MemoryItem, ...] = ()
    failure: Failure | None = None
    log_tail: str = ""
    previous_repairs: tuple[str, ...] = ()
    steering: tuple[str, ...] = ()
    constraints: Constraints | None = None
    retry: str | None = None  # why the model's last answer for this slot could not be used
    ideas: tuple[str, ...] = ()  # directions the run has not tried yet (agents.ideas), for a new hypothesis
    blocks: tuple[str, ...] = ()  # helper modules a proposal may use without defining them (space.helpers)
