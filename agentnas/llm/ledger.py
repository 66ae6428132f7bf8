"""The ledger: one `LLMCall` per logical call, costs from the price table, and the hard caps.

Caps count answered live calls only (a replayed or failed call is not billed). `check_before` refuses a call
that would cross a cap, judged from the spend so far plus an estimate of this call (its prompt
at ~4 characters a token, plus its completion limit when one is set); `add` records a call
and raises `BudgetExceeded` when the call just recorded crossed a cap. Both raise the same
typed error, so the run loop ends gracefully with `summary()`.

Thread-safe: proposals for sibling nodes may run in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from agentnas.llm.config import LLMCaps, ModelPrice
from agentnas.llm.errors import BudgetExceeded
from agentnas.records import LLMCall, LLMResponse, LLMSummary, LLMTotals


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 characters a token) for caps and servers that report no usage."""
    return (len(text) + 3) // 4


class Ledger:
    def __init__(self, prices: Mapping[str, ModelPrice] | None = None, caps: LLMCaps | None = None, *,
                 history: Iterable[LLMCall] = (), on_call: Callable[[LLMCall], None] | None = None) -> None:
        """`history`: calls of an earlier session of the same run (read back from the journal on resume),
        so the caps hold across restarts. `on_call` is told of every new call (the run loop journals it)."""
        self.prices = dict(prices or {})
        self.caps = caps or LLMCaps()
        self.on_call = on_call
        self._lock = threading.Lock()
        self._calls: list[LLMCall] = list(history)
        self._cap_hit: str | None = None

    # -- costs -----------------------------------------------------------------------------------
    def priced(self, model: str) -> bool:
        return model in self.prices

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.prices.get(model)
        return price.cost(prompt_tokens, completion_tokens) if price else 0.0

    # -- caps ------------------------------------------------------------------------------------
    def _spent(self) -> tuple[float, int, int]:
        live = [c for c in self._calls if c.status == "ok"]  # replayed and failed calls were not billed
        return (sum(c.cost_usd for c in live), sum(c.prompt_tokens + c.completion_tokens for c in live), len(live))

    def check_before(self, model: str, prompt_tokens_estimate: int, max_completion_tokens: int | None) -> None:
        """Raise `BudgetExceeded` if one more call of this size would cross a cap."""
        with self._lock:
            usd, tokens, calls = self._spent()
            completion = max_completion_tokens or 0
            projected_usd = usd + self.cost(model, prompt_tokens_estimate, completion)
            projected_tokens = tokens + prompt_tokens_estimate + completion
            caps = self.caps
            if caps.max_calls is not None and calls + 1 > caps.max_calls:
                raise self._exceeded("calls", caps.max_calls, calls)
            if caps.max_tokens is not None and (tokens >= caps.max_tokens or projected_tokens > caps.max_tokens):
                raise self._exceeded("tokens", caps.max_tokens, tokens)
            if caps.max_usd is not None and (usd >= caps.max_usd or projected_usd > caps.max_usd):
                raise self._exceeded("usd", caps.max_usd, usd)

    def add(self, call: LLMCall, response: LLMResponse | None = None) -> None:
        """Record `call`; raise `BudgetExceeded` (carrying `response`) if it crossed a cap."""
        with self._lock:
            self._calls.append(call)
            usd, tokens, _ = self._spent()
            over: BudgetExceeded | None = None
            if call.status != "ok":
                pass  # a failed or replayed call spent nothing: it cannot be the one that crossed a cap
            elif self.caps.max_tokens is not None and tokens > self.caps.max_tokens:
                over = self._exceeded("tokens", self.caps.max_tokens, tokens, response)
            elif self.caps.max_usd is not None and usd > self.caps.max_usd:
                over = self._exceeded("usd", self.caps.max_usd, usd, response)
        if self.on_call is not None:
            self.on_call(call)
        if over is not None:
            raise over

    def _exceeded(self, cap: str, limit: float, used: float, response: LLMResponse | None = None) -> BudgetExceeded:
        self._cap_hit = cap
        return BudgetExceeded(cap, float(limit), float(used), self._summary(), response)

    # -- reading ---------------------------------------------------------------------------------
    def answered_calls(self) -> int:
        """Calls that got an answer, each counted once: a call replayed from the cassette on resume or
        replay is the same call as the live one that recorded it (same key)."""
        with self._lock:
            return len({c.key or f"#{i}" for i, c in enumerate(self._calls) if c.status in ("ok", "replayed")})

    @property
    def calls(self) -> list[LLMCall]:
        with self._lock:
            return list(self._calls)

    def summary(self) -> LLMSummary:
        with self._lock:
            return self._summary()

    def _summary(self) -> LLMSummary:
        return summarise(self._calls, cap_hit=self._cap_hit)


def summarise(calls: Iterable[LLMCall], *, live_only: bool = False, cap_hit: str | None = None) -> LLMSummary:
    """Totals and per-role totals of `calls`. `live_only`: leave out of the totals the calls replayed
    from the cassette (a resumed run's or a replay's), which were paid for once, when they were live —
    what `runs show` and the report count."""
    every = list(calls)
    counted = [c for c in every if c.status != "replayed"] if live_only else every
    by_role: dict[str, LLMTotals] = {}
    for c in every:
        t = by_role.get(c.role, LLMTotals())
        if live_only and c.status == "replayed":
            by_role[c.role] = t.model_copy(update={"replayed": t.replayed + 1})
            continue
        by_role[c.role] = LLMTotals(
            calls=t.calls + 1, prompt_tokens=t.prompt_tokens + c.prompt_tokens,
            completion_tokens=t.completion_tokens + c.completion_tokens, cost_usd=t.cost_usd + c.cost_usd,
            errors=t.errors + (c.status == "error"), replayed=t.replayed + (c.status == "replayed"),
            latency_s=t.latency_s + c.latency_s, estimated=t.estimated + c.usage_estimated,
            unpriced=t.unpriced or (not c.priced and c.status == "ok"))
    return LLMSummary(
        calls=len(counted),
        prompt_tokens=sum(c.prompt_tokens for c in counted),
        completion_tokens=sum(c.completion_tokens for c in counted),
        cost_usd=sum(c.cost_usd for c in counted),
        failed_calls=sum(c.status == "error" for c in counted),
        replayed_calls=sum(c.status == "replayed" for c in every),
        estimated_calls=sum(c.usage_estimated for c in counted),
        unpriced_models=tuple(sorted({c.model for c in counted if not c.priced and c.status != "error"})),
        by_role=dict(sorted(by_role.items())),
        cap_hit=cap_hit,
    )
