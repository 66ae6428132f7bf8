"""Where the run's money and time went: LLM calls by role, sandbox time by outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from agentnas.llm.ledger import summarise
from agentnas.records import LLMCall, LLMTotals
from agentnas.report.data import Evaluation, RunData
from agentnas.report.view import ReportView, Section, esc, table


class RoleCost(LLMTotals):
    """One role's LLM use, as the ledger's one summary counts it (`summarise`, live calls only:
    replayed calls were paid for once, when they were live, as `runs show` counts them)."""

    role: str

    @property
    def mean_latency_s(self) -> float:
        return self.latency_s / self.calls if self.calls else 0.0

    def tokens(self, n: int) -> str:
        return f"~{n:,}" if self.estimated else f"{n:,}"

    def cost(self) -> str:
        if self.unpriced:
            return "unpriced" + (f" (+${self.cost_usd:.4f})" if self.cost_usd else "")
        return f"${self.cost_usd:.4f}"


class OutcomeTime(BaseModel):
    """Evaluations ending one way ("ok" or a failure kind), and proposals rejected at check with it."""

    kind: str
    evaluations: int = 0
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    rejected_at_check: int = 0


def by_role(calls: Sequence[dict[str, Any]]) -> list[RoleCost]:
    summary = summarise([LLMCall.model_validate(c) for c in calls], live_only=True)
    return [RoleCost(role=role, **totals.model_dump()) for role, totals in summary.by_role.items()]


def by_outcome(evaluations: Sequence[Evaluation], payloads: dict[str, dict[str, Any]]) -> list[OutcomeTime]:
    rows: dict[str, OutcomeTime] = {}
    for e in evaluations:
        kind = "ok" if e.status == "ok" else str(e.failure_kind or "unknown")
        r = rows.setdefault(kind, OutcomeTime(kind=kind))
        r.evaluations += 1
        r.wall_seconds += e.wall_seconds
        r.train_seconds += e.train_seconds
    for p in payloads.values():
        if p.get("status") == "failed":  # refused before training (checks or a constraint)
            kind = str(p.get("failure_kind") or "unknown")
            rows.setdefault(kind, OutcomeTime(kind=kind)).rejected_at_check += 1
    return sorted(rows.values(), key=lambda r: (r.kind != "ok", r.kind))


def _s(x: float) -> str:
    return f"{x:,.1f}"


class CostSection(Section):
    id = "cost"
    title = "Cost and time"

    def render(self, view: ReportView) -> str:
        return self.llm(view.data) + self.sandbox(view.data)

    @staticmethod
    def llm(data: RunData) -> str:
        roles = by_role(data.llm_calls)
        if not roles:
            return "<h3>LLM calls by role</h3><p>No LLM calls: the offline proposer wrote every candidate.</p>"
        rows = [[esc(r.role), str(r.calls), str(r.errors), str(r.replayed), r.tokens(r.prompt_tokens),
                 r.tokens(r.completion_tokens), r.cost(), f"{r.mean_latency_s:.2f}", _s(r.latency_s)]
                for r in roles]
        every = summarise([LLMCall.model_validate(c) for c in data.llm_calls], live_only=True)
        total = RoleCost(role="total", calls=every.calls, errors=every.failed_calls, replayed=every.replayed_calls,
                         prompt_tokens=every.prompt_tokens, completion_tokens=every.completion_tokens,
                         cost_usd=every.cost_usd, latency_s=sum(r.latency_s for r in roles),
                         estimated=every.estimated_calls, unpriced=bool(every.unpriced_models))
        rows.append([f"<b>{t}</b>" for t in ("total", str(total.calls), str(total.errors), str(total.replayed),
                                             total.tokens(total.prompt_tokens), total.tokens(total.completion_tokens),
                                             total.cost(), f"{total.mean_latency_s:.2f}", _s(total.latency_s))])
        return ("<h3>LLM calls by role</h3>" + table(
            ["role", "live calls", "errors", "replayed", "prompt tokens", "completion tokens", "cost (USD)",
             "mean latency (s)", "total latency (s)"], rows, "num cost")
            + "<p>Replayed calls were served from the journal: they were paid for when first made, so they add "
              "no tokens, cost or latency here. Token counts marked ~ include estimates (the server reported no "
              "usage for " + f"{total.estimated} calls); a cost marked unpriced has a model with no price in "
              "<code>[llm.prices]</code>: unknown, not zero.</p>")

    @staticmethod
    def sandbox(data: RunData) -> str:
        rows_ = by_outcome(data.evaluations, data.payloads)
        if not rows_:
            return "<h3>Sandbox time by outcome</h3><p class=\"empty\">no results yet: nothing was evaluated.</p>"
        rows = [[esc(r.kind), str(r.evaluations), _s(r.wall_seconds), _s(r.train_seconds), str(r.rejected_at_check)]
                for r in rows_]
        rows.append([f"<b>{t}</b>" for t in (
            "total", str(sum(r.evaluations for r in rows_)), _s(sum(r.wall_seconds for r in rows_)),
            _s(sum(r.train_seconds for r in rows_)), str(sum(r.rejected_at_check for r in rows_)))])
        return ("<h3>Sandbox time by outcome</h3>" + table(
            ["outcome (failure kind)", "evaluations", "sandbox wall (s)", "training (s)",
             "proposals rejected at check"], rows, "num cost")
            + "<p>Evaluations are real trainings (every fidelity). Proposals rejected at check failed to import, "
              "build, pass the shape check or export, or broke a constraint (e.g. max params), before any "
              "training: they cost no evaluation.</p>")
