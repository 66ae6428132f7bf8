"""The researcher, engineer and analyst backed by an OpenAI-compatible endpoint.

Prompts come from `prompts/` (agentnas.llm.build_prompt); replies are validated against
the pydantic schemas. A reply that stays invalid after the client's own repair round is a
typed failure: the draft is dropped (researcher), the candidate given up (engineer) or the
offline lesson used (analyst) — never a crash. `BudgetExceeded` is let through: the run
loop ends the run gracefully with the ledger's summary.

Every exchange is recorded in the run journal (`JournalCassette`), which is the cassette
`agentnas replay` serves from; a resumed run uses mode "auto", so calls the killed session
already paid for are served from the journal instead of being asked again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agentnas.agents.roles import OfflineAnalyst
from agentnas.agents.state import Candidate, Context, Draft
from agentnas.journal import Journal, JournalConflict
from agentnas.llm import (
    CandidateBrief,
    Cassette,
    Constraints,
    LLMClient,
    LLMError,
    MemoryItem,
    PromptContext,
    build_prompt,
)
from agentnas.llm import Hypothesis as HypothesisReply
from agentnas.llm import Lesson as LessonReply
from agentnas.llm import Proposal as ProposalReply
from agentnas.llm import Repair as RepairReply
from agentnas.llm.errors import BudgetExceeded, CassetteConflict, CassetteMiss
from agentnas.records import EvalResult, Failure, FailureKind, LLMCall, LLMExchange, LLMRequest, LLMResponse, Metrics
from agentnas.search.runtree import RunTree
from agentnas.tasks.base import TaskSpec


class JournalCassette(Cassette):
    """The run journal as the LLM cassette: kind `llm_exchange`, keyed by the request key."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def record(self, key: str, request: LLMRequest, response: LLMResponse) -> None:
        exchange = LLMExchange(key=key, request=request, response=response)
        try:
            self.journal.append("llm_exchange", key, exchange.model_dump(mode="json"))
        except JournalConflict as e:
            raise CassetteConflict(str(e)) from e

    def lookup(self, key: str) -> LLMExchange | None:
        entry = self.journal.get("llm_exchange", key)
        return None if entry is None else LLMExchange.model_validate(entry.payload)


def journal_calls(journal: Journal) -> Any:
    """The ledger's `on_call`: one `llm_call` row a call, in order (replayed ones too)."""

    def on_call(call: LLMCall) -> None:
        journal.append("llm_call", f"{journal.count('llm_call'):06d}", call.model_dump(mode="json"))

    return on_call


def _brief(id_: str, code: str | None, val: float | None = None, lesson: str | None = None,
           hypothesis: str = "") -> CandidateBrief:
    result = None
    if val is not None:
        # The prompt shows validation only; test accuracy never reaches an agent.
        result = EvalResult(path=id_, status="ok", metrics=Metrics(val_accuracy=val, test_accuracy=float("nan")))
    return CandidateBrief(id=id_, code=code, result=result, lesson=lesson, hypothesis=hypothesis)


class LLMResearcher:
    def __init__(self, llm: LLMClient, spec: TaskSpec, fallback: Any, repairs: int = 1) -> None:
        self.llm, self.spec, self.fallback, self.repairs = llm, spec, fallback, repairs
        self.retrieve: Any = None  # (iteration, text) -> PromptMemory (similar experiments, insights), set by the run

    def _context(self, ctx: Context, parent_code: str | None) -> PromptContext:
        parent = _brief(ctx.parent_id or "start", parent_code, ctx.parent_val_accuracy) if parent_code else None
        parents: tuple[CandidateBrief, ...] = ()
        if parent is not None and ctx.other_code:
            parents = (parent, _brief("other", ctx.other_code))
        similar: tuple[MemoryItem, ...] = ()
        knowledge: tuple[MemoryItem, ...] = ()
        if self.retrieve is not None:
            found = self.retrieve(ctx.iteration, ctx.hypothesis)
            similar = tuple(MemoryItem(id=e.id, text=f"{e.hypothesis} -> val {e.val_accuracy}; {e.lesson}")
                            for e in found.experiments)
            knowledge = tuple(MemoryItem(id=i.id, text=f"{i.insight} (when {i.applies_when}; {i.expected_effect})",
                                         source=i.source) for i in found.insights)
        return PromptContext(
            task=self.spec, parent=parent, parents=parents, hypothesis_id=ctx.hypothesis_id,
            similar=similar, knowledge=knowledge,
            hypothesis=HypothesisReply(title=ctx.hypothesis[:200] or "direction", text=ctx.hypothesis or "explore"),
            siblings=tuple(_brief(f"s{i}", None, lesson=s) for i, s in enumerate(ctx.siblings)),
            steering=tuple(ctx.steering),
            constraints=Constraints(max_params=ctx.max_params) if ctx.max_params else None)

    def propose(self, ctx: Context) -> list[Draft]:
        parent_code = ctx.parent_code
        if parent_code is None:  # a fresh start in this direction: begin from a grammar sample
            start = self.fallback.propose(ctx.model_copy(update={"k": 1}))
            parent_code = start[0].code if start else None
        operator = "recombine" if ctx.other_code and parent_code else "mutate" if ctx.parent_code else "refine"
        drafts: list[Draft] = []
        for i in range(ctx.k):
            siblings = tuple(d.rationale for d in drafts)
            prompt = build_prompt(operator, self._context(
                ctx.model_copy(update={"siblings": [*ctx.siblings, *siblings]}), parent_code))
            try:
                reply = self.llm.ask(prompt, repairs=self.repairs).value
            except (BudgetExceeded, CassetteMiss):  # end the run / fail the replay loudly
                raise
            except LLMError:  # typed failure: this draft is dropped, the others go on
                continue
            assert isinstance(reply, ProposalReply)
            drafts.append(Draft(code=reply.code, operator=operator, rationale=reply.rationale,
                                description=(reply.rationale.splitlines() or [""])[0][:160] or f"{operator} {i}"))
        return drafts

    def new_hypothesis(self, tree: RunTree, rng: np.random.Generator) -> str:
        best = tree.best()
        prompt = build_prompt("new_hypothesis", PromptContext(
            task=self.spec,
            parent=_brief(best.id, best.code, best.val_accuracy) if best is not None else None,
            siblings=tuple(_brief(h.id, None, hypothesis=h.text) for h in tree.hypotheses.values())))
        try:
            reply = self.llm.ask(prompt, repairs=self.repairs).value
        except (BudgetExceeded, CassetteMiss):
            raise
        except LLMError:
            text: str = self.fallback.new_hypothesis(tree, rng)
            return text
        assert isinstance(reply, HypothesisReply)
        return f"{reply.title}: {reply.text}"


class LLMEngineer:
    def __init__(self, llm: LLMClient, spec: TaskSpec, repairs: int = 1) -> None:
        self.llm, self.spec, self.repairs = llm, spec, repairs

    def repair(self, ctx: Context, candidate: Candidate) -> Draft | None:
        try:
            kind = FailureKind(candidate.failure_kind or "crash")
        except ValueError:
            kind = FailureKind.CRASH
        prompt = build_prompt("repair", PromptContext(
            task=self.spec, candidate=_brief(candidate.id, candidate.code),
            failure=Failure(kind=kind, message=candidate.failure_message or "failed"),
            constraints=Constraints(max_params=ctx.max_params) if ctx.max_params else None))
        try:
            reply = self.llm.ask(prompt, repairs=self.repairs).value
        except (BudgetExceeded, CassetteMiss):
            raise
        except LLMError:
            return None
        assert isinstance(reply, RepairReply)
        return Draft(code=reply.code, operator="repair", rationale=reply.diagnosis)


class LLMAnalyst:
    def __init__(self, llm: LLMClient, spec: TaskSpec) -> None:
        self.llm, self.spec, self.offline = llm, spec, OfflineAnalyst()

    def analyse(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        out = []
        for c in candidates:
            prompt = build_prompt("analyse", PromptContext(
                task=self.spec, candidate=_brief(c.id, c.code, c.val_accuracy),
                parent=_brief(ctx.parent_id, ctx.parent_code, ctx.parent_val_accuracy) if ctx.parent_id else None,
                hypothesis=HypothesisReply(title=ctx.hypothesis[:200] or "direction", text=ctx.hypothesis or "-")))
            try:
                reply = self.llm.ask(prompt).value
            except (BudgetExceeded, CassetteMiss):  # end the run / fail the replay loudly
                raise
            except LLMError:
                out.extend(self.offline.analyse(ctx, [c]))
                continue
            assert isinstance(reply, LessonReply)
            out.append(c.model_copy(update={"lesson": reply.lesson}))
        return out


def journaled_retrieval(journal: Journal, retrieve: Any) -> Any:
    """Memory retrieval for prompts, journaled: the same (iteration, text) is answered from the
    journal after the first time, so a resumed run and a replay build byte-identical prompts
    (the memory itself keeps growing)."""
    import hashlib

    from agentnas.memory.retrieve import PromptMemory

    def lookup(iteration: int, text: str) -> Any:
        key = f"{iteration}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"
        entry = journal.get("retrieval", key)
        if entry is not None:
            return PromptMemory.model_validate(entry.payload)
        if retrieve is None:
            raise CassetteMiss(key, "retrieval", "memory")
        found = retrieve(text)
        journal.append("retrieval", key, found.model_dump(mode="json"))
        return found

    return lookup
