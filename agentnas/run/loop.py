"""The discovery loop: select a node, expand it through the agents graph, train what the
value model grants, record, repeat — resumable from the journal after any stop.

One iteration:
    tree  = RunTree.from_journal(journal)            (rewards backed up by recomputation)
    sel   = policy.select(tree, rng(seed, iteration)) (new hypothesis | expand | promote)
    graph = propose -> check -> repair -> score -> gate -> train -> analyse -> record
The RNG of an iteration is derived from (seed, iteration) alone, never from earlier draws,
so an interrupted run resumed from its journal makes the same choices as one that never
stopped. The langgraph checkpoint (SqliteSaver, thread `iter-N`) lets a killed expansion
resume at the node that was running; the trainer skips candidates whose experiment is
already in the journal, so nothing is evaluated twice and nothing evaluated is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from agentnas.agents.graph import build_expansion_graph
from agentnas.agents.services import Services
from agentnas.agents.state import Candidate, Context
from agentnas.fingerprint import code_hash
from agentnas.journal import Journal
from agentnas.journal.tree import RunTree
from agentnas.records import EvalResult, SteeringMessage
from agentnas.run.roles import trained
from agentnas.search.policy import Policy, Selection


class Hypothesiser(Protocol):
    """Where new hypothesis texts come from (the researcher, or the offline keyword table)."""

    def new_hypothesis(self, tree: RunTree, rng: np.random.Generator) -> str: ...


@dataclass
class Budget:
    evals: int | None = None
    seconds: float | None = None
    iterations: int | None = None  # replay stops where the original run stopped
    started: float = field(default_factory=time.monotonic)

    def left(self, evaluated: int) -> int | None:
        """Evaluations still allowed after `evaluated` (None: no evaluation budget)."""
        return None if self.evals is None else max(self.evals - evaluated, 0)

    def spent(self, tree: RunTree, now: float) -> bool:
        if self.evals is not None and len(tree.experiments) >= self.evals:
            return True
        if self.iterations is not None and tree.iterations >= self.iterations:
            return True
        return self.seconds is not None and now - self.started >= self.seconds


class ValueGate:
    """Grant real training to the best scored children by mean + β·std, within the budget."""

    def __init__(self, per_expansion: int, beta: float, remaining: Callable[[], int | None]) -> None:
        self.per_expansion, self.beta, self.remaining = per_expansion, beta, remaining

    def grant(self, ctx: Context, candidates: list[Candidate]) -> list[str]:
        left = self.remaining()
        n = self.per_expansion if left is None else min(self.per_expansion, left)
        ranked = sorted(candidates, key=lambda c: (-((c.mean or 0.0) + self.beta * (c.std or 0.0)), c.id))
        return [c.id for c in ranked[: max(n, 0)]]


class Recorder:
    """The only writer of the journal during an expansion (and of the memory, when given)."""

    def __init__(self, journal: Journal, on_record: Callable[[Context, list[Candidate]], None] | None = None) -> None:
        self.journal, self.on_record = journal, on_record

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
                   "epochs": result.epochs, "seed": result.seed}
        entry = self.journal.append("experiment", self.key(c.id, fidelity), payload)
        return trained(c, result, entry.key)

    def low_scores(self) -> list[float]:
        """Validation accuracies of every low-fidelity result so far (for successive halving)."""
        return [float(e.payload["val_accuracy"]) for e in self.journal.entries("experiment")
                if e.payload.get("fidelity") == "low" and e.payload.get("val_accuracy") is not None]

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
            "slot": c.slot, "refill": c.refill, "fallback": c.fallback}


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
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(question, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{thread}:{digest}"


def iteration_rng(seed: int, iteration: int) -> np.random.Generator:
    return np.random.default_rng([seed, iteration])


def context_for(tree: RunTree, sel: Selection, iteration: int, seed: int, task: str, k: int,
                max_params: int | None) -> Context:
    assert sel.hypothesis_id is not None
    h = tree.hypotheses[sel.hypothesis_id]
    parent = tree.nodes.get(sel.node_id) if sel.node_id else None
    other = tree.nodes.get(sel.other_id) if sel.other_id else None
    siblings = [tree.nodes[i].description for i in h.nodes if tree.nodes[i].description][-6:]
    s = tree.steering
    limits = [v for v in (max_params, s.max_params) if v is not None]
    return Context(iteration=iteration, seed=seed, task=task, hypothesis_id=h.id, hypothesis=h.text,
                   parent_id=parent.id if parent else None, parent_code=parent.code if parent else None,
                   parent_arch=parent.arch if parent else None,
                   parent_val_accuracy=parent.val_accuracy if parent else None,
                   other_code=other.code if other else None, other_arch=other.arch if other else None,
                   siblings=siblings, steering=list(s.notes), max_params=min(limits) if limits else None,
                   banned_ops=sorted(s.banned_ops), required_ops=sorted(s.required_ops),
                   max_train_seconds=s.max_train_seconds, k=k)


class Loop:
    """Runs iterations until the budget is spent or `stop()` is called between iterations."""

    def __init__(self, journal: Journal, services_for: Callable[[Recorder], Services], hypothesiser: Hypothesiser,
                 *, task: str, seed: int, k: int, budget: Budget, policy: Policy | None = None,
                 max_params: int | None = None, checkpointer: Any | None = None,
                 on_iteration: Callable[[RunTree], None] | None = None,
                 before_step: Callable[[RunTree, int], None] | None = None,
                 graceful: tuple[type[Exception], ...] = (),
                 inbox: Callable[[], list[SteeringMessage]] | None = None,
                 approver: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.journal, self.hypothesiser = journal, hypothesiser
        self.task, self.seed, self.k, self.budget = task, seed, k, budget
        self.policy = policy or Policy()
        self.max_params = max_params
        self.recorder = Recorder(journal)
        self.services = services_for(self.recorder)
        self.graph = build_expansion_graph(self.services, checkpointer)
        self.on_iteration = on_iteration
        self.before_step = before_step
        self.graceful = graceful
        self.stop_reason: str | None = None
        self.stop_error: Exception | None = None  # the graceful exception that ended the run, if one did
        self.stopping = False
        self.inbox = inbox
        self.approver = approver

    def stop(self) -> None:
        self.stopping = True

    def tree(self) -> RunTree:
        return RunTree.from_journal(self.journal)

    def run(self, patience: int = 25) -> RunTree:
        """Iterate until the budget is spent, `stop()`, a graceful exception, or `patience`
        iterations in a row that trained nothing (every proposal failed or was a duplicate)."""
        tree = self.tree()
        idle = 0
        while not self.stopping and not self.budget.spent(tree, time.monotonic()):
            if idle >= patience:
                self.stop_reason = f"{patience} iterations in a row trained nothing (all proposals failed or repeated)"
                self.journal.append("event", f"stop-{self.journal.last_seq() + 1}",
                                    {"kind": "stopped", "reason": self.stop_reason, "iteration": tree.iterations})
                break
            evals_before = len(tree.experiments)
            tree = self.ingest(tree)
            if self.stopping:
                break
            try:
                self.step(tree)
            except self.graceful as e:  # the LLM spending cap, a dead endpoint: end the run, resumable later
                self.stop_reason = f"{type(e).__name__}: {e}"
                self.stop_error = e
                self.journal.append("event", f"stop-{self.journal.last_seq() + 1}",
                                    {"kind": "stopped", "reason": self.stop_reason, "iteration": tree.iterations})
                break
            tree = self.tree()
            idle = 0 if len(tree.experiments) > evals_before else idle + 1
            if self.on_iteration is not None:
                self.on_iteration(tree)
        return tree

    def ingest(self, tree: RunTree) -> RunTree:
        """Take new steering messages into the journal (at an iteration boundary only)."""
        if self.inbox is None:
            return tree
        fresh = [m for m in self.inbox() if self.journal.get("steering", m.id) is None]
        for m in fresh:
            self.journal.append("steering", m.id, {**m.model_dump(mode="json"), "iteration": tree.iterations})
            if m.kind == "hypothesis" and m.text.strip():
                self.journal.append("hypothesis", f"u{m.id}", {"text": m.text.strip(), "source": "user",
                                                              "priority": 1, "iteration": tree.iterations})
            if m.kind == "stop":
                self.stopping = True
                self.stop_reason = "stopped by the user (chat)"
        return self.tree() if fresh else tree

    def step(self, tree: RunTree) -> None:
        iteration = tree.iterations
        if self.before_step is not None:  # e.g. the value model learns every result of earlier iterations
            self.before_step(tree, iteration)
        config = {"configurable": {"thread_id": f"iter-{iteration}"}}
        if self.graph.checkpointer is not None and self.graph.get_state(config).next:
            state = self.graph.get_state(config)
            if state.interrupts:  # stopped while waiting for approval: ask again
                self._finish(self._answer(state.interrupts[0].value, config), config)
            else:
                self._finish(self.graph.invoke(None, config, durability="sync"), config)
            return
        rng = iteration_rng(self.seed, iteration)
        sel = self.policy.select(tree, rng)
        if sel.kind == "new_hypothesis":
            text = self.hypothesiser.new_hypothesis(tree, rng)
            hid = f"h{len(tree.hypotheses):03d}"
            self.journal.append("hypothesis", hid, {"text": text, "source": "researcher", "iteration": iteration})
            tree = self.tree()
            sel = Selection("expand", hypothesis_id=hid)
        ctx = context_for(tree, sel, iteration, self.seed, self.task, self.k, self.max_params)
        if sel.kind == "promote":
            self._promote(tree, sel, ctx)
            return
        # "sync": every node's checkpoint is on disk before the next node starts, so a kill
        # resumes exactly at the node that was running.
        durable: dict[str, Any] = {"durability": "sync"} if self.graph.checkpointer is not None else {}
        self._finish(self.graph.invoke({"context": ctx.model_dump(mode="json")}, config, **durable), config)

    def _finish(self, result: Any, config: dict[str, Any]) -> None:
        """Approval mode: the graph paused before training; ask, then resume it."""
        while isinstance(result, dict) and result.get("__interrupt__"):
            result = self._answer(result["__interrupt__"][0].value, config)

    def _answer(self, question: dict[str, Any], config: dict[str, Any]) -> Any:
        """The user's answer, journaled (an `approval` row keyed by the question) before the
        expansion goes on: a resume never asks a question already answered, and a replay
        serves the same answers."""
        from langgraph.types import Command

        key = approval_key(config["configurable"]["thread_id"], question)
        known = self.journal.get("approval", key)
        if known is not None:
            answer = known.payload["answer"]
        elif self.approver is None:
            raise RuntimeError("the expansion waits for approval, but this run has no approver")
        else:
            answer = self.approver(question)
            self.journal.append("approval", key, {"answer": answer, "iteration": config["configurable"]["thread_id"]})
        return self.graph.invoke(Command(resume=answer), config, durability="sync")

    def _promote(self, tree: RunTree, sel: Selection, ctx: Context) -> None:
        """Train a predicted-only node chosen by the policy; its node row is already written."""
        assert sel.node_id is not None
        node = tree.nodes[sel.node_id]
        c = Candidate(id=node.id, code=node.code, operator=node.operator, description=node.description,
                      arch=node.arch, status="scored", params=node.params, mean=node.mean, std=node.std)
        node_ctx = ctx.model_copy(update={"parent_id": node.parent_id})
        self.services.trainer.train(node_ctx, [c])
        self.journal.append("iteration", str(ctx.iteration), {
            "hypothesis_id": ctx.hypothesis_id, "parent_id": node.parent_id, "children": [],
            "trained": [node.id], "promoted": node.id})
