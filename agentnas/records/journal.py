"""The journal's payloads, typed: what the run loop appends, and what every reader (resume,
replay, `runs show`, the report, the chat) reads back.

Versioning: the journal records its schema version (`SCHEMA_VERSION`, in its meta table).
Readers validate every payload through these records, which migrate older shapes on read:
a field added since version 1 has a default (journals written before it parse unchanged),
a renamed one is read under its old name too. So a run started before a change resumes
after it. Unknown keys are kept (`extra="allow"`): a newer writer's field survives a read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentnas.records.costs import Costs

SCHEMA_VERSION = 3  # 2: node graph_hash / slot / refill / fallback, experiment fidelity_fraction;
# 3: experiment metric / val_score / test_score (a token task ranks by its loss, which older readers would miss)


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class HypothesisEntry(Payload):
    """`hypothesis/<id>`: a design direction (the researcher's, the user's, or from memory)."""

    text: str
    source: str = "researcher"
    iteration: int = 0
    priority: int = 0  # > 0: expanded before anything else (a user's or a warm start's)


class NodeEntry(Payload):
    """`node/<candidate id>`: one child of an expansion, whatever became of it."""

    hypothesis_id: str
    parent_id: str | None = None
    iteration: int
    code: str
    arch: dict[str, Any] | None = None
    status: str
    operator: str = "sample"
    description: str = ""
    rationale: str = ""
    params: int | None = None
    mean: float | None = None
    std: float | None = None
    features: list[float] | None = None
    novelty: str | None = None
    nearest_id: str | None = None
    failure_kind: str | None = None
    failure_message: str | None = None
    attempts: int = 0
    lesson: str | None = None
    code_hash: str = ""
    history: list[dict[str, str]] = Field(default_factory=list)
    graph_hash: str | None = None  # v2
    slot: int = 0                  # v2
    refill: int = 0                # v2
    fallback: str | None = None    # v2
    autofix: str | None = None     # v2: imports the trusted side added before the check
    costs: Costs | None = None     # v2: deployment costs measured at the check (None: not measured)


class ExperimentEntry(Payload):
    """`experiment/<candidate id>[@low]`: one real training and what the trusted side measured."""

    node_id: str
    status: str
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    # The task metric and its scores (what the run ranks by, in the metric's direction);
    # experiments written before them are accuracy, their scores the accuracies.
    metric: str | None = None  # None: failed, or written before metrics had names
    val_score: float | None = None
    test_score: float | None = None
    params: int | None = None
    train_seconds: float | None = None
    wall_seconds: float = 0.0
    failure_kind: str | None = None
    failure_message: str | None = None
    code_hash: str = ""
    hypothesis_id: str = ""
    parent_id: str | None = None
    iteration: int = 0
    fidelity: Literal["full", "low"] = "full"
    fidelity_fraction: float | None = None  # v2: the share of the recipe's epochs (low fidelity)
    epochs: int | None = None
    seed: int | None = None
    # Deployment costs measured at the check (agentnas.records.Costs as JSON); older journals: None.
    costs: Costs | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def scores(self) -> tuple[float | None, float | None]:
        """(validation, test) of the task metric; the accuracies where no score was written."""
        if self.val_score is not None:
            return self.val_score, self.test_score
        return self.val_accuracy, self.test_accuracy


class IterationEntry(Payload):
    """`iteration/<n>`: the end of one loop step (an expansion, a promotion, or a new hypothesis)."""

    hypothesis_id: str | None = None
    parent_id: str | None = None
    children: list[str] = Field(default_factory=list)
    trained: list[str] = Field(default_factory=list)
    promoted: str | None = None


class EventEntry(Payload):
    """`event/<key>`: something that happened to the run (a stop, a time cut, a fork)."""

    kind: str = ""
    reason: str | None = None
    iteration: int | None = None


PAYLOADS: dict[str, type[Payload]] = {
    "hypothesis": HypothesisEntry, "node": NodeEntry, "experiment": ExperimentEntry,
    "iteration": IterationEntry, "event": EventEntry,
}


def read_payload(kind: str, payload: dict[str, Any]) -> Payload | dict[str, Any]:
    """The payload as its record (migrated from any earlier version), or as it is for a kind
    without one (run settings, LLM rows and the like are validated by their own modules)."""
    record = PAYLOADS.get(kind)
    return record.model_validate(payload) if record is not None else payload
