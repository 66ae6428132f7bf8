"""A code-level run's steps, for the one loop (agentnas.run.loop): the tree is rebuilt from the
journal, an `Expansion` goes through the agents graph, a promotion trains a predicted-only
node.

One step:
    tree  = RunTree.from_journal(journal)             (rewards backed up in its SearchTree)
    step  = policy.step(tree, step_rng(seed, index))  (agentnas.search.policy.RunPolicy)
    expansion: propose -> check -> repair -> score -> refill -> gate -> [approve] -> train
               -> analyse -> record (agentnas.agents.graph);  promotion: train one node
The langgraph checkpoint (SqliteSaver, thread `iter-N`) lets a killed expansion resume at the
node that was running (`resume`); the trainer skips candidates whose experiment is already in
the journal, so nothing is evaluated twice and nothing evaluated is lost.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol

from agentnas.agents.graph import build_expansion_graph
from agentnas.agents.services import Services
from agentnas.agents.state import Candidate, Context
from agentnas.journal import Journal
from agentnas.journal.tree import RunTree
from agentnas.records import ACCURACY, Expansion, Metric, SteeringMessage, Step
from agentnas.run.loop import Loop
from agentnas.run.record import Recorder, approval_key
from agentnas.search.budget import Budget
from agentnas.search.policy import RunPolicy
from agentnas.search.run_front import RunFront
from agentnas.search.selection import PuctParams, gate


class Hypothesiser(Protocol):
    """Where new hypothesis texts come from (the researcher, or the offline keyword table)."""

    def new_hypothesis(self, tree: RunTree, rng: random.Random) -> str: ...


class ValueGate:
    """Grant real training to the best scored children by a(x) = u(μ) + β·σ (selection.gate, with
    the exploration schedule's β), within the budget; with a `front` (a run that optimises a
    trade-off), by their expected hypervolume improvement over the run's front (`tree` reads it)."""

    def __init__(self, per_expansion: int, puct: PuctParams, remaining: Callable[[], int | None],
                 full_results: Callable[[], int] = lambda: 0, metric: Metric = ACCURACY,
                 front: RunFront | None = None, tree: Callable[[], RunTree] | None = None) -> None:
        self.per_expansion, self.puct, self.remaining = per_expansion, puct, remaining
        self.full_results, self.metric = full_results, metric
        self.front, self.tree = front, tree

    def grant(self, ctx: Context, candidates: list[Candidate]) -> list[str]:
        import numpy as np

        left = self.remaining()
        n = self.per_expansion if left is None else min(self.per_expansion, left)
        ordered = sorted(candidates, key=lambda c: c.id)
        if self.front is not None and self.tree is not None:
            costs = [c.costs.value(self.front.cost) if c.costs is not None else None for c in ordered]
            gain = self.front.gains(self.tree(), [c.mean or 0.0 for c in ordered], [c.std or 0.0 for c in ordered],
                                    costs)
            best = sorted(range(len(ordered)), key=lambda i: (-gain[i], i))
            return [ordered[i].id for i in best[: max(n, 0)]]
        mean = self.metric.utilities(np.array([c.mean or 0.0 for c in ordered]))
        std = np.array([c.std or 0.0 for c in ordered])
        return [ordered[i].id for i in gate(mean, std, self.puct.beta_at(self.full_results()), max(n, 0))]


def context_for(tree: RunTree, expansion: Expansion, iteration: int, seed: int, task: str, k: int,
                max_params: int | None) -> Context:
    assert expansion.hypothesis_id is not None
    h = tree.hypotheses[expansion.hypothesis_id]
    parent = tree.nodes.get(expansion.parent_id) if expansion.parent_id else None
    other = tree.nodes.get(expansion.other_id) if expansion.other_id else None
    siblings = [tree.nodes[i].description for i in h.nodes if tree.nodes[i].description][-6:]
    s = tree.steering
    limits = [v for v in (max_params, s.max_params) if v is not None]
    return Context(iteration=iteration, seed=seed, task=task, hypothesis_id=h.id, hypothesis=h.text,
                   parent_id=parent.id if parent else None, parent_code=parent.code if parent else None,
                   parent_arch=parent.arch if parent else None,
                   parent_val_accuracy=parent.val_accuracy if parent else None,
                   parent_val_score=parent.val_score if parent else None, metric=tree.metric.name,
                   other_code=other.code if other else None, other_arch=other.arch if other else None,
                   siblings=siblings, steering=list(s.notes), max_params=min(limits) if limits else None,
                   banned_ops=sorted(s.banned_ops), required_ops=sorted(s.required_ops),
                   max_train_seconds=s.max_train_seconds, max_latency_ms=s.max_latency_ms, max_macs=s.max_macs,
                   max_size_mb=s.max_size_mb, k=k)


class CodeSteps:
    def __init__(self, journal: Journal, services_for: Callable[[Recorder], Services], hypothesiser: Hypothesiser,
                 *, task: str, seed: int, k: int, max_params: int | None = None, checkpointer: Any | None = None,
                 inbox: Callable[[], list[SteeringMessage]] | None = None,
                 approver: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 metric: Metric = ACCURACY, low_fraction: float | None = None) -> None:
        self.journal, self.hypothesiser = journal, hypothesiser
        self.task, self.seed, self.k, self.max_params, self.metric = task, seed, k, max_params, metric
        self.recorder = Recorder(journal, low_fraction=low_fraction)
        self.services = services_for(self.recorder)
        self.graph = build_expansion_graph(self.services, checkpointer)
        self.inbox, self.approver = inbox, approver

    # -- reading -------------------------------------------------------------------------

    def tree(self) -> RunTree:
        return RunTree.from_journal(self.journal, self.metric)

    def spent(self, tree: RunTree) -> float:
        return float(len(tree.experiments))  # every training is one evaluation, whatever its fidelity

    def index(self, tree: RunTree) -> int:
        return tree.iterations

    def stopped(self, reason: str, tree: RunTree) -> None:
        self.journal.append("event", f"stop-{self.journal.last_seq() + 1}",
                            {"kind": "stopped", "reason": reason, "iteration": tree.iterations})

    def ingest(self, tree: RunTree) -> tuple[RunTree, str | None]:
        """Take new steering messages into the journal (at an iteration boundary only)."""
        if self.inbox is None:
            return tree, None
        fresh = [m for m in self.inbox() if self.journal.get("steering", m.id) is None]
        stop = None
        for m in fresh:
            self.journal.append("steering", m.id, {**m.model_dump(mode="json"), "iteration": tree.iterations})
            if m.kind == "hypothesis" and m.text.strip():
                self.journal.append("hypothesis", f"u{m.id}", {"text": m.text.strip(), "source": "user",
                                                              "priority": 1, "iteration": tree.iterations})
            if m.kind == "stop":
                stop = "stopped by the user (chat)"
        return (self.tree() if fresh else tree), stop

    # -- steps ---------------------------------------------------------------------------

    def resume(self, tree: RunTree, index: int) -> bool:
        config = {"configurable": {"thread_id": f"iter-{index}"}}
        if self.graph.checkpointer is None or not self.graph.get_state(config).next:
            return False
        state = self.graph.get_state(config)
        if state.interrupts:  # stopped while waiting for approval: ask again
            self._finish(self._answer(state.interrupts[0].value, config), config)
        else:
            self._finish(self.graph.invoke(None, config, durability="sync"), config)
        return True

    def execute(self, step: Step, tree: RunTree, index: int, budget: Budget) -> bool:
        if step.expand is not None:
            expansion = step.expand
            if expansion.hypothesis_id is None:
                text = self.hypothesiser.new_hypothesis(tree, random.Random(f"agentnas-hypothesis:{self.seed}:{index}"))
                hid = f"h{len(tree.hypotheses):03d}"
                self.journal.append("hypothesis", hid, {"text": text, "source": "researcher", "iteration": index})
                tree = self.tree()
                expansion = Expansion(hypothesis_id=hid)
            ctx = context_for(tree, expansion, index, self.seed, self.task, self.k, self.max_params)
            # "sync": every node's checkpoint is on disk before the next node starts, so a kill
            # resumes exactly at the node that was running.
            durable: dict[str, Any] = {"durability": "sync"} if self.graph.checkpointer is not None else {}
            config = {"configurable": {"thread_id": f"iter-{index}"}}
            self._finish(self.graph.invoke({"context": ctx.model_dump(mode="json")}, config, **durable), config)
            return True
        for request in step.evaluate:  # promotions: predicted-only nodes, trained without a new expansion
            self._promote(tree, request.node_id, index)
        return True

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

    def _promote(self, tree: RunTree, node_id: str, index: int) -> None:
        """Train a predicted-only node chosen by the policy; its node row is already written."""
        node = tree.nodes[node_id]
        ctx = context_for(tree, Expansion(hypothesis_id=node.hypothesis_id, parent_id=node.parent_id), index,
                          self.seed, self.task, self.k, self.max_params)
        c = Candidate(id=node.id, code=node.code, operator=node.operator, description=node.description,
                      arch=node.arch, status="scored", params=node.params, mean=node.mean, std=node.std)
        self.services.trainer.train(ctx, [c])
        self.journal.append("iteration", str(index), {
            "hypothesis_id": node.hypothesis_id, "parent_id": node.parent_id, "children": [],
            "trained": [node.id], "promoted": node.id})


def code_loop(journal: Journal, services_for: Callable[[Recorder], Services], hypothesiser: Hypothesiser, *,
              task: str, seed: int, k: int, budget: Budget, policy: RunPolicy | None = None,
              max_params: int | None = None, checkpointer: Any | None = None,
              on_iteration: Callable[[RunTree], None] | None = None,
              before_step: Callable[[RunTree, int], None] | None = None,
              graceful: tuple[type[Exception], ...] = (),
              inbox: Callable[[], list[SteeringMessage]] | None = None,
              approver: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
              metric: Metric = ACCURACY, low_fraction: float | None = None) -> Loop[RunTree]:
    """The loop of a code-level run (assembled by agentnas.run.assemble; replay builds the same)."""
    steps = CodeSteps(journal, services_for, hypothesiser, task=task, seed=seed, k=k, max_params=max_params,
                      checkpointer=checkpointer, inbox=inbox, approver=approver, metric=metric,
                      low_fraction=low_fraction)
    return Loop(policy or RunPolicy(), steps, budget, seed, graceful=graceful, before_step=before_step,
                on_iteration=on_iteration, journal=journal)
