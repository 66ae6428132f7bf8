"""`agentnas bench llm`: what the LLM layer costs per proposal, beside a bare HTTP round trip.

One "proposal" is the real path of the researcher's mutate step: assemble the prompt (MNIST-1D
task, the example CNN as parent, two siblings, retrieved items), one chat completion through
the `openai` client with our retries, ledger and cassette, then parse and validate the proposal.
The baseline is the same request body POSTed with httpx and the JSON decoded, nothing else:
the difference is the layer's own overhead. Measured streamed and not streamed.

Without `base_url` the scripted OpenAI-compatible server of the test suite answers (a checkout
only): it replies at once, so the figures are the layer's overhead, not a model's speed. Its
token counts are words, not tokenizer tokens; `prompt_chars` is given beside them. Against a
real endpoint the benchmark makes 3n + 3 calls (baseline, plain, streamed, warm-ups): mind the bill.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from agentnas.llm import (
    CandidateBrief,
    JsonlCassette,
    LLMClient,
    LLMConfig,
    MemoryItem,
    PromptContext,
    ProposalReply,
    build_prompt,
)
from agentnas.llm.structured import with_schema
from agentnas.paths import load_module, shipped_dir
from agentnas.records import EvalResult, Metrics
from agentnas.tasks import get_task

SCRIPTED_MODEL = "scripted-model"


@contextmanager
def scripted_server(reply: str) -> Iterator[str]:
    """The test suite's scripted server answering every request with `reply`; yields its base URL."""
    path = Path(__file__).resolve().parents[2] / "tests" / "scripted_openai.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the scripted server ships with a checkout only; "
                                "pass --base-url to measure a real endpoint")
    mod = load_module(path, "agentnas_bench_scripted_openai")
    with mod.ScriptedOpenAI(handler=lambda request: mod.Reply.text(reply)) as server:
        yield str(server.base_url)


def mutate_context() -> PromptContext:
    code = (shipped_dir("examples") / "mnist1d_cnn.py").read_text(encoding="utf-8")
    result = EvalResult(path="cnn.py", status="ok", metrics=Metrics(val_accuracy=0.924, test_accuracy=0.0),
                        params=5210, train_seconds=3.1)
    return PromptContext(
        task=get_task("mnist1d").spec,
        parent=CandidateBrief(id="X1", hypothesis="three strided convolutions", code=code, result=result),
        siblings=(CandidateBrief(id="X2", hypothesis="wider first conv", result=result),
                  CandidateBrief(id="X3", hypothesis="a GRU head", result=result)),
        similar=(MemoryItem(id="X0", text="a 1-D CNN with dilations reached 0.95"),),
        knowledge=(MemoryItem(id="K1", text="weight sharing across positions suits shifted signals"),))


def _quantiles(xs: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(xs, n=10) if len(xs) > 1 else [xs[0]] * 9
    return {"p50_ms": 1000 * statistics.median(xs), "p90_ms": 1000 * qs[8], "mean_ms": 1000 * statistics.fmean(xs)}


def _propose(llm: LLMClient, context: PromptContext, stream: bool) -> None:
    llm.ask(build_prompt("mutate", context), stream=stream)


def _timed(n: int, fn: Callable[[], Any]) -> list[float]:
    fn()  # warm: connection, imports
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run_llm_bench(n: int = 100, *, base_url: str | None = None, model: str | None = None,
                  api_key: str | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    context = mutate_context()
    prompt = build_prompt("mutate", context)
    code = (shipped_dir("examples") / "mnist1d_cnn.py").read_text(encoding="utf-8")
    reply = ProposalReply(rationale="dilate the second and third convolutions [K1]", code=code).model_dump_json()
    if base_url is None:
        with scripted_server(reply) as url:
            return _measure(n, url, SCRIPTED_MODEL, None, prompt, context, log, scripted=True)
    return _measure(n, base_url, model, api_key, prompt, context, log, scripted=False)


def _measure(n: int, url: str, model: str | None, api_key: str | None, prompt: Any, context: PromptContext,
             log: Callable[[str], None] | None, *, scripted: bool) -> dict[str, Any]:
    config = LLMConfig.resolve(base_url=url, model=model, api_key=api_key, env={} if scripted else None)
    with LLMClient(config) as probe:
        probe.check()  # an unreachable endpoint is a clear LLMUnavailable, before any measurement
    report: dict[str, Any] = {"endpoint": "scripted server (tests/scripted_openai.py)" if scripted else "given",
                              "model": config.model_for("researcher"), "n": n}
    assembly = _timed(n, lambda: build_prompt("mutate", context))
    report["prompt_assembly"] = _quantiles(assembly)
    messages = with_schema(prompt.messages, ProposalReply)  # what `ask` sends
    body = {"model": config.model_for("researcher"), "messages": [m.model_dump() for m in messages]}
    headers = {"Authorization": f"Bearer {config.api_key_value()}"}
    with httpx.Client(base_url=str(config.base_url), headers=headers, timeout=config.timeout_s) as http:
        raw = _timed(n, lambda: http.post("/chat/completions", json=body).json())
    report["baseline_raw_http"] = _quantiles(raw)
    for stream in (False, True):
        name = "proposal_streamed" if stream else "proposal"
        if log:
            log(f"measuring {name} x{n}")
        with tempfile.TemporaryDirectory() as tmp, \
                LLMClient(config, cassette=JsonlCassette(Path(tmp) / "llm.jsonl")) as llm:
            # the same prompt each time: the occurrence counter still gives each call a fresh cassette key
            times = _timed(n, partial(_propose, llm, context, stream))
            summary = llm.ledger.summary()
        report[name] = _quantiles(times) | {
            "prompt_tokens_per_call": summary.prompt_tokens / summary.calls,
            "completion_tokens_per_call": summary.completion_tokens / summary.calls,
            "cost_usd_per_call": summary.cost_usd / summary.calls}
    report["prompt_chars"] = sum(len(m.content) for m in messages)
    report["layer_overhead_p50_ms"] = report["proposal"]["p50_ms"] - report["baseline_raw_http"]["p50_ms"]
    return report
