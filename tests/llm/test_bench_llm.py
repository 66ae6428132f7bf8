"""`agentnas bench llm`: the figures come from real calls through the layer."""

from __future__ import annotations

import json

from scripted_openai import free_port
from typer.testing import CliRunner

from agentnas.bench.llm import run_llm_bench
from agentnas.cli import app


def test_bench_measures_proposals_against_the_scripted_server() -> None:
    report = run_llm_bench(3)
    for name in ("baseline_raw_http", "prompt_assembly", "proposal", "proposal_streamed"):
        assert report[name]["p50_ms"] > 0
    # the scripted server counts words: the ledger's tokens per call are what it reported
    assert report["proposal"]["prompt_tokens_per_call"] == report["proposal_streamed"]["prompt_tokens_per_call"] > 100
    assert report["proposal"]["completion_tokens_per_call"] > 10 and report["prompt_chars"] > 1000


def test_bench_cli_json_and_unreachable_endpoint() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "llm", "--overhead", "--json", "--n", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 2
    down = runner.invoke(app, ["bench", "llm", "--overhead", "--n", "2", "--base-url",
                               f"http://127.0.0.1:{free_port()}", "--model", "m"])
    assert down.exit_code == 2 and "cannot use the LLM endpoint" in down.output
