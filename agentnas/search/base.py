"""The policy contract, and the helpers every policy shares."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from agentnas.journal.tree import RunTree, SearchTree
from agentnas.records import Observation, Step

# What a tabular search calls to evaluate an architecture key at a fidelity: validation only.
Evaluate = Callable[[str, float], Observation]

TreeT = TypeVar("TreeT", SearchTree, RunTree)


class SearchPolicy(ABC, Generic[TreeT]):
    """Contract: `step(tree, rng)` reads the tree and returns a `Step`: nodes to add (each
    with `step == tree.next_step`), an expansion for the proposer to carry out, and
    evaluations to run. It never changes the tree, keeps no state that the tree's records do
    not determine (a resumed search rebuilds the tree and calls `step` again), draws all
    randomness from `rng`, and never asks again for a (key, fidelity) the tree already holds.
    An empty Step means nothing is left to try.

    Tabular policies read a `SearchTree` and make their children themselves (their proposer
    is a cheap grammar over table keys); the code-level policy reads a run's `RunTree` (whose
    `.search` is the same kind of tree) and asks for an `Expansion` instead. A value model a
    policy reads is injected and fed by the loop, so it too is a function of the records."""

    name: str = ""

    @abstractmethod
    def step(self, tree: TreeT, rng: random.Random) -> Step: ...


def step_rng(seed: int, step: int) -> random.Random:
    """The random stream of one step: a function of (seed, step) only, so a resumed search
    draws exactly what an uninterrupted one would have."""
    return random.Random(f"agentnas-search:{seed}:{step}")


def node_id(step: int, index: int) -> str:
    """Node ids are made from the step and the node's place in it: unique and replayable."""
    return f"s{step:05d}-{index}"
