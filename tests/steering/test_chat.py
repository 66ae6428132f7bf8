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
from agentnas.records import Steering, SteeringMessage, describe_constraint
from agentnas.steering.chat import ChatError, parse, parse_constraint
from agentnas.steering.inbox import read_inbox, send

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


@pytest.mark.parametrize("said, limits", [
    ("/constrain max_latency=3ms", {"max_latency_ms": 3.0}),
    ("/constrain max_size=2MB; max_macs=5M; no lstm", {"max_size_mb": 2.0, "max_macs": 5_000_000}),
    ("under 3 ms", {"max_latency_ms": 3.0}),
    ("answers under 2.5 ms and below 2 MB", {"max_latency_ms": 2.5, "max_size_mb": 2.0}),
    ("at most 20M MACs", {"max_macs": 20_000_000}),
])
def test_deployment_limits_read_as_constraints_in_commands_and_in_words(said: str, limits: dict[str, float]) -> None:
    action, msg = parse(said)
    assert action == "send" and msg.kind == "constrain"
    assert {k: getattr(msg, k) for k in limits} == limits
    steering = Steering().apply(msg)
    assert all(getattr(steering.cost_limits(), k) == v for k, v in limits.items())
    assert "constraint:" in describe_constraint(msg)


def test_free_text_that_mentions_a_limit_among_other_words_stays_a_hypothesis() -> None:
    action, msg = parse("under 3 ms you could try depthwise convolutions")
    assert msg.kind == "hypothesis"
    for bad in ("/constrain max_latency=0ms", "/constrain under fast ms"):
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


# --------------------------------------------------------------------------- a run that is not running


def recorded_run(run_dir: Path) -> None:
    """A run directory as a finished run leaves it: one hypothesis, one architecture."""
    with open_journal(run_dir) as j:
        j.append("hypothesis", "h000", {"text": "depthwise separable convolutions", "source": "researcher",
                                        "iteration": 0})
        j.append("node", "i00000-c0", {"hypothesis_id": "h000", "parent_id": None, "code": "x = 1",
                                       "status": "scored", "operator": "sample", "iteration": 0})


def chat(run_dir: Path, *lines: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
    return subprocess.run([AGENTNAS, "chat", "--run-dir", str(run_dir), "--offline"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_chat_to_a_run_that_is_not_running_queues_for_its_resume_and_refuses_stop(tmp_path: Path) -> None:
    recorded_run(tmp_path)
    done = chat(tmp_path, "/hypothesis wider channels", "/stop", "/status")
    assert done.returncode == 0, done.stderr
    assert "not running" in done.stderr  # said once, when the chat starts
    assert "sent hypothesis" in done.stdout and "this will reach it when it is resumed" in done.stdout
    assert "nothing to stop" in done.stdout and "sent stop" not in done.stdout
    assert "the run is not running" in done.stdout  # /status
    assert [m.kind for m in read_inbox(tmp_path, stale_stops=True)] == ["hypothesis"]


def test_chat_to_a_live_run_sends_stop_and_says_the_next_iteration_takes_it(tmp_path: Path) -> None:
    from agentnas.run.service import run_lock

    recorded_run(tmp_path)
    with run_lock(tmp_path):  # held as a running run holds it
        done = chat(tmp_path, "/hypothesis wider channels", "/status", "/stop")
    assert done.returncode == 0, done.stderr
    assert "not running" not in done.stderr + done.stdout
    assert f"the run is running (pid {os.getpid()})" in done.stdout
    assert done.stdout.count("the run takes it at its next iteration") == 2
    assert [m.kind for m in read_inbox(tmp_path)] == ["hypothesis", "stop"]


def test_focus_and_prune_refuse_ids_the_run_does_not_have_listing_the_valid_ones(tmp_path: Path) -> None:
    recorded_run(tmp_path)
    done = chat(tmp_path, "/focus h999", "/prune i00042-c1", "/focus h000", "/prune i00000-c0")
    assert done.returncode == 0, done.stderr
    refusals = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert len(refusals) == 2 and "'h999'" in refusals[0] and "'i00042-c1'" in refusals[1]
    assert all("valid ids: hypotheses h000; architectures i00000-c0" in line for line in refusals)
    assert [(m.kind, m.target) for m in read_inbox(tmp_path)] == [("focus", "h000"), ("prune", "i00000-c0")]


def test_a_stop_written_before_the_runs_start_is_not_read(tmp_path: Path) -> None:
    from agentnas.run.service import run_lock

    send(tmp_path, SteeringMessage(kind="stop", at=time.time() - 60))  # left from an earlier run
    send(tmp_path, SteeringMessage(kind="hypothesis", text="waits for the next start"))
    with run_lock(tmp_path):  # the run starts
        send(tmp_path, SteeringMessage(kind="stop"))  # sent to this run
        assert [m.kind for m in read_inbox(tmp_path)] == ["hypothesis", "stop"]
    assert [m.kind for m in read_inbox(tmp_path, stale_stops=True)] == ["stop", "hypothesis", "stop"]


@pytest.mark.slow  # two real runs; test_a_stop_written_before_the_runs_start_is_not_read is the fast check
def test_a_stop_left_in_the_inbox_of_a_finished_run_does_not_end_its_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}

    def run(budget: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AGENTNAS, "run", "--task", "digits", "--budget-evals", str(budget), "--epochs", "1",
                               "--k", "2", "--train-per-expansion", "1", "--slots", "1", "--run-dir", str(run_dir),
                               "--value-model", "none", "--memory", "none", "--cache-dir", str(tmp_path / "cache"),
                               "--json"], capture_output=True, text=True, env=env, timeout=300, check=False)

    first = run(1)
    assert first.returncode == 0, first.stderr[-3000:]
    send(run_dir, SteeringMessage(kind="stop"))  # arrived as the run ended: nobody took it
    second = run(2)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "stopped by the user" not in second.stderr
    assert len(json.loads(second.stdout)["experiments"]) == 2
    with open_journal(run_dir, read_only=True) as j:
        assert j.count("steering") == 0


LONG_IDEA = ("stack two dilated convolutions with dilation rates one and two before the classifier so the "
             "receptive field covers the whole eight by eight image")


def test_runs_show_lists_every_hypothesis_with_what_became_of_it(tmp_path: Path) -> None:
    from agentnas.words import clip

    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
    send(run_dir, SteeringMessage(kind="hypothesis", text=LONG_IDEA))  # typed into chat before the start
    done = subprocess.run([AGENTNAS, "run", "--task", "digits", "--budget-evals", "2", "--epochs", "1", "--k", "2",
                           "--train-per-expansion", "1", "--slots", "1", "--run-dir", str(run_dir), "--value-model",
                           "none", "--memory", "none", "--cache-dir", str(tmp_path / "cache"), "--json"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "reach it when it is resumed" in chat(run_dir, "/hypothesis fewer channels").stdout

    shown = subprocess.run([AGENTNAS, "runs", "show", str(run_dir), "--json"], capture_output=True, text=True,
                           env=env, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    by_source: dict[str, list[dict[str, object]]] = {}
    for h in doc["hypotheses"]:
        by_source.setdefault(str(h["source"]), []).append(h)
    (mine, pending) = by_source["user"]
    assert mine["text"] == LONG_IDEA and mine["status"] == "explored"  # whole, not cut
    assert mine["trained"] == 1 and mine["nodes"] == len(mine["children"]) >= 1
    trained = {e["id"]: e for e in doc["experiments"]}
    best = mine["best"]
    assert best["id"] in mine["children"] and best["val_accuracy"] == trained[best["id"]]["val_accuracy"]
    assert best["test_accuracy"] == trained[best["id"]]["test_accuracy"]
    assert by_source["researcher"] and all(h["children"] for h in by_source["researcher"])
    assert pending["text"] == "fewer channels" and pending["status"] == "pending" and pending["best"] is None

    table = subprocess.run([AGENTNAS, "runs", "show", str(run_dir)], capture_output=True, text=True,
                           env={**env, "COLUMNS": "300"}, timeout=120, check=False)
    assert table.returncode == 0, table.stderr
    assert clip(LONG_IDEA, 70) in table.stdout and "not taken yet" in table.stdout
    assert f"{best['id']} val {best['val_accuracy']:.4f}" in table.stdout


def test_long_text_is_cut_at_a_word_boundary() -> None:
    from agentnas.words import clip

    cut = clip(LONG_IDEA, 70)
    assert len(cut) <= 70 and cut.endswith("…")
    assert LONG_IDEA.startswith(cut[:-1]) and LONG_IDEA[len(cut) - 1] == " "  # a whole word ends the cut
    assert clip("short  idea\nhere", 70) == "short idea here"
    assert clip("x" * 100, 10) == "x" * 9 + "…"  # one long word: cut where it must be
