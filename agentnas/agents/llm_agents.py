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

import random
import re
from typing import Any

from agentnas.agents.economy import CallBudget, clean_note
from agentnas.agents.fixups import mend_draft
from agentnas.agents.ideas import directions, only_tried, untried
from agentnas.agents.offline import OfflineAnalyst, OfflineResearcher
from agentnas.agents.shape_mends import infer_input_sizes
from agentnas.agents.state import Candidate, Context, Draft
from agentnas.fingerprint import code_hash
from agentnas.journal.tree import RunTree
from agentnas.llm import (
    CandidateBrief,
    Constraints,
    HypothesisReply,
    LessonReply,
    LLMClient,
    LLMError,
    MemoryItem,
    PromptContext,
    ProposalReply,
    RepairReply,
    build_prompt,
)
from agentnas.llm.config import RECOMBINE_CHARS
from agentnas.llm.errors import FATAL
from agentnas.llm.prompts import code_diff, shown_code
from agentnas.records import EvalResult, Failure, FailureKind, Metrics, metric_named
from agentnas.space.helpers import describe_helpers
from agentnas.tasks.base import TaskSpec
from agentnas.words import clip

# Seed models longer than this (as a prompt shows them) are not used as fresh starts while a shorter one exists.
START_CHARS = 2000


def _brief(id_: str, code: str | None, val: float | None = None, lesson: str | None = None,
           hypothesis: str = "", loss: float | None = None) -> CandidateBrief:
    """`loss`: the validation loss of a token task (its metric), shown beside the accuracy."""
    result = None
    if val is not None:
        # The prompt shows validation only; test scores never reach an agent.
        result = EvalResult(path=id_, status="ok", metrics=Metrics(val_accuracy=val, test_accuracy=float("nan"),
                                                                   val_loss=loss))
    return CandidateBrief(id=id_, code=code, result=result, lesson=lesson, hypothesis=hypothesis)


_HEADING_MARK = re.compile(r"(^|\s)#{1,6}\s+")


def _hypothesis(text: str) -> HypothesisReply:
    """A stored hypothesis ("title: text", as `new_hypothesis` writes it) as the prompt shows it: without
    markdown heading marks (a model that laid its idea out under headings would see them as the prompt's
    own sections, and one 1.5B model then copied the prompt's tail instead of answering)."""
    text = _HEADING_MARK.sub(r"\1", text)
    title, sep, rest = text.partition(": ")
    if sep and rest.strip() and len(title) <= 120:
        return HypothesisReply(title=title, text=rest)
    return HypothesisReply(title=clip(text, 120) or "direction", text=text or "explore")


def _loss(metric: str, score: float | None) -> float | None:
    """The score to show as the validation loss: a token task's (its metric is the loss), else none."""
    return score if metric == "loss" else None


class LLMResearcher:
    """Proposals from the model, one call per slot; a slot the model cannot fill (an unusable reply,
    the call budget spent) is filled by the grammar (`fallback`), recorded as such. `refill` asks
    once more, naming what went wrong, with a hotter temperature; after that the grammar fills."""

    def __init__(self, llm: LLMClient, spec: TaskSpec, fallback: OfflineResearcher, repairs: int = 1,
                 budget: CallBudget | None = None, reask_temperature: float = 1.0,
                 recombine_chars: int | None = RECOMBINE_CHARS) -> None:
        self.llm, self.spec, self.fallback, self.repairs = llm, spec, fallback, repairs
        self.budget, self.reask_temperature = budget, reask_temperature
        self.recombine_chars = recombine_chars  # None: the model recombines files of any length
        self.retrieve: Any = None  # (iteration, text) -> PromptMemory (similar experiments, insights), set by the run

    def _allow(self, n: int = 1) -> bool:
        return self.budget is None or self.budget.allow(n)

    def _context(self, ctx: Context, parent_code: str | None, retry: str | None = None) -> PromptContext:
        parent = _brief(ctx.parent_id or "start", parent_code, ctx.parent_val_accuracy,
                        loss=_loss(ctx.metric, ctx.parent_val_score)) if parent_code else None
        parents: tuple[CandidateBrief, ...] = ()
        if parent is not None and ctx.other_code:
            parents = (parent, _brief("other", ctx.other_code))
        similar: tuple[MemoryItem, ...] = ()
        knowledge: tuple[MemoryItem, ...] = ()
        if self.retrieve is not None:
            found = self.retrieve(ctx.iteration, ctx.hypothesis)
            similar = tuple(MemoryItem(id=e.id, text=f"{e.hypothesis} -> {e.prompt_outcome()}; {e.lesson}")
                            for e in found.experiments)
            knowledge = tuple(MemoryItem(id=i.id, text=f"{i.insight} (when {i.applies_when}; {i.expected_effect})",
                                         source=i.source) for i in found.insights)
        return PromptContext(
            task=self.spec, parent=parent, parents=parents, hypothesis_id=ctx.hypothesis_id,
            similar=similar, knowledge=knowledge,
            hypothesis=_hypothesis(ctx.hypothesis),
            siblings=tuple(_brief(f"s{i}", None, lesson=s) for i, s in enumerate(ctx.siblings)),
            steering=tuple(ctx.steering), retry=retry, blocks=self._blocks(),
            constraints=Constraints(max_params=ctx.max_params) if ctx.max_params else None)

    def _blocks(self) -> tuple[str, ...]:
        """The grammar's helper modules a proposal may use without defining them (restored by
        agents.fixups before the check): classification tasks on (channels, *positions) inputs."""
        if self.spec.kind != "classification" or len(self.spec.input_shape) < 2:
            return ()
        return describe_helpers()

    def _start(self, ctx: Context) -> str | None:
        """The code the model edits: the parent's; for a fresh start (a new hypothesis) one of the
        task's compact seed models in turn. A small model edits a short, known-good file far more
        reliably than a long grammar sample, and a file it must copy whole costs completion tokens."""
        if ctx.parent_code is not None:
            return ctx.parent_code
        seeds = sorted((p.code for p in self.fallback.proposer.seeds()), key=lambda c: len(shown_code(c)))
        compact = [c for c in seeds if len(shown_code(c)) <= START_CHARS] or seeds[:1]
        if compact:
            # with lazy layers (no input sizes to keep right) an edit that changes a width or inserts a
            # layer cannot break the layers after it: a small model's most common shape failure
            return infer_input_sizes(compact[ctx.iteration % len(compact)])[0]
        start = self.fallback.propose(ctx.model_copy(update={"k": 1}))
        return start[0].code if start else None

    def _ask(self, ctx: Context, parent_code: str | None, siblings: list[str], retry: str | None = None,
             temperature: float | None = None) -> Draft | str:
        """One proposal from the model, or why there is none."""
        # a fresh start with a hypothesis is a child of its start model that tests the hypothesis
        operator = ("recombine" if ctx.other_code and parent_code
                    else "mutate" if ctx.parent_code or ctx.hypothesis.strip() else "refine")
        if not self._allow():
            return "the run's LLM call budget per evaluation is spent"
        context = self._context(ctx.model_copy(update={"siblings": [*ctx.siblings, *siblings]}), parent_code, retry)
        prompt = build_prompt(operator, context)
        try:
            reply = self.llm.ask(prompt, repairs=self.repairs if self._allow(2) else 0,
                                 temperature=temperature).value
        except FATAL:  # end the run / fail the replay loudly
            raise
        except LLMError as e:  # typed failure: this slot goes to the grammar, the others go on
            return f"the model's reply was unusable ({getattr(e, 'kind', type(e).__name__)})"
        assert isinstance(reply, ProposalReply)
        rationale = clean_note(reply.rationale, shown_texts(context))
        code, autofix = mend_draft(reply.code)
        return Draft(code=code, operator=operator, rationale=rationale, description=clip(rationale, 160) or operator,
                     autofix=autofix)

    def _long_recombination(self, ctx: Context, parent_code: str | None) -> bool:
        """Whether this expansion recombines two files too long together for the model (see RECOMBINE_CHARS)."""
        if not (ctx.other_code and parent_code) or self.recombine_chars is None:
            return False
        return len(shown_code(parent_code)) + len(shown_code(ctx.other_code)) > self.recombine_chars

    def propose(self, ctx: Context) -> list[Draft]:
        parent_code = self._start(ctx)
        drafts: list[Draft] = []
        taken: set[str] = set()
        if self._long_recombination(ctx, parent_code):
            reason = f"two parents longer than {self.recombine_chars} characters together: the grammar recombines them"
            for slot in range(ctx.k):
                draft = self.fallback.recombination(ctx, slot, reason, taken)
                if draft is not None:
                    drafts.append(draft)
                    taken.add(code_hash(draft.code))
            return drafts
        for slot in range(ctx.k):
            got = self._ask(ctx, parent_code, [d.description for d in drafts])
            draft = got if isinstance(got, Draft) else self.fallback.fallback(ctx, slot, got, taken)
            if draft is None:
                continue
            drafts.append(draft)
            taken.add(code_hash(draft.code))
        return drafts

    def refill(self, ctx: Context, failed: Candidate, reason: str, taken: set[str]) -> Draft | None:
        if failed.refill == 0 and failed.fallback is None:
            if failed.nearest_id is not None and failed.nearest_id == ctx.parent_id:
                reason = "it returned the parent's model unchanged"
            retry = (f"Your last answer for this slot could not be used: {reason}. Write a different model: make "
                     "one concrete change to the parent that no sibling made.")
            got = self._ask(ctx, self._start(ctx), [], retry=retry, temperature=self.reask_temperature)
            if isinstance(got, Draft):
                return got
            reason = f"{reason}; asked again: {got}"
        return self.fallback.fallback(ctx, failed.slot, reason, taken)

    def new_hypothesis(self, tree: RunTree, rng: random.Random) -> str:
        """The model's next idea; one that repeats an earlier hypothesis (the same title words, or only
        directions earlier ones named, see agents.ideas) is asked again once, naming it, at the re-ask
        temperature, then the grammar's hypothesis takes its place."""
        best = tree.best()
        earlier = [h.text for h in tree.hypotheses.values()]
        retry: str | None = None
        for temperature in (None, self.reask_temperature):
            if not self._allow():
                break
            prompt = build_prompt("new_hypothesis", PromptContext(
                task=self.spec,
                parent=_brief(best.id, best.code, best.val_accuracy, loss=_loss(tree.metric.name, best.val_score))
                if best is not None else None,
                siblings=tuple(_brief(h.id, None, hypothesis=h.text) for h in tree.hypotheses.values()),
                ideas=untried(earlier), retry=retry))
            try:
                reply = self.llm.ask(prompt, repairs=self.repairs if self._allow(2) else 0,
                                     temperature=temperature).value
            except FATAL:
                raise
            except LLMError:
                break
            assert isinstance(reply, HypothesisReply)
            text = f"{clean_note(reply.title, limit=120)}: {clean_note(reply.text, earlier, limit=600)}"
            same = next((e for e in earlier if same_idea(text, e)), None)
            if same is None and only_tried(text, earlier):
                same = next(e for e in reversed(earlier) if directions(e) & directions(text))
            if same is None:
                return text
            retry = (f"Your last hypothesis repeated one already tested: {clip(same, 160)}. Propose a different "
                     "change.")
        return self.fallback.new_hypothesis(tree, rng)


_WORD = re.compile(r"[a-z0-9]+")
SAME_IDEA = 0.6  # word overlap (Jaccard) of two hypotheses' titles at which they are one idea


def same_idea(a: str, b: str) -> bool:
    """Whether two hypotheses ("title: text") name the same idea: their titles share most words.
    Titles, not texts: a small model words the same idea differently each time, but names it alike."""
    ta, tb = (set(_WORD.findall(x.partition(": ")[0].lower())) for x in (a, b))
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) >= SAME_IDEA


def shown_texts(context: PromptContext) -> list[str]:
    """Notes a prompt showed the model (lessons, retrieved experiments): never to be quoted back."""
    briefs = [b for b in (context.parent, context.candidate, *context.parents, *context.siblings) if b is not None]
    return ([b.lesson for b in briefs if b.lesson] + [m.text for m in (*context.similar, *context.knowledge)]
            + ([context.retry] if context.retry else []))


def tried(candidate: Candidate) -> tuple[str, ...]:
    """What the engineer's earlier attempt on this candidate said it changed, and whether the file came
    back unchanged (a small model often answers a failure with the same file): shown on the next attempt,
    so it is not asked the very same question twice."""
    if candidate.attempts == 0 or not candidate.rationale:
        return ()
    last = candidate.history[-1].get("code_hash") if candidate.history else None
    same = " (but the file came back unchanged)" if last == code_hash(candidate.code) else ""
    return (clip(candidate.rationale, 300) + same,)


class LLMEngineer:
    def __init__(self, llm: LLMClient, spec: TaskSpec, repairs: int = 1, budget: CallBudget | None = None) -> None:
        self.llm, self.spec, self.repairs, self.budget = llm, spec, repairs, budget

    def repair(self, ctx: Context, candidate: Candidate) -> Draft | None:
        if self.budget is not None and not self.budget.allow():
            return None  # the slot goes to a re-ask or the grammar
        try:
            kind = FailureKind(candidate.failure_kind or "crash")
        except ValueError:
            kind = FailureKind.CRASH
        prompt = build_prompt("repair", PromptContext(
            task=self.spec, candidate=_brief(candidate.id, candidate.code),
            failure=Failure(kind=kind, message=candidate.failure_message or "failed"),
            previous_repairs=tried(candidate),
            constraints=Constraints(max_params=ctx.max_params) if ctx.max_params else None))
        repairs = self.repairs if self.budget is None or self.budget.allow(2) else 0
        try:
            reply = self.llm.ask(prompt, repairs=repairs).value
        except FATAL:
            raise
        except LLMError:
            return None
        assert isinstance(reply, RepairReply)
        code, autofix = mend_draft(reply.code)
        return Draft(code=code, operator="repair", rationale=clean_note(reply.diagnosis, limit=300), autofix=autofix)


class LLMAnalyst:
    """Lessons from the model for the best trained candidate of each expansion, the offline analyst's
    for the others: a lesson is worth less than a repair, so one LLM lesson per expansion at most, and
    only while the call budget keeps `reserve` calls for the next expansion's proposals and repairs.
    The model is shown what the candidate changed from its parent (a diff), not both whole files."""

    def __init__(self, llm: LLMClient, spec: TaskSpec, budget: CallBudget | None = None, reserve: int = 1) -> None:
        self.llm, self.spec, self.offline, self.budget = llm, spec, OfflineAnalyst(), budget
        self.reserve = reserve

    def analyse(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        metric = metric_named(ctx.metric)
        scored = [c for c in candidates if c.val_score is not None]
        best = min(scored, key=lambda c: metric.sort_key(c.val_score)).id if scored else None
        out = []
        for c in candidates:
            lesson = self._lesson(ctx, c) if c.id == best and self._allow() else None
            out.append(c.model_copy(update={"lesson": lesson}) if lesson else self.offline.analyse(ctx, [c])[0])
        return out

    def _allow(self) -> bool:
        return self.budget is None or self.budget.allow(1 + self.reserve)

    def _lesson(self, ctx: Context, c: Candidate) -> str | None:
        brief = _brief(c.id, c.code, c.val_accuracy, loss=_loss(ctx.metric, c.val_score))
        parent = None
        if ctx.parent_id:
            parent = _brief(ctx.parent_id, None, ctx.parent_val_accuracy, loss=_loss(ctx.metric, ctx.parent_val_score))
            if ctx.parent_code:
                brief = brief.model_copy(update={"code": None, "diff": code_diff(ctx.parent_code, c.code)
                                                 or "(no change in the code)"})
        context = PromptContext(task=self.spec, candidate=brief, parent=parent,
                                hypothesis=_hypothesis(ctx.hypothesis))
        try:
            reply = self.llm.ask(build_prompt("analyse", context)).value
        except FATAL:  # end the run / fail the replay loudly
            raise
        except LLMError:
            return None
        assert isinstance(reply, LessonReply)
        return clean_note(reply.lesson, shown_texts(context)) or None
