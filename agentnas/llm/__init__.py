"""The LLM layer: any OpenAI-compatible endpoint, with retries, a token/cost ledger and caps,
a record/replay cassette, structured replies and the prompt templates.

    config = LLMConfig.resolve(base_url=flag_url, model=flag_model)   # + OPENAI_* / AGENTNAS_LLM_* env
    with LLMClient(config, cassette=JsonlCassette(run_dir / "llm.jsonl")) as llm:
        llm.check()                                                    # fails fast: LLMUnavailable
        prompt = build_prompt("mutate", PromptContext(task=spec, parent=brief))
        proposal = llm.complete_structured(prompt.role, prompt.messages, prompt.reply_schema, repairs=1).value
    llm.ledger.summary()
"""

from agentnas.llm.cassette import Cassette, JsonlCassette, KeyCounter, MemoryCassette, request_fingerprint
from agentnas.llm.client import CassetteMode, LLMClient, LLMReply, StructuredReply
from agentnas.llm.config import NO_KEY_PLACEHOLDER, ROLES, LLMCaps, LLMConfig, ModelPrice, Role, normalise_base_url
from agentnas.llm.connectivity import ConnectivityReport
from agentnas.llm.context import CandidateBrief, Constraints, MemoryItem, PromptContext
from agentnas.llm.errors import (
    BudgetExceeded,
    CallFailureKind,
    CassetteConflict,
    CassetteMiss,
    EndpointDown,
    InvalidReply,
    InvalidReplyKind,
    LLMCallFailed,
    LLMConfigError,
    LLMError,
    LLMUnavailable,
)
from agentnas.llm.ledger import Ledger, estimate_tokens
from agentnas.llm.prompts import Prompt, PromptError, PromptLibrary, build_prompt
from agentnas.llm.retry import RetryPolicy, retry_after_seconds
from agentnas.llm.schemas import SCHEMAS, AgentReply, HypothesisReply, LessonReply, ProposalReply, RepairReply
from agentnas.llm.structured import Parsed, parse_reply, schema_instructions
from agentnas.records import ChatMessage, LLMCall, LLMExchange, LLMRequest, LLMResponse, LLMSummary, LLMUsage

__all__ = [
    "NO_KEY_PLACEHOLDER", "ROLES", "SCHEMAS", "AgentReply", "BudgetExceeded", "CallFailureKind", "CandidateBrief",
    "Cassette", "CassetteConflict", "ChatMessage", "LLMCall", "LLMExchange", "LLMRequest", "LLMResponse",
    "LLMSummary", "LLMUsage", "CassetteMiss", "CassetteMode", "ConnectivityReport", "Constraints", "EndpointDown",
    "HypothesisReply", "InvalidReply", "InvalidReplyKind", "JsonlCassette", "KeyCounter", "LLMCallFailed", "LLMCaps",
    "LLMClient", "LLMConfig", "LLMConfigError", "LLMError", "LLMReply", "LLMUnavailable", "Ledger", "LessonReply",
    "MemoryCassette", "MemoryItem", "ModelPrice", "Parsed", "Prompt", "PromptContext", "PromptError",
    "PromptLibrary", "ProposalReply", "RepairReply", "RetryPolicy", "Role", "StructuredReply", "build_prompt",
    "estimate_tokens", "normalise_base_url", "parse_reply", "request_fingerprint", "retry_after_seconds",
    "schema_instructions",
]
