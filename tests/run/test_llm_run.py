"""`agentnas run --proposer llm` with the real openai client against a scripted
OpenAI-compatible server: proposals parsed, a broken one repaired by the engineer, every
exchange journaled (the replay cassette), tokens in `runs show` equal to what the server
reported, and the API key stored nowhere."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

from scripted_openai import RecordedRequest, Reply, ScriptedOpenAI

AGENTNAS = str(Path(sys.executable).parent / "agentnas")
SECRET = "sk-test-never-store-me-1234567890"
MLP = """import torch.nn as nn


def build_model(input_shape, num_classes):
    width = 1
    for d in input_shape:
        width *= d
    return nn.Sequential(nn.Flatten(), nn.Linear(width, {h}), nn.ReLU(), nn.Linear({h}, num_classes))
"""
BROKEN = "def build_model(input_shape, num_classes):\n    return not_defined_anywhere\n"


def handler_factory() -> tuple[object, dict[str, int]]:
    counter = itertools.count()
    seen = {"proposal": 0, "repair": 0, "hypothesis": 0, "lesson": 0}

    def handler(req: RecordedRequest) -> Reply:
        text = " ".join(str(m.get("content", "")) for m in req.messages)
        if "Diagnose the failure" in text:
            seen["repair"] += 1
            return Reply.json({"diagnosis": "undefined name", "code": MLP.format(h=200 + next(counter))})
        if "Write the lesson" in text:
            seen["lesson"] += 1
            return Reply.json({"lesson": "wider hidden layers help on digits", "evidence": []})
        if "Propose one new hypothesis" in text:
            seen["hypothesis"] += 1
            return Reply.json({"title": "width", "text": "wider MLPs fit digits better", "rationale": "none"})
        seen["proposal"] += 1
        n = next(counter)
        code = BROKEN if n == 0 else MLP.format(h=16 + 8 * n)
        # prose around a fenced block: the tolerant path, not JSON
        return Reply.text(f"Here is my design.\n```python\n{code}```\nIt should work.")

    return handler, seen


def run_cli(args: list[str], env_extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
    env.update(env_extra)
    return subprocess.run([AGENTNAS, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
                          check=False)


def test_llm_run_proposes_repairs_journals_and_counts_tokens(tmp_path: Path) -> None:
    handler, seen = handler_factory()
    run_dir = tmp_path / "run"
    with ScriptedOpenAI(handler=handler) as server:
        done = run_cli(["run", "--task", "digits", "--proposer", "llm", "--budget-evals", "3", "--k", "2",
                        "--epochs", "2", "--slots", "1", "--run-dir", str(run_dir), "--llm-model", "scripted-model",
                        "--cache-dir", str(tmp_path / "cache"), "--json"],
                       {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": SECRET}, tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        usage = list(server.reported_usage)
        asked = len(server.requests)
        replayed = run_cli(["replay", str(run_dir), "--json"], {"OPENAI_BASE_URL": server.base_url}, tmp_path)
        assert replayed.returncode == 0, replayed.stderr[-3000:]
        assert len(server.requests) == asked  # zero network calls: every reply from the journal
        report = json.loads(replayed.stdout)
        assert report["same_tree"] and report["same_leaderboard"] and report["llm_calls_served"] == len(usage)
        assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in server.requests
                   if r.path.endswith("/chat/completions"))
    doc = json.loads(done.stdout)
    assert len(doc["experiments"]) == 3 and all(e["status"] == "ok" for e in doc["experiments"])
    assert seen["proposal"] >= 2 and seen["repair"] >= 1 and seen["lesson"] >= 1
    llm = doc["llm"]
    assert llm["calls"] == len(usage)
    assert llm["prompt_tokens"] == sum(u["prompt_tokens"] for u in usage)
    assert llm["completion_tokens"] == sum(u["completion_tokens"] for u in usage)
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    shown = run_cli(["runs", "show", str(run_dir), "--json"], {}, tmp_path)
    assert json.loads(shown.stdout)["llm"] == llm


def test_an_unreachable_endpoint_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    from scripted_openai import free_port

    done = run_cli(["run", "--task", "digits", "--proposer", "llm", "--budget-evals", "1",
                    "--run-dir", str(tmp_path / "run"), "--llm-model", "m", "--cache-dir", str(tmp_path / "cache"),
                    "--llm-base-url", f"http://127.0.0.1:{free_port()}/v1"], {}, tmp_path)
    assert done.returncode == 2
    assert "127.0.0.1" in done.stderr and "Traceback" not in done.stderr


def test_an_llm_spending_cap_ends_the_run_gracefully_and_resumably(tmp_path: Path) -> None:
    handler, _ = handler_factory()
    (tmp_path / "agentnas.toml").write_text("[llm.caps]\nmax_calls = 3\n")
    run_dir = tmp_path / "run"
    with ScriptedOpenAI(handler=handler) as server:
        done = run_cli(["run", "--task", "digits", "--proposer", "llm", "--budget-evals", "20", "--k", "2",
                        "--epochs", "1", "--slots", "1", "--run-dir", str(run_dir), "--llm-model", "scripted-model",
                        "--cache-dir", str(tmp_path / "cache"), "--memory", "none", "--json"],
                       {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": SECRET}, tmp_path)
        calls = len([r for r in server.requests if r.path.endswith("/chat/completions")])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BudgetExceeded" in done.stderr and "Resume with" in done.stderr
    doc = json.loads(done.stdout)
    assert doc["llm"]["calls"] <= 3 and calls <= 3
    assert len(doc["experiments"]) < 20
