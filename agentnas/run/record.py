"""What a code-level run writes to its journal, and reads back for the next candidates.

`Recorder` is the journal's writer during an expansion (the loop's own: roles of the agents
graph return candidates, and these methods write them): experiments as each training ends,
nodes and the iteration row when the expansion is recorded (and the experiment memory's
records, when the run has one). `RunIndex` reads the code and graph hashes of every node
back, for the duplicate screen and the novelty verdict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from agentnas.agents.state import Candidate, Context
from agentnas.fingerprint import code_hash
from agentnas.journal import Journal
from agentnas.records import EvalResult
from agentnas.run.roles import trained


class Recorder:
    """The only writer of the journal during an expansion (and of the memory, when given)."""

    def __init__(self, journal: Journal, on_record: Callable[[Context, list[Candidate]], None] | None = None,
                 low_fraction: float | None = None) -> None:
        self.journal, self.on_record = journal, on_record
        self.low_fraction = low_fraction  # the share of the recipe a low-fidelity training gets

    @staticmethod
    def key(candidate_id: str, fidelity: str) -> str:
        return candidate_id if fidelity == "full" else f"{candidate_id}@{fidelity}"

    def experiment(self, c: Candidate, result: EvalResult, ctx: Context, fidelity: str = "full") -> Candidate:
        """Journal one evaluation's outcome (idempotent by candidate id and fidelity)."""
        m = result.metrics
        payload = {"node_id": c.id, "status": result.status, "val_accuracy": m.val_accuracy if m else None,
                   "test_accuracy": m.test_accuracy if m else None, "params": result.params,
                   "train_seconds": result.train_seconds, "wall_seconds": result.wall_seconds,
                   "failure_kind": str(result.failure.kind) if result.failure else None,
                   "failure_message": result.failure.message[:2000] if result.failure else None,
                   "code_hash": code_hash(c.code), "hypothesis_id": ctx.hypothesis_id,
                   "parent_id": ctx.parent_id, "iteration": ctx.iteration, "fidelity": fidelity,
                   "epochs": result.epochs, "seed": result.seed,
                   "fidelity_fraction": self.low_fraction if fidelity == "low" else 1.0}
        entry = self.journal.append("experiment", self.key(c.id, fidelity), payload)
        return trained(c, result, entry.key)

    def lookup(self, candidate: Candidate, fidelity: str = "full") -> Candidate | None:
        entry = self.journal.get("experiment", self.key(candidate.id, fidelity))
        if entry is None:
            return None
        p = entry.payload
        if p["status"] != "ok":
            return candidate.model_copy(update={"status": "eval_failed", "experiment_id": entry.key,
                                                "failure_kind": p["failure_kind"],
                                                "failure_message": p["failure_message"]})
        return candidate.model_copy(update={"status": "trained", "experiment_id": entry.key,
                                            "val_accuracy": p["val_accuracy"], "test_accuracy": p["test_accuracy"]})

    def record(self, ctx: Context, candidates: list[Candidate]) -> None:
        if self.on_record is not None:  # the memory: upserts, so a resumed expansion is harmless
            self.on_record(ctx, candidates)
        for c in candidates:
            self.journal.append("node", c.id, node_payload(ctx, c))
        self.journal.append("iteration", str(ctx.iteration), {
            "hypothesis_id": ctx.hypothesis_id, "parent_id": ctx.parent_id,
            "children": [c.id for c in candidates], "trained": [c.id for c in candidates if c.experiment_id]})


def node_payload(ctx: Context, c: Candidate) -> dict[str, Any]:
    return {"hypothesis_id": ctx.hypothesis_id, "parent_id": ctx.parent_id, "iteration": ctx.iteration,
            "code": c.code, "arch": c.arch, "status": c.status, "operator": c.operator,
            "description": c.description, "rationale": c.rationale, "params": c.params, "mean": c.mean,
            "std": c.std, "features": c.features, "novelty": c.novelty, "nearest_id": c.nearest_id,
            "failure_kind": c.failure_kind, "failure_message": c.failure_message, "attempts": c.attempts,
            "lesson": c.lesson, "code_hash": code_hash(c.code), "history": c.history, "graph_hash": c.graph_hash,
            "slot": c.slot, "refill": c.refill, "fallback": c.fallback, "autofix": c.autofix}


Judge = Callable[[Candidate, np.ndarray], tuple[str, str | None]]


class RunIndex:
    """The code and ONNX graph hashes of every node the run recorded (read incrementally from the
    journal; code hashes recomputed from the code, so journals from before the normalised hash
    agree). `codes()` serves the expansion's screen; `judge` the scorer's novelty verdict."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.by_code: dict[str, str] = {}
        self.by_graph: dict[str, str] = {}
        self.last = 0

    def refresh(self) -> None:
        for e in self.journal.entries("node", after=self.last):
            self.by_code.setdefault(code_hash(e.payload.get("code") or ""), e.key)
            if e.payload.get("graph_hash"):
                self.by_graph.setdefault(e.payload["graph_hash"], e.key)
            self.last = e.seq

    def codes(self) -> dict[str, str]:
        self.refresh()
        return dict(self.by_code)

    def judge(self, memory: Judge | None = None) -> Judge:
        """A candidate whose code or graph the run already has is a duplicate of that node (so the
        same model is never trained twice); `memory` adds duplicates and near-duplicates of every
        stored experiment of the task, across runs."""

        def verdict(c: Candidate, x: np.ndarray) -> tuple[str, str | None]:
            self.refresh()
            for first in (self.by_code.get(code_hash(c.code)), self.by_graph.get(c.graph_hash or "")):
                if first is not None and first != c.id:
                    return "duplicate", first
            if memory is not None:
                return memory(c, x)
            return "novel", None

        return verdict


def approval_key(thread: str, question: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(question, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{thread}:{digest}"
