"""The start-up check: is the endpoint there, answering, and accepting the key?

GET /models with a short timeout (`check_timeout_s`) and no retries. Servers without /models
(404, 405, 501) get a one-token completion for the researcher's model instead, with the
normal timeout, since a local server may load the model on first use; that call is in the
ledger under the role "check". Any other answer from a live server is accepted with a note.
Unreachable, hanging and key-rejecting endpoints raise `LLMUnavailable` at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import openai

from agentnas.llm.config import LLMConfig
from agentnas.llm.errors import LLMUnavailable
from agentnas.llm.ledger import Ledger
from agentnas.records import LLMCall


class Checked(Protocol):
    """What the check needs of the client (the client itself, without importing it)."""

    config: LLMConfig
    ledger: Ledger
    clock: Callable[[], float]

_NO_MODELS_ROUTE = (404, 405, 501)


@dataclass(frozen=True)
class ConnectivityReport:
    base_url: str
    method: str                      # "models", "completion", "accepted" or "replay"
    models: tuple[str, ...] = ()     # what /models listed
    missing_models: tuple[str, ...] = ()  # configured models absent from that list (a typo, or an alias)
    latency_s: float = 0.0
    note: str = ""


def _unreachable(base_url: str, why: str) -> LLMUnavailable:
    return LLMUnavailable(
        f"cannot use the LLM endpoint {base_url}: {why}. Check --llm-base-url / OPENAI_BASE_URL and that the "
        "server is running, or run without --proposer llm to use the offline proposer")


def check_endpoint(client: Checked, api: openai.OpenAI) -> ConnectivityReport:
    config = client.config
    base_url = config.require_endpoint()
    start = client.clock()
    quick = api.with_options(timeout=config.check_timeout_s, max_retries=0)
    try:
        page: Any = quick.models.list()
        listed = tuple(sorted(str(getattr(m, "id", "")) for m in getattr(page, "data", None) or ()))
        missing = tuple(sorted({m for m in config.models().values() if listed and m not in listed}))
        return ConnectivityReport(base_url, "models", listed, missing, client.clock() - start)
    except openai.APITimeoutError:
        raise _unreachable(base_url, f"no answer within {config.check_timeout_s:g} s") from None
    except openai.APIConnectionError as e:
        cause = e.__cause__ or e.__context__
        raise _unreachable(base_url, f"connection failed ({type(cause).__name__ if cause else 'unknown'})") from None
    except openai.APIStatusError as e:
        if e.status_code in (401, 403):
            raise LLMUnavailable(f"the LLM endpoint {base_url} rejected the API key (HTTP {e.status_code}); "
                                 "set OPENAI_API_KEY to a valid key") from None
        if e.status_code not in _NO_MODELS_ROUTE:
            return ConnectivityReport(base_url, "accepted", latency_s=client.clock() - start,
                                      note=f"GET /models answered HTTP {e.status_code}; carrying on")
    except openai.APIError:
        # A body that is not a model list: something answers there, which is all this check asks.
        return ConnectivityReport(base_url, "accepted", latency_s=client.clock() - start,
                                  note="GET /models did not return a model list; carrying on")
    return _one_token(client, api, base_url, start)


def _one_token(client: Checked, api: openai.OpenAI, base_url: str, start: float) -> ConnectivityReport:
    config = client.config
    model = config.model_for("researcher")
    t0 = client.clock()
    try:
        completion: Any = api.with_options(timeout=config.timeout_s, max_retries=0).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
    except openai.APITimeoutError:
        raise _unreachable(base_url, f"a one-token completion took over {config.timeout_s:g} s") from None
    except openai.APIConnectionError:
        raise _unreachable(base_url, "connection failed") from None
    except openai.APIStatusError as e:
        if e.status_code in (401, 403):
            raise LLMUnavailable(f"the LLM endpoint {base_url} rejected the API key (HTTP {e.status_code}); "
                                 "set OPENAI_API_KEY to a valid key") from None
        if e.status_code == 404:
            raise LLMUnavailable(f"the LLM endpoint {base_url} has no /chat/completions for model {model!r} "
                                 "(HTTP 404): check --llm-model / AGENTNAS_LLM_MODEL") from None
        return ConnectivityReport(base_url, "accepted", latency_s=client.clock() - start,
                                  note=f"a one-token completion answered HTTP {e.status_code}; carrying on")
    usage = getattr(completion, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    done = int(getattr(usage, "completion_tokens", 0) or 0)
    client.ledger.add(LLMCall(role="check", model=model, status="ok", prompt_tokens=prompt, completion_tokens=done,
                              cost_usd=client.ledger.cost(model, prompt, done), priced=client.ledger.priced(model),
                              latency_s=client.clock() - t0))
    return ConnectivityReport(base_url, "completion", latency_s=client.clock() - start,
                              note="GET /models is not served; a one-token completion answered")
