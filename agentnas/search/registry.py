"""The one place a search policy is picked by name."""

from __future__ import annotations

from agentnas.journal.tree import SearchTree
from agentnas.search.base import SearchPolicy
from agentnas.search.baselines import LocalSearch, RandomSearch, RegularizedEvolution
from agentnas.search.estimate import ValueEstimator
from agentnas.search.keys import ChoiceGrammar, TabularProposer
from agentnas.search.mcts import MctsParams, MctsPolicy
from agentnas.search.multi import Nsga2, ParetoSpec
from agentnas.search.pareto_mcts import ParetoMctsPolicy
from agentnas.search.proposer import Proposer

POLICY_NAMES: tuple[str, ...] = ("random", "rea", "ls", "mcts", "nsga2")
# The policies that search for a front (several objectives): random search is indifferent.
PARETO_POLICY_NAMES: tuple[str, ...] = ("random", "nsga2", "mcts")


def make_policy(name: str, grammar: ChoiceGrammar, estimator: ValueEstimator | None = None,
                proposer: Proposer | None = None, params: MctsParams | None = None,
                pareto: ParetoSpec | None = None) -> SearchPolicy[SearchTree]:
    """The policy called `name` over a tabular grammar; MCTS also needs a value estimator.
    With `pareto` (a second objective) the policy searches for the front."""
    if pareto is not None:
        return _pareto_policy(name, grammar, estimator, proposer, params, pareto)
    if name == "nsga2":
        raise ValueError("nsga2 searches for a front: give a second objective (e.g. --objectives val_accuracy,macs)")
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


def _pareto_policy(name: str, grammar: ChoiceGrammar, estimator: ValueEstimator | None, proposer: Proposer | None,
                   params: MctsParams | None, pareto: ParetoSpec) -> SearchPolicy[SearchTree]:
    if name == "random":
        return RandomSearch(grammar)
    if name == "nsga2":
        return Nsga2(grammar, pareto)
    if name == "mcts":
        if estimator is None:
            raise ValueError("mcts needs a value estimator")
        return ParetoMctsPolicy(proposer or TabularProposer(grammar), estimator, pareto, params)
    raise ValueError(f"{name!r} optimises one objective; with several, use one of {', '.join(PARETO_POLICY_NAMES)}")
