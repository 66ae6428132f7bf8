"""The policy contract, and the helpers every policy shares."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod

from agentnas.records import Step
from agentnas.search.tree import SearchTree


class SearchPolicy(ABC):
    """Contract: `step(tree, rng)` reads the tree and returns a `Step`: nodes to add (each
    with `step == tree.next_step`) and evaluations to run. It never changes the tree, keeps
    no state that the tree's records do not determine (a resumed search rebuilds the tree
    and calls `step` again), draws all randomness from `rng`, and never asks again for a
    (key, fidelity) the tree already holds. An empty Step means nothing is left to try.

    A value model a policy reads (MCTS) is injected and fed by the loop, which observes
    every full-fidelity result, so it too is a function of the records."""

    name: str = ""

    @abstractmethod
    def step(self, tree: SearchTree, rng: random.Random) -> Step: ...


def step_rng(seed: int, step: int) -> random.Random:
    """The random stream of one step: a function of (seed, step) only, so a resumed search
    draws exactly what an uninterrupted one would have."""
    return random.Random(f"agentnas-search:{seed}:{step}")


def node_id(step: int, index: int) -> str:
    """Node ids are made from the step and the node's place in it: unique and replayable."""
    return f"s{step:05d}-{index}"
