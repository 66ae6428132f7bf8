"""The one search tree, and the run's tree rebuilt from the journal.

`SearchTree` indexes node and result records (`agentnas.records`: SearchNode, SearchResult)
and backs every real result up to the root: an ancestor's visit count grows by one with
each evaluation, its best reward is the best full-fidelity reward below it. It is rebuilt by
replaying records in order (`replay`), never unpickled; policies read it, the loop writes it.
Only full-fidelity rewards back up as rewards (a short training is promotion evidence, not a
score to compare with full ones).

`RunTree` is a code-level run's tree, rebuilt from the journal (house habit 5: resume and
replay are re-reading): hypotheses and architecture nodes with their code, status, value
predictions and lessons, the experiments, the steering in force, and the same `SearchTree`
over them (`.search`: architectures keyed by their code hash, trainings as results), which
the selection policy reads as the tabular search reads its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agentnas.journal.store import Journal
from agentnas.records import (
    ACCURACY,
    Costs,
    ExperimentEntry,
    HypothesisEntry,
    Metric,
    NodeEntry,
    SearchNode,
    SearchResult,
    Steering,
    SteeringMessage,
    metric_named,
)

FULL = 1.0  # the full recipe's fidelity


class TreeError(ValueError):
    """A record does not fit the tree (unknown parent, duplicate id, result for no node)."""


class SearchTree:
    """Nodes and real results, with every result backed up to the root: the one tree of every
    search (tabular runs and benchmarks use it as it is; a code-level run's `RunTree` holds one).
    Rewards are utilities of `metric` (the score itself when higher is better), so every
    comparison here, and in the policies that read it, goes one way."""

    def __init__(self, metric: Metric = ACCURACY) -> None:
        self.metric = metric
        self.nodes: dict[str, SearchNode] = {}
        self.children: dict[str | None, list[str]] = {None: []}
        self.by_key: dict[str, str] = {}  # architecture key -> the node that holds it (the first one)
        self.results: list[SearchResult] = []  # query order
        self.node_results: dict[str, list[SearchResult]] = {}
        self._queried: dict[tuple[str, float], SearchResult] = {}
        self._visits: dict[str, int] = {}
        self._best: dict[str, float] = {}  # best full-fidelity reward in the subtree
        self._next_step = 0

    @classmethod
    def replay(cls, nodes: Iterable[SearchNode], results: Iterable[SearchResult],
               metric: Metric = ACCURACY) -> SearchTree:
        """The tree those records describe (nodes first: a result always follows its node)."""
        tree = cls(metric)
        for node in nodes:
            tree.add_node(node)
        for result in results:
            tree.add_result(result)
        return tree

    # -- writing (the loop only) -------------------------------------------------------

    def add_node(self, node: SearchNode) -> None:
        if node.id in self.nodes:
            raise TreeError(f"node {node.id!r} is already in the tree")
        if node.parent_id is not None and node.parent_id not in self.nodes:
            raise TreeError(f"node {node.id!r} names parent {node.parent_id!r}, which is not in the tree")
        if node.kind == "architecture":
            hyp = self.nodes.get(node.hypothesis_id)
            if hyp is None or hyp.kind != "hypothesis":
                raise TreeError(f"node {node.id!r} names hypothesis {node.hypothesis_id!r}, which is not one")
        self.nodes[node.id] = node
        self.children.setdefault(node.parent_id, []).append(node.id)
        self.children.setdefault(node.id, [])
        if node.key:
            self.by_key.setdefault(node.key, node.id)
        self._next_step = max(self._next_step, node.step + 1)

    def add_result(self, result: SearchResult) -> None:
        """Record one real evaluation and back it up to the root."""
        node = self.nodes.get(result.node_id)
        if node is None:
            raise TreeError(f"result for unknown node {result.node_id!r}")
        if node.key != result.key:
            raise TreeError(f"result key {result.key!r} does not match node {node.id!r} ({node.key!r})")
        self.results.append(result)
        self.node_results.setdefault(node.id, []).append(result)
        self._queried.setdefault((result.key, result.fidelity), result)
        self._next_step = max(self._next_step, result.step + 1)
        reward = (self.metric.utility(result.score)
                  if result.fidelity >= FULL and result.score is not None else None)
        for ancestor in self.lineage(node.id):
            self._visits[ancestor] = self._visits.get(ancestor, 0) + 1
            if reward is not None and reward > self._best.get(ancestor, float("-inf")):
                self._best[ancestor] = reward

    # -- reading -----------------------------------------------------------------------

    @property
    def next_step(self) -> int:
        """The index of the next policy step (one more than any recorded step)."""
        return self._next_step

    def lineage(self, node_id: str) -> Iterator[str]:
        """The node, then its ancestors up to its hypothesis."""
        current: str | None = node_id
        while current is not None:
            yield current
            current = self.nodes[current].parent_id

    def hypotheses(self) -> list[SearchNode]:
        return [self.nodes[i] for i in self.children[None]]

    def kids(self, node_id: str | None) -> list[SearchNode]:
        return [self.nodes[i] for i in self.children.get(node_id, [])]

    def visits(self, node_id: str | None) -> int:
        """Real evaluations in the subtree (the root's: all of them)."""
        return len(self.results) if node_id is None else self._visits.get(node_id, 0)

    def best(self, node_id: str | None) -> float | None:
        """The best full-fidelity reward (utility) in the subtree, None before any."""
        if node_id is None:
            return max((self.metric.utility(r.score) for r in self.full_results()),  # type: ignore[arg-type]
                       default=None)
        return self._best.get(node_id)

    def reward(self, node_id: str) -> float | None:
        """The node's own full-fidelity reward (utility; None: not evaluated in full, or failed)."""
        for r in self.node_results.get(node_id, ()):
            if r.fidelity >= FULL and r.score is not None:
                return self.metric.utility(r.score)
        return None

    def evaluated(self, node_id: str) -> bool:
        return bool(self.node_results.get(node_id))

    def predicted_only(self, node_id: str) -> bool:
        return self.nodes[node_id].kind == "architecture" and not self.evaluated(node_id)

    def queried(self, key: str, fidelity: float = FULL) -> SearchResult | None:
        """The result of an earlier query of `key` at `fidelity`, if any (queries are never repeated)."""
        return self._queried.get((key, fidelity))

    def full_results(self) -> list[SearchResult]:
        return [r for r in self.results if r.fidelity >= FULL and r.ok]

    def cost(self) -> float:
        return sum(r.cost for r in self.results)

    def incumbent(self) -> SearchResult | None:
        """The best full-fidelity result so far (the first one on ties)."""
        best: SearchResult | None = None
        for r in self.full_results():
            if best is None or self.metric.better(r.score, best.score):  # type: ignore[arg-type]
                best = r
        return best


@dataclass
class ArchNode:
    id: str
    hypothesis_id: str
    parent_id: str | None
    code: str
    arch: dict[str, Any] | None
    status: str
    operator: str
    description: str
    iteration: int
    attempts: int = 0
    params: int | None = None
    mean: float | None = None
    std: float | None = None
    features: list[float] | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    # The task metric's scores (the accuracies on accuracy tasks, the losses on token tasks):
    # what the run ranks by, through the tree's `Metric`.
    val_score: float | None = None
    test_score: float | None = None
    experiment: dict[str, Any] | None = None
    children: list[str] = field(default_factory=list)
    refill: int = 0               # 0: first proposal of its slot, 1: re-asked, 2: written by the grammar
    fallback: str | None = None   # why the grammar wrote it in the proposer's place
    autofix: str | None = None    # what the trusted side mended before the check (missing imports)
    costs: Costs | None = None    # deployment costs measured at the check, before any training

    @property
    def trained(self) -> bool:
        return self.val_score is not None

    @property
    def predicted_only(self) -> bool:
        return self.status == "scored" and self.experiment is None


@dataclass
class HypothesisNode:
    id: str
    text: str
    source: str
    priority: int = 0
    nodes: list[str] = field(default_factory=list)


LOW_FIDELITY = 0.5  # the share of the recipe of a short training when the journal does not say (v1)


@dataclass
class RunTree:
    hypotheses: dict[str, HypothesisNode] = field(default_factory=dict)
    nodes: dict[str, ArchNode] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    iterations: int = 0
    steering: Steering = field(default_factory=Steering)
    metric: Metric = ACCURACY
    search: SearchTree = field(default_factory=SearchTree)

    @classmethod
    def from_journal(cls, journal: Journal, metric: Metric | None = None) -> RunTree:
        """The run's tree; `metric` None: the one its experiments name (accuracy before any)."""
        if metric is None:
            named = (e.payload.get("metric") for e in journal.entries("experiment"))
            metric = metric_named(next((m for m in named if m), None))
        tree = cls(metric=metric, search=SearchTree(metric))
        for e in journal.entries(("hypothesis", "node", "experiment", "iteration", "steering")):
            if e.kind == "steering":
                message = {k: v for k, v in e.payload.items() if k != "iteration"}  # the loop adds when it took it
                tree.steering = tree.steering.apply(SteeringMessage.model_validate(message))
            elif e.kind == "hypothesis":
                h = HypothesisEntry.model_validate(e.payload)
                tree.hypotheses[e.key] = HypothesisNode(id=e.key, text=h.text, source=h.source, priority=h.priority)
                tree.search.add_node(SearchNode(id=e.key, kind="hypothesis", operator="hypothesis",
                                                text=h.text or "(no text)", step=h.iteration))
            elif e.kind == "node":
                tree._add_node(e.key, NodeEntry.model_validate(e.payload))
            elif e.kind == "experiment":
                tree.experiments[e.key] = e.payload
            else:
                tree.iterations = max(tree.iterations, int(e.key) + 1)
        for exp in tree.experiments.values():  # after the nodes: an expansion records its nodes last
            tree._add_experiment(ExperimentEntry.model_validate(exp))
        return tree

    def _add_node(self, key: str, p: NodeEntry) -> None:
        node = ArchNode(id=key, hypothesis_id=p.hypothesis_id, parent_id=p.parent_id, code=p.code, arch=p.arch,
                        status=p.status, operator=p.operator, description=p.description, iteration=p.iteration,
                        params=p.params, mean=p.mean, std=p.std, attempts=p.attempts, features=p.features,
                        refill=p.refill, fallback=p.fallback, autofix=p.autofix, costs=p.costs)
        self.nodes[key] = node
        if node.hypothesis_id in self.hypotheses:
            self.hypotheses[node.hypothesis_id].nodes.append(node.id)
        if node.parent_id in self.nodes:
            self.nodes[node.parent_id].children.append(node.id)
        if node.hypothesis_id in self.search.nodes:
            parent = node.parent_id if node.parent_id in self.search.nodes else node.hypothesis_id
            self.search.add_node(SearchNode(
                id=key, parent_id=parent, kind="architecture", operator=p.operator or "sample",
                key=p.code_hash or key, text=p.description, hypothesis_id=node.hypothesis_id, prior_mean=p.mean,
                prior_std=p.std, step=p.iteration))

    def _add_experiment(self, exp: ExperimentEntry) -> None:
        found = self.nodes.get(exp.node_id)
        if found is None:  # its expansion was killed before the record step: rows come on resume
            return
        found.experiment = exp.model_dump(mode="json")
        val, test = exp.scores()
        if exp.ok and exp.fidelity == "full":
            found.val_accuracy, found.test_accuracy = exp.val_accuracy, exp.test_accuracy
            found.val_score, found.test_score = val, test
        if exp.node_id in self.search.nodes:
            fidelity = 1.0 if exp.fidelity == "full" else (exp.fidelity_fraction or LOW_FIDELITY)
            ok = exp.ok and val is not None
            self.search.add_result(SearchResult(
                node_id=exp.node_id, key=self.search.nodes[exp.node_id].key, fidelity=fidelity,
                val_accuracy=exp.val_accuracy if ok else None, val_score=val if ok else None,
                failure=None if ok else (exp.failure_kind or "crash"), cost=1.0, step=exp.iteration))

    def trained_nodes(self) -> list[ArchNode]:
        return [n for n in self.nodes.values() if n.trained]

    def best(self) -> ArchNode | None:
        """Best by the task's validation metric (test is only reported); ties: fewer params, earlier."""
        done = self.trained_nodes()
        if not done:
            return None
        return min(done, key=lambda n: (self.metric.sort_key(n.val_score), n.params or 0, n.iteration))

    def ranked(self) -> list[ArchNode]:
        """Trained nodes, best first (the order of `best`)."""
        return sorted(self.trained_nodes(),
                      key=lambda n: (self.metric.sort_key(n.val_score), n.params or 0, n.iteration))
