"""What a code-level run writes to its journal, and reads back for the next candidates.

`Recorder` is the journal's writer during an expansion (the loop's own: roles of the agents
graph return candidates, and these methods write them): experiments as each training ends,
nodes and the iteration row when the expansion is recorded (and the experiment memory's
records, when the run has one). `RunIndex` reads the code and graph hashes of every node
back, for the duplicate screen and the novelty verdict. The LLM's exchanges and calls, and
the memory's answers for prompts, reach the journal through the sinks made here
(`JournalCassette`, `journal_calls`, `journaled_retrieval`), which the run's assembly injects
into the LLM client and the researcher: the agents themselves never touch the journal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from agentnas.agents.state import Candidate, Context
from agentnas.fingerprint import code_hash
from agentnas.journal import Journal, JournalConflict
from agentnas.llm import Cassette
from agentnas.llm.errors import CassetteConflict, CassetteMiss
from agentnas.records import EvalResult, ExperimentEntry, LLMCall, LLMExchange, LLMRequest, LLMResponse
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
                   "metric": m.metric if m else None, "val_score": m.val_score if m else None,
                   "test_score": m.test_score if m else None,
                   "train_seconds": result.train_seconds, "wall_seconds": result.wall_seconds,
                   "failure_kind": str(result.failure.kind) if result.failure else None,
                   "failure_message": result.failure.message[:2000] if result.failure else None,
                   "code_hash": code_hash(c.code), "hypothesis_id": ctx.hypothesis_id,
                   "parent_id": ctx.parent_id, "iteration": ctx.iteration, "fidelity": fidelity,
                   "epochs": result.epochs, "seed": result.seed,
                   "fidelity_fraction": self.low_fraction if fidelity == "low" else 1.0}
        # Journals before costs, and runs that measure none, have no such key.
        costs = {"costs": result.costs.model_dump(mode="json")} if result.costs is not None else {}
        entry = self.journal.append("experiment", self.key(c.id, fidelity), {**payload, **costs})
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
        val, test = ExperimentEntry.model_validate(p).scores()
        return candidate.model_copy(update={"status": "trained", "experiment_id": entry.key,
                                            "val_accuracy": p["val_accuracy"], "test_accuracy": p["test_accuracy"],
                                            "val_score": val, "test_score": test})

    def copy_experiment(self, key: str, payload: dict[str, Any]) -> None:
        """Write an experiment another journal recorded (a replay serves its trainings so)."""
        self.journal.append("experiment", key, payload)

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
            "slot": c.slot, "refill": c.refill, "fallback": c.fallback, "autofix": c.autofix,
            "costs": c.costs.model_dump(mode="json") if c.costs is not None else None}


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


class JournalCassette(Cassette):
    """The run journal as the LLM cassette: kind `llm_exchange`, keyed by the request key."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def record(self, key: str, request: LLMRequest, response: LLMResponse) -> None:
        exchange = LLMExchange(key=key, request=request, response=response)
        try:
            self.journal.append("llm_exchange", key, exchange.model_dump(mode="json"))
        except JournalConflict as e:
            raise CassetteConflict(str(e)) from e

    def lookup(self, key: str) -> LLMExchange | None:
        entry = self.journal.get("llm_exchange", key)
        return None if entry is None else LLMExchange.model_validate(entry.payload)


def journal_calls(journal: Journal) -> Any:
    """The ledger's `on_call`: one `llm_call` row a call, in order (replayed ones too)."""

    def on_call(call: LLMCall) -> None:
        journal.append("llm_call", f"{journal.count('llm_call'):06d}", call.model_dump(mode="json"))

    return on_call


def journaled_retrieval(journal: Journal, retrieve: Any) -> Any:
    """Memory retrieval for prompts, journaled: the same (iteration, text) is answered from the
    journal after the first time, so a resumed run and a replay build byte-identical prompts
    (the memory itself keeps growing)."""
    import hashlib

    from agentnas.memory.retrieve import PromptMemory

    def lookup(iteration: int, text: str) -> Any:
        key = f"{iteration}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"
        entry = journal.get("retrieval", key)
        if entry is not None:
            return PromptMemory.model_validate(entry.payload)
        if retrieve is None:
            raise CassetteMiss(key, "retrieval", "memory")
        found = retrieve(text)
        journal.append("retrieval", key, found.model_dump(mode="json"))
        return found

    return lookup


def start_copy(target: Journal, source: Journal, options: dict[str, Any]) -> None:
    """Begin a replay's journal: the recorded run's settings and LLM configuration (written here,
    by the run's own writer, as a first start writes them)."""
    from agentnas.run.settings import record_settings

    record_settings(target, options, {})
    llm_entry = source.get("run", "llm")
    if llm_entry is not None:
        target.append("run", "llm", llm_entry.payload)


def copy_entries(target: Journal, entries: Any, source: str, at: int) -> int:
    """A fork's journal: the recorded entries given, after an event naming where they come from."""
    target.append("event", "forked", {"source": source, "at": at})
    copied = 0
    for e in entries:
        target.append(e.kind, e.key, e.payload)
        copied += 1
    return copied
