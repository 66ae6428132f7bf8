"""Chat steering: commands are parsed into messages, a live run takes them at its next
iteration boundary (hypotheses expanded first, constraints obeyed, /stop ends it), and the
REPL shows what the user's hypothesis produced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentnas.journal import JournalError, open_journal
from agentnas.steering.chat import ChatError, parse, parse_constraint
from agentnas.steering.inbox import SteeringMessage, read_inbox, send

AGENTNAS = str(Path(sys.executable).parent / "agentnas")


def test_commands_become_typed_messages() -> None:
    action, msg = parse("dilated convolutions should help")
    assert action == "send" and msg.kind == "hypothesis" and msg.text == "dilated convolutions should help"
    assert parse("/constrain max_params=50k")[1].max_params == 50_000
    c = parse_constraint("no lstm, attention; use conv; max_params 120000")
    assert c.banned_ops == ("lstm", "attention") and c.required_ops == ("conv",) and c.max_params == 120_000
    assert parse("/focus h002")[1].target == "h002"
    assert parse("/ask what helped?") == ("ask", "what helped?")
    assert parse("/watch 5") == ("watch", 5.0)
    for bad in ("/constrain fast please", "/focus", "/frobnicate", "/watch soon"):
        with pytest.raises(ChatError):
            parse(bad)


def test_the_inbox_keeps_whole_messages_and_skips_torn_lines(tmp_path: Path) -> None:
    send(tmp_path, SteeringMessage(kind="hypothesis", text="a"))
    with open(tmp_path / "steering.jsonl", "a") as f:
        f.write('{"kind": "hypo')  # a writer killed mid-line
    send(tmp_path, SteeringMessage(kind="stop"))
    assert [m.kind for m in read_inbox(tmp_path)] == ["hypothesis"]  # the torn line swallowed the next one
    with open(tmp_path / "steering.jsonl", "a") as f:
        f.write("\n")
    send(tmp_path, SteeringMessage(kind="stop"))
    assert [m.kind for m in read_inbox(tmp_path)] == ["hypothesis", "stop"]


def test_a_live_run_follows_chat_steering_and_stops_on_request(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
    run = subprocess.Popen([AGENTNAS, "run", "--task", "digits", "--budget-evals", "60", "--epochs", "2", "--k", "3",
                            "--slots", "1", "--run-dir", str(run_dir), "--value-model", "none", "--memory", "none",
                            "--cache-dir", str(tmp_path / "cache"), "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for the first result
        try:
            with open_journal(run_dir, read_only=True) as j:
                if j.count("experiment"):
                    break
        except JournalError:
            pass
        time.sleep(0.2)
    script = "\n".join(["/hypothesis wider channel counts in every convolution", "/constrain max_params=40000",
                        "/watch 25", "/status", "/stop", "/quit"]) + "\n"
    chat = subprocess.run([AGENTNAS, "chat", "--run-dir", str(run_dir)], input=script, capture_output=True,
                          text=True, env=env, timeout=200, check=False)
    assert chat.returncode == 0, chat.stderr
    assert "sent hypothesis" in chat.stdout and "sent constrain" in chat.stdout and "sent stop" in chat.stdout
    out, err = run.communicate(timeout=200)
    assert run.returncode == 0, err[-3000:]
    assert "stopped by the user" in err
    doc = json.loads(out)
    assert len(doc["experiments"]) < 60  # stopped early
    with open_journal(run_dir, read_only=True) as j:
        steering = {e.payload["kind"]: e.payload for e in j.entries("steering")}
        assert set(steering) == {"hypothesis", "constrain", "stop"}
        user = [e for e in j.entries("hypothesis") if e.payload["source"] == "user"]
        assert len(user) == 1
        nodes = [e.payload for e in j.entries("node") if e.payload["hypothesis_id"] == user[0].key]
        assert nodes, "the user's hypothesis was never expanded"
        since = steering["constrain"]["iteration"]
        later = [e.payload for e in j.entries("experiment") if e.payload["iteration"] >= since]
        assert all((p["params"] or 0) <= 40_000 for p in later if p["status"] == "ok")
    assert "your hypothesis" in chat.stdout


def test_approval_mode_trains_only_what_the_user_approves(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
    answers = "n\ny\n" + "y\n" * 20  # first granted candidate refused, the rest approved
    done = subprocess.run([AGENTNAS, "run", "--task", "digits", "--budget-evals", "2", "--epochs", "2", "--k", "3",
                           "--slots", "1", "--run-dir", str(run_dir), "--value-model", "none", "--memory", "none",
                           "--cache-dir", str(tmp_path / "cache"), "--approve", "--json"],
                          input=answers, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "train it?" in done.stderr and json.loads(done.stdout)["experiments"]
    with open_journal(run_dir, read_only=True) as j:
        first = [e.payload for e in j.entries("iteration")][0]
        assert len(first["trained"]) == 1  # two were granted, one refused
        refused = [e for e in j.entries("node") if e.payload["iteration"] == 0 and e.key not in first["trained"]
                   and e.payload["status"] == "scored"]
        assert refused
        assert j.count("approval") >= 2  # every answer is journaled
    from agentnas.replay import replay

    report = replay(run_dir, tmp_path / "replayed")  # the answers are served from the record
    assert report.same_tree and report.same_leaderboard, report.first_difference
