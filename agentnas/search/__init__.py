"""Search: the hierarchical MCTS guided by the value model, the baselines it is measured
against (random search, regularized evolution, local search), successive halving, and the
tabular spaces' offline grammar. Policies read frozen records and return decisions; the
loop that runs them owns every side effect."""

from agentnas.journal.tree import FULL, SearchTree, TreeError
from agentnas.records import EvalRequest, NodeKind, Observation, Operator, SearchNode, SearchResult, Step
from agentnas.search.base import Evaluate, SearchPolicy, node_id, step_rng
from agentnas.search.baselines import LocalSearch, RandomSearch, RegularizedEvolution
from agentnas.search.budget import Budget
from agentnas.search.estimate import GpEstimator, TableEstimator, ValueEstimator
from agentnas.search.fidelity import Halving, pending_promotions
from agentnas.search.keys import (
    ChoiceGrammar,
    MacroGrammar,
    Nb201Grammar,
    TabularHypothesis,
    TabularProposer,
    grammar_for,
)
from agentnas.search.mcts import MctsParams, MctsPolicy
from agentnas.search.multi import Nsga2, ParetoSpec
from agentnas.search.pareto_mcts import ParetoMctsPolicy
from agentnas.search.proposer import KeyProposal, Proposer
from agentnas.search.registry import PARETO_POLICY_NAMES, POLICY_NAMES, make_policy
from agentnas.search.selection import PuctParams, acquisition, gate, priors, puct_scores

__all__ = [
    "Budget", "ChoiceGrammar", "EvalRequest", "Evaluate", "FULL", "GpEstimator", "Halving", "KeyProposal",
    "LocalSearch", "MacroGrammar", "MctsParams", "MctsPolicy", "Nb201Grammar", "NodeKind", "Nsga2",
    "Observation", "Operator", "PARETO_POLICY_NAMES", "POLICY_NAMES", "ParetoMctsPolicy", "ParetoSpec",
    "Proposer", "PuctParams", "RandomSearch", "RegularizedEvolution", "SearchNode", "SearchPolicy",
    "SearchResult", "SearchTree", "Step", "TableEstimator", "TabularHypothesis", "TabularProposer",
    "TreeError", "ValueEstimator", "acquisition", "gate", "grammar_for", "make_policy", "node_id",
    "pending_promotions", "priors", "puct_scores", "step_rng",
]
