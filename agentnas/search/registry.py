"""The one place a search policy is picked by name."""

from __future__ import annotations

from agentnas.journal.tree import SearchTree
from agentnas.search.base import SearchPolicy
from agentnas.search.baselines import LocalSearch, RandomSearch, RegularizedEvolution
from agentnas.search.estimate import ValueEstimator
from agentnas.search.keys import ChoiceGrammar, TabularProposer
from agentnas.search.mcts import MctsParams, MctsPolicy
from agentnas.search.proposer import Proposer

POLICY_NAMES: tuple[str, ...] = ("random", "rea", "ls", "mcts")


def make_policy(name: str, grammar: ChoiceGrammar, estimator: ValueEstimator | None = None,
                proposer: Proposer | None = None, params: MctsParams | None = None) -> SearchPolicy[SearchTree]:
    """The policy called `name` over a tabular grammar; MCTS also needs a value estimator."""
    if name == "random":
        return RandomSearch(grammar)
    if name == "rea":
        return RegularizedEvolution(grammar)
    if name == "ls":
        return LocalSearch(grammar, initial=10)
    if name == "mcts":
        if estimator is None:
            raise ValueError("mcts needs a value estimator")
        return MctsPolicy(proposer or TabularProposer(grammar), estimator, params)
    raise ValueError(f"unknown search policy {name!r}; expected one of {', '.join(POLICY_NAMES)}")
