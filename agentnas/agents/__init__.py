"""The agents: one expansion of a search node as a langgraph graph, and its roles."""

from agentnas.agents.graph import build_expansion_graph, candidate_id
from agentnas.agents.services import (
    Analyst,
    Checker,
    Engineer,
    Gate,
    Recorder,
    Researcher,
    Scorer,
    Services,
    Trainer,
)
from agentnas.agents.state import Candidate, Context, Draft, ExpansionState

__all__ = [
    "Analyst", "Candidate", "Checker", "Context", "Draft", "Engineer", "ExpansionState", "Gate", "Recorder",
    "Researcher", "Scorer", "Services", "Trainer", "build_expansion_graph", "candidate_id",
]
