"""Every record that crosses a boundary, in one package: what an evaluation returns, LLM calls,
experiments in the memory, the search's nodes, results and decisions, and steering messages.
Modules hold one boundary each; every name is importable from `agentnas.records`."""

from __future__ import annotations

from agentnas.records.costs import MB, CostLimits, Costs, Latency
from agentnas.records.evaluation import (
    ACCURACY,
    LOSS,
    METRICS,
    EvalResult,
    Failure,
    FailureKind,
    Metric,
    Metrics,
    metric_named,
)
from agentnas.records.journal import (
    PAYLOADS,
    SCHEMA_VERSION,
    EventEntry,
    ExperimentEntry,
    HypothesisEntry,
    IterationEntry,
    NodeEntry,
    Payload,
    read_payload,
)
from agentnas.records.llm import (
    ChatMessage,
    LLMCall,
    LLMExchange,
    LLMRequest,
    LLMResponse,
    LLMSummary,
    LLMTotals,
    LLMUsage,
)
from agentnas.records.memory import (
    ExperimentCost,
    ExperimentRecord,
    ExperimentStatus,
)
from agentnas.records.objectives import (
    COST_METRICS,
    LATENCY_MS,
    MACS,
    OBJECTIVES,
    PARAMS,
    PEAK_MEM_MB,
    SIZE_MB,
    objective_value,
    parse_objectives,
)
from agentnas.records.search import (
    OPERATORS,
    EvalRequest,
    Expansion,
    NodeKind,
    Observation,
    Operator,
    SearchNode,
    SearchResult,
    Step,
)
from agentnas.records.steering import (
    Steering,
    SteeringKind,
    SteeringMessage,
    describe_constraint,
)

__all__ = [
    "OPERATORS", "Expansion",
    "ACCURACY", "LOSS", "METRICS", "Metric", "metric_named",
    "COST_METRICS", "LATENCY_MS", "MACS", "MB", "OBJECTIVES", "PARAMS", "PEAK_MEM_MB", "SIZE_MB",
    "CostLimits", "Costs", "Latency",
    "objective_value", "parse_objectives",
    "PAYLOADS", "SCHEMA_VERSION", "EventEntry", "ExperimentEntry", "HypothesisEntry",
    "IterationEntry", "NodeEntry", "Payload", "read_payload",
    "ChatMessage",
    "EvalRequest",
    "EvalResult",
    "ExperimentCost",
    "ExperimentRecord",
    "ExperimentStatus",
    "Failure",
    "FailureKind",
    "Kind",
    "LLMCall",
    "LLMExchange",
    "LLMRequest",
    "LLMResponse",
    "LLMSummary",
    "LLMTotals",
    "LLMUsage",
    "Metrics",
    "NodeKind",
    "Observation",
    "Operator",
    "SearchNode",
    "SearchResult",
    "Steering",
    "SteeringKind", "SteeringMessage",
    "Step",
    "describe_constraint",
]
