"""The run's tree, rebuilt from the journal: hypotheses (design directions in words) and
architecture nodes (code) under them, each architecture's children its mutations,
refinements and recombinations, the experiments, and the user's steering in force.

Nothing here writes: `RunTree.from_journal` re-reads the log, so resume and replay are
re-reading (house habit 5). The policy that chooses where to go next reads this tree
(agentnas.search.policy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentnas.journal.store import Journal
from agentnas.records import Steering, SteeringMessage


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
    experiment: dict[str, Any] | None = None
    children: list[str] = field(default_factory=list)
    refill: int = 0               # 0: first proposal of its slot, 1: re-asked, 2: written by the grammar
    fallback: str | None = None   # why the grammar wrote it in the proposer's place

    @property
    def trained(self) -> bool:
        return self.val_accuracy is not None

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


@dataclass
class RunTree:
    hypotheses: dict[str, HypothesisNode] = field(default_factory=dict)
    nodes: dict[str, ArchNode] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    iterations: int = 0
    steering: Steering = field(default_factory=Steering)

    @classmethod
    def from_journal(cls, journal: Journal) -> RunTree:
        tree = cls()
        for e in journal.entries(("hypothesis", "node", "experiment", "iteration", "steering")):
            if e.kind == "steering":
                message = {k: v for k, v in e.payload.items() if k != "iteration"}  # the loop adds when it took it
                tree.steering = tree.steering.apply(SteeringMessage.model_validate(message))
            elif e.kind == "hypothesis":
                tree.hypotheses[e.key] = HypothesisNode(id=e.key, text=e.payload["text"], source=e.payload["source"],
                                                    priority=int(e.payload.get("priority", 0)))
            elif e.kind == "node":
                p = e.payload
                node = ArchNode(id=e.key, hypothesis_id=p["hypothesis_id"], parent_id=p.get("parent_id"),
                                code=p["code"], arch=p.get("arch"), status=p["status"], operator=p["operator"],
                                description=p.get("description", ""), iteration=p["iteration"],
                                params=p.get("params"), mean=p.get("mean"), std=p.get("std"),
                                attempts=int(p.get("attempts", 0)),
                                features=p.get("features"), refill=int(p.get("refill", 0)),
                                fallback=p.get("fallback"))
                tree.nodes[e.key] = node
                if node.hypothesis_id in tree.hypotheses:
                    tree.hypotheses[node.hypothesis_id].nodes.append(node.id)
                if node.parent_id in tree.nodes:
                    tree.nodes[node.parent_id].children.append(node.id)
            elif e.kind == "experiment":
                tree.experiments[e.key] = e.payload
            else:
                tree.iterations = max(tree.iterations, int(e.key) + 1)
        for exp in tree.experiments.values():
            found = tree.nodes.get(exp["node_id"])
            if found is None:  # its expansion was killed before the record step: rows come on resume
                continue
            found.experiment = exp
            if exp["status"] == "ok" and exp.get("fidelity", "full") == "full":
                found.val_accuracy, found.test_accuracy = exp["val_accuracy"], exp["test_accuracy"]
        return tree

    def trained_nodes(self) -> list[ArchNode]:
        return [n for n in self.nodes.values() if n.trained]

    def best(self) -> ArchNode | None:
        """Best by validation accuracy (test is only reported); ties: fewer params, earlier."""
        done = self.trained_nodes()
        if not done:
            return None
        return max(done, key=lambda n: (n.val_accuracy or 0.0, -(n.params or 0), -n.iteration))
