"""Run a policy against an evaluator under a budget, in memory (benchmarks, tests).

The run loop of `agentnas run` does the same around its journal; this one keeps the
records in a `SearchTree` only. Budget accounting, shared by every policy:
- a query is one real evaluation of one architecture at one fidelity, and costs that
  fidelity (a full evaluation costs 1); failed evaluations cost the same;
- a (key, fidelity) is never evaluated twice: a request for one the tree holds is
  skipped at no cost (policies should not make such requests; the driver enforces it);
- the search stops before an evaluation would take the cost past `max_cost`, when a
  policy returns an empty step, or after `max_idle_steps` steps in a row with no new
  evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from agentnas.records import Observation, SearchResult
from agentnas.search.base import SearchPolicy, step_rng
from agentnas.search.estimate import ValueEstimator
from agentnas.search.tree import FULL, SearchTree

Evaluate = Callable[[str, float], Observation]


class Budget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_cost: float = Field(gt=0)  # full evaluations
    max_idle_steps: int = Field(default=200, gt=0)


class PolicyError(RuntimeError):
    """A policy broke its contract (a node from another step, an unknown node to evaluate)."""


def run_search(policy: SearchPolicy, evaluate: Evaluate, budget: Budget, seed: int = 0,
               tree: SearchTree | None = None, estimator: ValueEstimator | None = None,
               on_result: Callable[[SearchResult], None] | None = None) -> SearchTree:
    """Run `policy` until the budget is spent; pass `tree` (rebuilt from records) to resume,
    with a fresh `estimator`: it is fed the tree's results first."""
    tree = tree if tree is not None else SearchTree()
    if estimator is not None:
        estimator.observe_all([(r.key, r.val_accuracy) for r in tree.full_results()])  # type: ignore[misc]
    idle = 0
    while tree.cost() < budget.max_cost - 1e-9 and idle < budget.max_idle_steps:
        index = tree.next_step
        step = policy.step(tree, step_rng(seed, index))
        if not step.new_nodes and not step.evaluate:
            break
        for node in step.new_nodes:
            if node.step != index:
                raise PolicyError(f"{policy.name}: node {node.id} says step {node.step}, the step is {index}")
            tree.add_node(node)
        done = 0
        for request in step.evaluate:
            target = tree.nodes.get(request.node_id)
            if target is None or target.kind != "architecture":
                raise PolicyError(f"{policy.name}: cannot evaluate {request.node_id!r} (not an architecture node)")
            if tree.queried(target.key, request.fidelity) is not None:
                continue
            if tree.cost() + request.fidelity > budget.max_cost + 1e-9:
                return tree
            obs = evaluate(target.key, request.fidelity)
            result = SearchResult(node_id=target.id, key=target.key, fidelity=request.fidelity,
                                  val_accuracy=obs.val_accuracy, failure=obs.failure, cost=request.fidelity,
                                  step=index)
            tree.add_result(result)
            done += 1
            if estimator is not None and result.ok and result.fidelity >= FULL:
                estimator.observe(result.key, result.val_accuracy)  # type: ignore[arg-type]
            if on_result is not None:
                on_result(result)
        if not done and not step.new_nodes:
            break  # the policy only asked for what is known: it has nothing new
        idle = 0 if done else idle + 1
    return tree
