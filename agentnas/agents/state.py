"""The typed state of one expansion of a search node, as langgraph carries it.

Values in the state are plain JSON (dicts of `Candidate.model_dump()`), so the SQLite
checkpointer stores them exactly and a killed expansion resumes from the last finished
node with the same data. Nodes return partial updates; `candidates` is replaced whole.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict

from agentnas.records.costs import Costs

CandidateStatus = Literal["drafted", "failed", "checked", "duplicate", "scored", "trained", "eval_failed"]


class Draft(BaseModel):
    """What a proposer (the researcher agent or the offline grammar) writes."""

    model_config = ConfigDict(frozen=True)

    code: str
    operator: str = "sample"  # sample | mutate | recombine | refine | repair | seed
    description: str = ""
    rationale: str = ""
    arch: dict[str, Any] | None = None  # the grammar tree, when the offline proposer wrote it
    # why the grammar wrote this draft in the place of the researcher's (a duplicate, a broken
    # proposal, the call budget); None for a draft that is the proposer's own
    fallback: str | None = None
    autofix: str | None = None  # what the trusted side mended mechanically (agents.fixups), if anything


class Candidate(BaseModel):
    """One child of the expanded node as it moves through the graph."""

    model_config = ConfigDict(frozen=True)

    id: str
    code: str
    operator: str
    description: str = ""
    rationale: str = ""
    arch: dict[str, Any] | None = None
    status: CandidateStatus = "drafted"
    attempts: int = 0
    failure_kind: str | None = None
    failure_message: str | None = None
    params: int | None = None
    flops: int | None = None
    onnx_path: str | None = None
    costs: Costs | None = None  # deployment costs measured at the check (run.costs), when measured
    features: list[float] | None = None
    novelty: str | None = None  # novel | near_duplicate | duplicate
    nearest_id: str | None = None
    mean: float | None = None
    std: float | None = None
    granted: bool = False
    experiment_id: str | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    val_score: float | None = None   # the task metric's (the accuracy, or a token task's loss)
    test_score: float | None = None
    lesson: str | None = None
    # failed checks before a repair, oldest first: {"kind", "message", "code_hash"} (replay needs them)
    history: list[dict[str, str]] = []
    graph_hash: str | None = None  # sha256 of the canonical ONNX text (set when scored)
    slot: int = 0      # which of the expansion's k places this candidate fills
    refill: int = 0    # 0: the first proposal of its slot; 1: re-asked; 2: filled by the grammar
    fallback: str | None = None  # why the grammar filled the slot (see Draft.fallback)
    closed: bool = False  # nothing more will be tried for this slot
    autofix: str | None = None  # what the trusted side mended mechanically before the check (see Draft)


class Context(BaseModel):
    """What the proposer sees: the node being expanded and what is known around it."""

    model_config = ConfigDict(frozen=True)

    iteration: int
    seed: int
    task: str
    task_description: str = ""
    hypothesis_id: str
    hypothesis: str
    parent_id: str | None = None
    parent_code: str | None = None
    parent_arch: dict[str, Any] | None = None
    parent_val_accuracy: float | None = None
    parent_val_score: float | None = None
    metric: str = "accuracy"  # the task metric's name (agentnas.records.METRICS knows its direction)
    other_code: str | None = None  # a second parent, for recombination
    other_arch: dict[str, Any] | None = None
    siblings: list[str] = []
    steering: list[str] = []
    max_params: int | None = None
    banned_ops: list[str] = []    # ONNX op types (or aliases, see roles.OP_ALIASES) a candidate must not use
    required_ops: list[str] = []  # ... and must use
    max_train_seconds: float | None = None  # the user's wall-clock limit on one training evaluation
    # deployment limits the user set by chat (the run's own flags are the cost check's)
    max_latency_ms: float | None = None
    max_macs: int | None = None
    max_size_mb: float | None = None
    k: int = 4


class ExpansionState(TypedDict, total=False):
    context: dict[str, Any]
    candidates: list[dict[str, Any]]
    repair_round: int
    grants: list[str]
    approved: list[str]
    done: bool


def candidates_of(state: ExpansionState) -> list[Candidate]:
    return [Candidate.model_validate(c) for c in state.get("candidates", [])]


def dump(candidates: list[Candidate]) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json") for c in candidates]
