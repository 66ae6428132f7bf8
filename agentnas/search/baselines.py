"""The searches people use today, in the same tree, records and budget accounting as MCTS.

- Random search: uniform samples of architectures never evaluated.
- Regularized evolution (Real et al. 2019): the population is the last `population`
  full-fidelity results; a step samples `tournament` members, mutates the best one
  (one position changed) and evaluates the child; the oldest member then leaves (it is no
  longer among the last `population`).
- Local search (White et al. 2021, the NAS-Bench-201 standard): start from a random
  architecture, evaluate all its neighbours in random order, move to the best neighbour
  if it improves on the centre, else restart from a new random architecture.

Each policy's state is read back from the records: REA's population is the tail of the
results, LS's centre is the parent of the last evaluated node (or that node, for a fresh
start). A step never asks again for an architecture the tree has evaluated: mutations
are redrawn, and a neighbour evaluated earlier (from another centre) counts as known.
"""

from __future__ import annotations

import random

from agentnas.journal.tree import FULL, SearchTree
from agentnas.records import EvalRequest, SearchNode, SearchResult, Step
from agentnas.search.base import SearchPolicy, node_id
from agentnas.search.keys import ChoiceGrammar

_TRIES = 200


def _start(tree: SearchTree, text: str) -> tuple[list[SearchNode], str]:
    """The policy's one hypothesis node (made in the first step) and its id."""
    hyps = tree.hypotheses()
    if hyps:
        return [], hyps[0].id
    node = SearchNode(id=node_id(tree.next_step, 0), kind="hypothesis", operator="hypothesis", text=text,
                      step=tree.next_step)
    return [node], node.id


def _unseen_random(tree: SearchTree, grammar: ChoiceGrammar, rng: random.Random) -> str | None:
    for _ in range(_TRIES):
        key = grammar.random_key(rng)
        if tree.queried(key) is None:
            return key
    rest = [k for k in grammar.all_keys() if tree.queried(k) is None]  # nearly exhausted: enumerate
    return rng.choice(rest) if rest else None


def _utility(tree: SearchTree, r: SearchResult) -> float:
    """What the search maximises for a result (the task metric's utility; -inf: failed)."""
    return tree.metric.utility(r.score) if r.score is not None else float("-inf")


def _evaluate_new(tree: SearchTree, made: list[SearchNode], parent: str, hyp: str, key: str, operator: str,
                  text: str) -> Step:
    node = SearchNode(id=node_id(tree.next_step, len(made)), parent_id=parent, kind="architecture",
                      operator=operator, key=key, text=text, hypothesis_id=hyp, step=tree.next_step)
    return Step(new_nodes=(*made, node), evaluate=(EvalRequest(node_id=node.id),), note=text)


class RandomSearch(SearchPolicy[SearchTree]):
    name = "random"

    def __init__(self, grammar: ChoiceGrammar) -> None:
        self.grammar = grammar

    def step(self, tree: SearchTree, rng: random.Random) -> Step:
        made, hyp = _start(tree, "Random search: architectures drawn uniformly from the space.")
        key = _unseen_random(tree, self.grammar, rng)
        if key is None:
            return Step()
        return _evaluate_new(tree, made, hyp, hyp, key, "sample", "uniform sample")


class RegularizedEvolution(SearchPolicy[SearchTree]):
    name = "rea"

    def __init__(self, grammar: ChoiceGrammar, population: int = 10, tournament: int = 3) -> None:
        if not 1 <= tournament <= population:
            raise ValueError("tournament must be between 1 and the population size")
        self.grammar, self.population, self.tournament = grammar, population, tournament

    def members(self, tree: SearchTree) -> list[tuple[str, str, float]]:
        """The current population: (node id, key, val) of the last `population` full results."""
        full = [r for r in tree.results if r.fidelity >= FULL]
        return [(r.node_id, r.key, _utility(tree, r)) for r in full[-self.population:]]

    def step(self, tree: SearchTree, rng: random.Random) -> Step:
        made, hyp = _start(tree, "Regularized evolution: mutate tournament winners, the oldest die.")
        population = self.members(tree)
        if len(population) < self.population:
            key = _unseen_random(tree, self.grammar, rng)
            return Step() if key is None else _evaluate_new(tree, made, hyp, hyp, key, "sample", "initial population")
        contestants = rng.sample(population, self.tournament)
        parent_id, parent_key, _ = max(contestants, key=lambda m: m[2])
        for _ in range(_TRIES):
            child = self.grammar.mutate(parent_key, rng)
            if tree.queried(child.key) is None:
                return _evaluate_new(tree, made, parent_id, hyp, child.key, "mutate", child.text)
        key = _unseen_random(tree, self.grammar, rng)  # every mutation of the winner is known: explore
        return Step() if key is None else _evaluate_new(tree, made, hyp, hyp, key, "sample", "no new mutation")


class LocalSearch(SearchPolicy[SearchTree]):
    name = "ls"

    def __init__(self, grammar: ChoiceGrammar, initial: int = 1) -> None:
        self.grammar, self.initial = grammar, initial

    def centre(self, tree: SearchTree) -> str | None:
        """The node local search stands on: the parent of the last evaluated node; after a
        (re)start, the best of its `initial` random samples (None while they are drawn)."""
        if not tree.results:
            return None
        last = tree.nodes[tree.results[-1].node_id]
        if last.operator != "sample":
            return last.parent_id
        starts = []
        for r in reversed(tree.results):  # the trailing run of random samples
            if tree.nodes[r.node_id].operator != "sample":
                break
            starts.append(r)
        if len(starts) % self.initial:
            return None
        starts = starts[: self.initial]
        return max(reversed(starts), key=lambda r: _utility(tree, r)).node_id

    def _value(self, tree: SearchTree, key: str) -> float:
        r = tree.queried(key)
        return _utility(tree, r) if r is not None else float("-inf")

    def step(self, tree: SearchTree, rng: random.Random) -> Step:
        made, hyp = _start(tree, "Local search: climb to the best neighbour, restart at a local optimum.")
        centre = self.centre(tree)
        for _ in range(self.grammar.size()):  # moves through fully known neighbourhoods, bounded
            if centre is None:
                break
            key = tree.nodes[centre].key
            neighbours = [p.key for p in self.grammar.neighbours(key)]
            todo = [k for k in neighbours if tree.queried(k) is None]
            if todo:
                pick = rng.choice(todo)
                return _evaluate_new(tree, made, centre, hyp, pick, "mutate", "neighbour of the centre")
            best = max(neighbours, key=lambda k: self._value(tree, k))
            if self._value(tree, best) <= self._value(tree, key):
                break  # a local optimum: restart
            centre = tree.queried(best).node_id  # type: ignore[union-attr]
        key_new = _unseen_random(tree, self.grammar, rng)
        return Step() if key_new is None else _evaluate_new(tree, made, hyp, hyp, key_new, "sample", "restart")
