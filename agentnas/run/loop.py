"""The one loop of every search: ask the policy for a step, carry it out, repeat — until the
budget is spent, the policy has nothing left to try, the user stops it, a graceful error
(an LLM spending cap, a dead endpoint) ends it, or `max_idle_steps` steps in a row added no
evaluation. Resumable from the records after any stop.

What a step does depends on the kind of run, and is the `Steps` given to the loop:
- a code-level run (agentnas.run.expansion.CodeSteps): the tree is rebuilt from the journal,
  an expansion goes through the agents graph (propose, check, repair, score, gate, train,
  analyse, record), a promotion trains a predicted-only node;
- a tabular run or benchmark (agentnas.run.search.TableSteps): the policy's nodes are
  recorded and its evaluations are table lookups.
The RNG of a step is derived from (seed, step index) alone (`step_rng`), never from earlier
draws, so a search resumed from its records makes the same choices as one that never stopped.
Only the loop and the `Steps` it runs write the records (the journal); policies read them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from agentnas.journal import Journal
from agentnas.records import Step
from agentnas.search.base import SearchPolicy, step_rng
from agentnas.search.budget import Budget

T = TypeVar("T")


class Steps(Protocol[T]):
    """How one kind of run reads its tree and carries out a policy's steps."""

    def tree(self) -> T:
        """The tree as the records hold it now."""
        ...

    def spent(self, tree: T) -> float:
        """Evaluations spent so far, in the budget's units."""
        ...

    def index(self, tree: T) -> int:
        """The index of the next step (its RNG and its records are keyed by it)."""
        ...

    def ingest(self, tree: T) -> tuple[T, str | None]:
        """Take what arrived between steps (the user's steering); a reason when it asks to stop."""
        ...

    def resume(self, tree: T, index: int) -> bool:
        """Finish a step that a kill interrupted (True: there was one, and it is done)."""
        ...

    def execute(self, step: Step, tree: T, index: int, budget: Budget) -> bool:
        """Carry out `step`; False when it could not be (the budget cannot pay for what it
        asks, or it asked only for what the records already hold): the search ends."""
        ...

    def stopped(self, reason: str, tree: T) -> None:
        """Record why the search ended early."""
        ...


class Loop(Generic[T]):
    def __init__(self, policy: SearchPolicy[T], steps: Steps[T], budget: Budget, seed: int, *,  # type: ignore[type-var]
                 graceful: tuple[type[Exception], ...] = (),
                 before_step: Callable[[T, int], None] | None = None,
                 on_iteration: Callable[[T], None] | None = None, journal: Journal | None = None) -> None:
        self.policy, self.steps, self.budget, self.seed = policy, steps, budget, seed
        self.journal = journal  # the records a run's readers (the CLI) reach through its loop; None: in memory
        self.graceful, self.before_step, self.on_iteration = graceful, before_step, on_iteration
        self.stop_reason: str | None = None
        self.stop_error: Exception | None = None  # the graceful exception that ended the run, if one did
        self.stopping = False

    def stop(self) -> None:
        """End the run at the next step boundary."""
        self.stopping = True

    def tree(self) -> T:
        return self.steps.tree()

    def _stop(self, reason: str, tree: T) -> None:
        self.stop_reason = reason
        self.steps.stopped(reason, tree)

    def run(self) -> T:
        tree = self.steps.tree()
        idle = 0
        while not self.stopping and not self.budget.exhausted(self.steps.spent(tree), self.steps.index(tree)):
            if idle >= self.budget.max_idle_steps:
                self._stop(f"{idle} iterations in a row trained nothing (all proposals failed or repeated)", tree)
                break
            tree, asked = self.steps.ingest(tree)
            if asked is not None:
                self.stopping, self.stop_reason = True, asked
                break
            spent, index = self.steps.spent(tree), self.steps.index(tree)
            if self.before_step is not None:  # e.g. the value model learns every result of earlier steps
                self.before_step(tree, index)
            try:
                if not self.steps.resume(tree, index):
                    step = self.policy.step(tree, step_rng(self.seed, index))
                    if step.empty or not self.steps.execute(step, tree, index, self.budget):
                        break
            except self.graceful as e:  # the LLM spending cap, a dead endpoint: end the run, resumable later
                self.stop_error = e
                self._stop(f"{type(e).__name__}: {e}", tree)
                break
            tree = self.steps.tree()
            idle = 0 if self.steps.spent(tree) > spent else idle + 1
            if self.on_iteration is not None:
                self.on_iteration(tree)
        return tree
