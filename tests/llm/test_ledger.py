"""The ledger matches what the server reported, prices calls, and its caps stop spending."""

from __future__ import annotations

import pytest
from llm_support import MODEL, client
from scripted_openai import Reply, ScriptedOpenAI

from agentnas.llm import BudgetExceeded, Ledger, LLMCaps, LLMConfigError, ModelPrice
from agentnas.records import LLMCall

MESSAGES = [{"role": "user", "content": "one two three four"}]
PRICES = {MODEL: {"prompt_usd_per_m": 2.0, "completion_usd_per_m": 10.0}}


def test_ledger_tokens_equal_what_the_server_reported(server: ScriptedOpenAI) -> None:
    server.push(Reply.text("a b c"), Reply.text("d e", prompt_tokens=1000, completion_tokens=250), Reply.text("f g h"))
    with client(server.base_url, engineer_model="other") as llm:
        llm.complete("researcher", MESSAGES)
        llm.complete("researcher", MESSAGES)
        llm.complete("engineer", MESSAGES, stream=True)
    reported = server.reported_usage
    summary = llm.ledger.summary()
    assert summary.calls == 3
    assert summary.prompt_tokens == sum(u["prompt_tokens"] for u in reported) == 4 + 1000 + 4
    assert summary.completion_tokens == sum(u["completion_tokens"] for u in reported) == 3 + 250 + 3
    assert summary.by_role["researcher"].calls == 2 and summary.by_role["engineer"].calls == 1
    assert summary.by_role["researcher"].prompt_tokens == 1004
    assert summary.unpriced_models == ("other", MODEL)


def test_cost_comes_from_the_price_table(server: ScriptedOpenAI) -> None:
    server.push(Reply.text("x", prompt_tokens=1_000_000, completion_tokens=100_000))
    with client(server.base_url, prices=PRICES) as llm:
        llm.complete("analyst", MESSAGES)
    assert llm.ledger.summary().cost_usd == pytest.approx(2.0 + 1.0)
    assert llm.ledger.calls[0].latency_s > 0


def test_call_cap_stops_further_calls_before_they_are_made(server: ScriptedOpenAI) -> None:
    server.push("a", "b", "c")
    with client(server.base_url, caps={"max_calls": 2}) as llm:
        llm.complete("researcher", MESSAGES)
        llm.complete("researcher", MESSAGES)
        with pytest.raises(BudgetExceeded) as info:
            llm.complete("researcher", MESSAGES)
    assert len(server.chat_requests) == 2
    assert info.value.cap == "calls" and info.value.response is None
    assert info.value.summary.calls == 2 and info.value.summary.cap_hit == "calls"
    assert "no further calls" in str(info.value)


def test_token_cap_raises_after_the_call_that_crossed_it_and_keeps_its_answer(server: ScriptedOpenAI) -> None:
    server.push(Reply.text("paid for", prompt_tokens=80, completion_tokens=40), "never sent")
    with client(server.base_url, caps={"max_tokens": 100}) as llm:
        with pytest.raises(BudgetExceeded) as info:
            llm.complete("researcher", MESSAGES)
        assert info.value.cap == "tokens" and info.value.response is not None
        assert info.value.response.content == "paid for"
        assert llm.ledger.summary().prompt_tokens == 80  # the call is in the ledger
        with pytest.raises(BudgetExceeded):
            llm.complete("researcher", MESSAGES)
    assert len(server.chat_requests) == 1


def test_usd_cap_refuses_a_call_whose_completion_limit_could_exceed_it(server: ScriptedOpenAI) -> None:
    server.push(Reply.text("x", prompt_tokens=10, completion_tokens=10))
    # 2000 completion tokens at $10/M = $0.02 > the $0.01 cap: refused before any request
    with client(server.base_url, prices=PRICES, caps={"max_usd": 0.01}, max_completion_tokens=2000) as llm, \
            pytest.raises(BudgetExceeded) as info:
        llm.complete("researcher", MESSAGES)
    assert info.value.cap == "usd" and server.chat_requests == []


def test_usd_cap_without_a_price_is_a_config_error() -> None:
    with pytest.raises(LLMConfigError, match="price table has no entry for scripted-model"):
        client("http://127.0.0.1:9/v1", caps={"max_usd": 1.0})


def test_caps_hold_across_a_restart_from_history() -> None:
    earlier = [LLMCall(role="researcher", model=MODEL, status="ok", prompt_tokens=60, completion_tokens=40)]
    ledger = Ledger(caps=LLMCaps(max_tokens=100), history=earlier)
    with pytest.raises(BudgetExceeded, match="tokens"):
        ledger.check_before(MODEL, prompt_tokens_estimate=1, max_completion_tokens=None)


def test_replayed_and_failed_calls_do_not_spend_the_budget() -> None:
    seen: list[LLMCall] = []
    ledger = Ledger({MODEL: ModelPrice(prompt_usd_per_m=1, completion_usd_per_m=1)}, LLMCaps(max_calls=1),
                    on_call=seen.append)
    ledger.add(LLMCall(role="analyst", model=MODEL, status="replayed", prompt_tokens=5, completion_tokens=5))
    ledger.add(LLMCall(role="analyst", model=MODEL, status="error", error="timeout"))
    ledger.check_before(MODEL, 10, None)  # one live call still allowed
    summary = ledger.summary()
    assert (summary.calls, summary.replayed_calls, summary.failed_calls) == (2, 1, 1)
    assert [c.status for c in seen] == ["replayed", "error"]
