"""Steering: a user's message to a live run, and the effect of all of them so far (the tree's
steering state, rebuilt from the journal)."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentnas.records.costs import CostLimits

# The deployment limits a constraint may set (CostLimits' names); max_params is older and apart.
COST_LIMITS: tuple[str, ...] = ("max_latency_ms", "max_macs", "max_size_mb")

SteeringKind = Literal["hypothesis", "constrain", "focus", "prune", "unfocus", "stop"]


class SteeringMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    kind: SteeringKind
    text: str = ""
    target: str | None = None
    max_params: int | None = Field(default=None, gt=0)
    max_train_seconds: float | None = Field(default=None, gt=0)
    # deployment limits, held against the costs measured at each candidate's check
    max_latency_ms: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_macs: int | None = Field(default=None, gt=0)
    max_size_mb: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    banned_ops: tuple[str, ...] = ()
    required_ops: tuple[str, ...] = ()
    said: str = ""
    at: float = Field(default_factory=time.time)



class Steering(BaseModel):
    """The effect of every steering entry so far (rebuilt from the journal)."""

    max_params: int | None = None
    max_train_seconds: float | None = None
    max_latency_ms: float | None = None
    max_macs: int | None = None
    max_size_mb: float | None = None
    banned_ops: frozenset[str] = frozenset()
    required_ops: frozenset[str] = frozenset()
    focus: str | None = None
    pruned: frozenset[str] = frozenset()
    stop: bool = False
    notes: tuple[str, ...] = ()

    def cost_limits(self) -> CostLimits:
        """The deployment limits the user set by chat (none: CostLimits())."""
        return CostLimits(max_latency_ms=self.max_latency_ms, max_macs=self.max_macs, max_size_mb=self.max_size_mb)

    def apply(self, m: SteeringMessage) -> Steering:
        update: dict[str, Any] = {}
        if m.kind == "constrain":
            if m.max_params is not None:
                update["max_params"] = m.max_params
            for name in ("max_train_seconds", *COST_LIMITS):
                if getattr(m, name) is not None:
                    update[name] = getattr(m, name)
            update["banned_ops"] = self.banned_ops | set(m.banned_ops)
            update["required_ops"] = self.required_ops | set(m.required_ops)
            update["notes"] = (*self.notes, describe_constraint(m))
        elif m.kind == "focus":
            update["focus"] = m.target
        elif m.kind == "unfocus":
            update["focus"] = None
        elif m.kind == "prune" and m.target:
            update["pruned"] = self.pruned | {m.target}
        elif m.kind == "stop":
            update["stop"] = True
        elif m.kind == "hypothesis":
            update["notes"] = (*self.notes, f"user hypothesis: {m.text}")
        return self.model_copy(update=update)


_LIMIT_WORDS: tuple[tuple[str, str], ...] = (
    ("max_params", "at most {:,} parameters"), ("max_train_seconds", "at most {:g} s of training per evaluation"),
    ("max_latency_ms", "batch-1 latency at most {:g} ms"), ("max_macs", "at most {:,} multiply-adds"),
    ("max_size_mb", "exported model at most {:g} MB"))


def describe_constraint(m: SteeringMessage) -> str:
    """A constraint message in words, as the run's notes and prompts show it."""
    parts = [words.format(getattr(m, name)) for name, words in _LIMIT_WORDS if getattr(m, name) is not None]
    if m.banned_ops:
        parts.append("no " + ", ".join(m.banned_ops))
    if m.required_ops:
        parts.append("must use " + ", ".join(m.required_ops))
    return "constraint: " + ("; ".join(parts) or "none")
