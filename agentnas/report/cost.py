"""Where the run's money and time went: LLM calls by role, sandbox time by outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from agentnas.report.data import Evaluation, RunData
from agentnas.report.view import ReportView, Section, esc, table


class RoleCost(BaseModel):
    """One role's LLM use. Replayed calls (served from the journal) were paid for once, when they
    were live, so tokens, cost and latency count live calls only, as `runs show` does."""

    role: str
    calls: int = 0  # live calls: ok + errors
    errors: int = 0
    replayed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    estimated: int = 0      # answered calls whose token counts are estimates (the server reported none)
    unpriced: bool = False  # a model without a price answered: the cost is unknown, not zero

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
    roles: dict[str, RoleCost] = {}
    for c in calls:
        r = roles.setdefault(str(c.get("role", "?")), RoleCost(role=str(c.get("role", "?"))))
        if c.get("status") == "replayed":
            r.replayed += 1
            continue
        r.calls += 1
        r.errors += c.get("status") == "error"
        r.prompt_tokens += int(c.get("prompt_tokens") or 0)
        r.completion_tokens += int(c.get("completion_tokens") or 0)
        r.cost_usd += float(c.get("cost_usd") or 0.0)
        r.latency_s += float(c.get("latency_s") or 0.0)
        r.estimated += bool(c.get("usage_estimated"))
        r.unpriced = r.unpriced or (c.get("status") == "ok" and c.get("priced") is False)
    return sorted(roles.values(), key=lambda r: r.role)


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
        total = RoleCost(role="total", calls=sum(r.calls for r in roles), errors=sum(r.errors for r in roles),
                         replayed=sum(r.replayed for r in roles), prompt_tokens=sum(r.prompt_tokens for r in roles),
                         completion_tokens=sum(r.completion_tokens for r in roles),
                         cost_usd=sum(r.cost_usd for r in roles), latency_s=sum(r.latency_s for r in roles),
                         estimated=sum(r.estimated for r in roles), unpriced=any(r.unpriced for r in roles))
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
