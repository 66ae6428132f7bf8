"""A tabular search's steps, for the one loop (agentnas.run.loop): the policy's nodes are
recorded and its evaluations are lookups (or any `Evaluate`), in memory for benchmarks and
tests, and also appended to a journal for a resumable `agentnas run` on a tabular task.

Budget accounting (agentnas.search.budget.Budget), shared by every policy:
- a query is one real evaluation of one architecture at one fidelity, and costs that
  fidelity (a full evaluation costs 1); failed evaluations cost the same;
- a (key, fidelity) is never evaluated twice: a request for one the tree holds is skipped at
  no cost (policies should not make such requests; the steps enforce it);
- the search stops before an evaluation would take the cost past the budget, when a policy
  returns an empty step or one that asks only for what is known, or after
  `max_idle_steps` steps in a row with no new evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

from agentnas.journal import Journal
from agentnas.journal.tree import FULL, SearchTree
from agentnas.records import SearchNode, SearchResult, Step
from agentnas.run.loop import Loop
from agentnas.search.base import Evaluate, SearchPolicy
from agentnas.search.budget import Budget
from agentnas.search.estimate import ValueEstimator

NODE, RESULT = "tab_node", "tab_result"  # the journal kinds of a tabular run


class PolicyError(RuntimeError):
    """A policy broke its contract (a node from another step, an unknown node to evaluate)."""


class TableSteps:
    def __init__(self, tree: SearchTree, evaluate: Evaluate, *, estimator: ValueEstimator | None = None,
                 on_result: Callable[[SearchResult], None] | None = None, journal: Journal | None = None,
                 policy_name: str = "") -> None:
        self.search, self.evaluate, self.estimator = tree, evaluate, estimator
        self.on_result, self.journal, self.policy_name = on_result, journal, policy_name
        self.written = set(tree.nodes)
        if estimator is not None:  # a resumed search's value model relearns what the records hold
            estimator.observe_all([(r.key, r.val_accuracy) for r in tree.full_results()])  # type: ignore[misc]

    def tree(self) -> SearchTree:
        return self.search

    def spent(self, tree: SearchTree) -> float:
        return tree.cost()

    def index(self, tree: SearchTree) -> int:
        return tree.next_step

    def ingest(self, tree: SearchTree) -> tuple[SearchTree, str | None]:
        return tree, None

    def resume(self, tree: SearchTree, index: int) -> bool:
        return False

    def stopped(self, reason: str, tree: SearchTree) -> None:
        if self.journal is not None:
            self.journal.append("event", f"stop-{self.journal.last_seq() + 1}",
                                {"kind": "stopped", "reason": reason, "iteration": tree.next_step})

    def _persist(self) -> None:
        if self.journal is None:
            return
        for node_id, node in self.search.nodes.items():  # a result always follows its node in the journal
            if node_id not in self.written:
                self.journal.append(NODE, node_id, node.model_dump(mode="json"))
                self.written.add(node_id)

    def execute(self, step: Step, tree: SearchTree, index: int, budget: Budget) -> bool:
        for node in step.new_nodes:
            if node.step != index:
                raise PolicyError(f"{self.policy_name}: node {node.id} says step {node.step}, the step is {index}")
            tree.add_node(node)
        done = 0
        for request in step.evaluate:
            target = tree.nodes.get(request.node_id)
            if target is None or target.kind != "architecture":
                raise PolicyError(f"{self.policy_name}: cannot evaluate {request.node_id!r} (not an architecture "
                                  "node)")
            if tree.queried(target.key, request.fidelity) is not None:
                continue
            if not budget.allows(tree.cost(), request.fidelity):
                self._persist()
                return False
            obs = self.evaluate(target.key, request.fidelity)
            result = SearchResult(node_id=target.id, key=target.key, fidelity=request.fidelity,
                                  val_accuracy=obs.val_accuracy, failure=obs.failure, cost=request.fidelity,
                                  step=index)
            tree.add_result(result)
            done += 1
            if self.estimator is not None and result.ok and result.fidelity >= FULL:
                self.estimator.observe(result.key, result.val_accuracy)  # type: ignore[arg-type]
            self._persist()
            if self.journal is not None:
                self.journal.append(RESULT, f"{result.key}@{result.fidelity:g}", result.model_dump(mode="json"))
            if self.on_result is not None:
                self.on_result(result)
        self._persist()
        return bool(done or step.new_nodes)  # a step that asked only for what is known: nothing new is left


def run_search(policy: SearchPolicy[SearchTree], evaluate: Evaluate, budget: Budget, seed: int = 0,
               tree: SearchTree | None = None, estimator: ValueEstimator | None = None,
               on_result: Callable[[SearchResult], None] | None = None, journal: Journal | None = None) -> SearchTree:
    """Run `policy` until the budget is spent, through the one loop; pass `tree` (rebuilt from
    records) to resume, with a fresh `estimator`: it is fed the tree's results first. With a
    `journal`, every node and result is appended to it as it is made."""
    steps = TableSteps(tree if tree is not None else SearchTree(), evaluate, estimator=estimator,
                       on_result=on_result, journal=journal, policy_name=policy.name)
    return Loop(policy, steps, budget, seed, journal=journal).run()


def replay_table(journal: Journal) -> SearchTree:
    """The tree a tabular run's journal holds."""
    return SearchTree.replay((SearchNode.model_validate(e.payload) for e in journal.entries(NODE)),
                             (SearchResult.model_validate(e.payload) for e in journal.entries(RESULT)))
