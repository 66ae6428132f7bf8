"""A whole `agentnas run --proposer llm` against a model that answers like small local models do:
the same architecture every time, lessons that quote themselves, no token usage. Nothing is
trained twice, the evaluation budget is spent (the grammar fills what the model cannot), the
replay re-executes every experiment, and a model the server does not know stops the run at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from imperfect_models import Behaviour
from scripted_openai import ScriptedOpenAI

AGENTNAS = str(Path(sys.executable).parent / "agentnas")


def agentnas(args: list[str], base_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
    env.update({"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test"})
    return subprocess.run([AGENTNAS, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
                          check=False)


def run_args(run_dir: Path, cache: Path, evals: int) -> list[str]:
    return ["run", "--task", "digits", "--proposer", "llm", "--budget-evals", str(evals), "--k", "2", "--epochs", "1",
            "--slots", "1", "--run-dir", str(run_dir), "--llm-model", "scripted-model", "--memory", "none",
            "--cache-dir", str(cache), "--json"]


def test_a_model_that_repeats_itself_never_trains_a_model_twice_and_the_budget_is_spent(tmp_path: Path) -> None:
    model = Behaviour("same_answer", omit_usage=True)
    run_dir = tmp_path / "run"
    with ScriptedOpenAI(handler=model) as server:
        done = agentnas(run_args(run_dir, tmp_path / "cache", 4), server.base_url, tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        asked = len(server.chat_requests)
        replayed = agentnas(["replay", str(run_dir), "--json"], server.base_url, tmp_path)
        assert len(server.chat_requests) == asked
    doc = json.loads(done.stdout)
    hashes = [e["code_hash"] for e in doc["experiments"]]
    assert len(hashes) == 4 and len(set(hashes)) == 4  # budget spent, nothing trained twice
    assert doc["proposals"]["duplicates"] >= 1 and doc["proposals"]["fallbacks"] >= 1
    assert doc["llm"]["tokens_estimated"] and doc["llm"]["cost_usd"] is None
    assert doc["llm"]["calls"] <= 4 * 4  # the call budget per evaluation holds
    assert model.seen["proposal"] >= 2  # the repeat was asked again before the grammar filled the slot
    report = json.loads(replayed.stdout)
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert report["experiments"] == report["experiments_recorded"] == 4 and report["same_tree"]
    shown = agentnas(["runs", "show", str(run_dir)], server.base_url, tmp_path)
    assert "~" in shown.stdout and "estimated" in shown.stdout and "unpriced (scripted-model)" in shown.stdout
    with __import__("agentnas.journal", fromlist=["open_journal"]).open_journal(run_dir, read_only=True) as j:
        lessons = [e.payload.get("lesson") or "" for e in j.entries("node")]
        fallbacks = [e.payload for e in j.entries("node") if e.payload.get("fallback")]
    assert all("Lesson:" not in lesson for lesson in lessons)  # lessons never quote a label or a lesson
    assert all("repeated" in f["fallback"] or "parent" in f["fallback"] for f in fallbacks)


# Slow: a whole run for what tests/llm/test_imperfect_replies.py::test_a_reply_that_copies_the_format_paragraph_
# first_gives_the_answer_after_it checks on the reply itself.
@pytest.mark.slow
def test_a_model_that_copies_the_reply_format_first_still_drives_a_run_with_its_own_ideas(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with ScriptedOpenAI(handler=Behaviour("echo_format")) as server:
        done = agentnas(run_args(run_dir, tmp_path / "cache", 2), server.base_url, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert len(doc["experiments"]) == 2 and doc["proposals"]["fallbacks"] == 0
    with __import__("agentnas.journal", fromlist=["open_journal"]).open_journal(run_dir, read_only=True) as j:
        hypotheses = [e.payload for e in j.entries("hypothesis")]
    researched = [h["text"] for h in hypotheses if h["source"] == "researcher"]
    assert researched and all(t.startswith("Wider layers: wider hidden layers") for t in researched), researched
    assert not any("On the first line" in json.dumps(h) for h in hypotheses)


def test_a_model_the_server_does_not_know_stops_the_run_at_once_with_the_resume_command(tmp_path: Path) -> None:
    with ScriptedOpenAI(handler=Behaviour("json"), strict_models=True, models=("real-model",)) as server:
        done = agentnas(run_args(tmp_path / "run", tmp_path / "cache", 4), server.base_url, tmp_path)
        calls = len(server.chat_requests)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "does not know the model" in done.stderr and "scripted-model" in done.stderr
    assert "Resume with" in done.stderr and "Traceback" not in done.stderr
    assert calls == 1  # not one iteration burnt against it
