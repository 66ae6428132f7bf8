"""A short run against a live OpenAI-compatible server (a real model), when one is named:
AGENTNAS_TEST_LLM_URL (e.g. http://127.0.0.1:8765/v1 from ../shared/tools/local-llm/start.sh) and
AGENTNAS_TEST_LLM_MODEL (default qwen2.5-coder-1.5b). Slow: a small local model takes minutes a call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

URL = os.environ.get("AGENTNAS_TEST_LLM_URL")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not URL, reason="AGENTNAS_TEST_LLM_URL is not set")]


@pytest.mark.timeout(7200)
def test_a_short_run_with_a_live_model_spends_its_budget_and_trains_nothing_twice(tmp_path: Path) -> None:
    model = os.environ.get("AGENTNAS_TEST_LLM_MODEL", "qwen2.5-coder-1.5b")
    (tmp_path / "agentnas.toml").write_text("[llm]\ntimeout_s = 1800\nmax_completion_tokens = 1500\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_BASE_URL")}
    env.setdefault("OPENAI_API_KEY", "sk-local")
    done = subprocess.run([str(Path(sys.executable).parent / "agentnas"), "run", "--task", "digits", "--proposer",
                           "llm", "--budget-evals", "2", "--epochs", "2", "--run-dir", str(tmp_path / "run"),
                           "--llm-base-url", str(URL), "--llm-model", model, "--memory", "none", "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=7000, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    hashes = [e["code_hash"] for e in doc["experiments"]]
    assert len(hashes) == 2 and len(set(hashes)) == 2
    assert doc["llm"]["calls"] >= 1 and doc["proposals"]["own"] >= 1
