"""Chat with an LLM endpoint: free text is interpreted into checked steering actions (the
real openai client against a scripted OpenAI-compatible server), questions are answered
citing record ids, and the user's training-time limit stops slow trainings in a real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from scripted_openai import Reply, ScriptedOpenAI

from agentnas.journal import open_journal
from agentnas.llm import LLMClient, LLMConfig
from agentnas.memory.retrieve import PromptMemory, RetrievedExperiment
from agentnas.records import EvalResult, Failure, FailureKind, Metrics, SteeringMessage
from agentnas.run.roles import within_time
from agentnas.steering.chat import Repl, parse
from agentnas.steering.inbox import read_inbox, send
from agentnas.steering.interpret import Interpreter

AGENTNAS = str(Path(sys.executable).parent / "agentnas")
SECRET = "sk-chat-secret-never-stored-42"


def interpreter(server: ScriptedOpenAI) -> Interpreter:
    config = LLMConfig.resolve(base_url=server.base_url, model="scripted-model", api_key=SECRET, env={},
                               max_retries=0)
    return Interpreter(LLMClient(config))


def run_with_hypothesis(run_dir: Path) -> None:
    with open_journal(run_dir) as j:
        j.append("hypothesis", "h000", {"text": "depthwise separable convolutions", "source": "researcher",
                                        "iteration": 0})


def test_free_text_becomes_checked_actions_and_bad_targets_are_refused(tmp_path: Path) -> None:
    run_with_hypothesis(tmp_path)
    said = "keep it under 20k parameters, at most 30 seconds of training, no LSTMs; focus on h000 and h999"
    reply = {"reply": "Constraining size and time, focusing on the separable-conv direction.", "actions": [
        {"kind": "constrain", "max_params": 20000, "max_train_seconds": 30, "banned_ops": ["lstm"]},
        {"kind": "focus", "target": "h000"}, {"kind": "focus", "target": "h999"}]}
    lines: list[str] = []
    with ScriptedOpenAI([Reply.json(reply)]) as server:
        Repl(tmp_path, lines.append, interpreter=interpreter(server)).run([said])
        prompt = " ".join(str(m["content"]) for m in server.chat_requests[0].messages)
    assert said in prompt and "h000" in prompt and "depthwise separable" in prompt  # the state, ids first
    sent = read_inbox(tmp_path)
    assert [m.kind for m in sent] == ["constrain", "focus"]
    assert sent[0].max_params == 20000 and sent[0].max_train_seconds == 30 and sent[0].banned_ops == ("lstm",)
    assert sent[1].target == "h000" and all(m.said == said for m in sent)
    assert any(line.startswith("llm: Constraining") for line in lines)
    assert any("h999" in line and line.startswith("error:") for line in lines)
    assert any("at most 30 s of training" in line for line in lines)


def test_an_unusable_reply_is_repaired_once_then_nothing_is_sent(tmp_path: Path) -> None:
    incomplete = {"actions": [{"kind": "constrain"}], "reply": ""}  # constrains nothing
    fixed = {"actions": [{"kind": "hypothesis", "text": "wider first convolution"}], "reply": "ok"}
    lines: list[str] = []
    with ScriptedOpenAI([Reply.json(incomplete), Reply.json(fixed), Reply.text("sure!"), Reply.text("still no")]
                        ) as server:
        repl = Repl(tmp_path, lines.append, interpreter=interpreter(server))
        repl.run(["try a wider stem"])
        assert [m.text for m in read_inbox(tmp_path)] == ["wider first convolution"]
        repl.run(["and then?"])  # two unusable replies: refused, nothing sent
        assert len(server.chat_requests) == 4
    assert len(read_inbox(tmp_path)) == 1
    assert any("could not interpret" in line and "nothing was sent" in line for line in lines)


def test_one_bad_action_is_reported_and_the_others_of_the_message_are_sent(tmp_path: Path) -> None:
    run_with_hypothesis(tmp_path)
    reply = {"reply": "Noted.", "actions": [
        {"kind": "constrain", "max_params": -5},  # a bad field
        {"kind": "hypothesis", "text": "a wider first convolution"},
        {"kind": "explode"},  # no such action
        {"kind": "focus", "target": "h000"}]}
    lines: list[str] = []
    with ScriptedOpenAI([Reply.json(reply)]) as server:
        Repl(tmp_path, lines.append, interpreter=interpreter(server)).run(["widen it, keep it tiny, focus h000"])
        assert len(server.chat_requests) == 1  # usable as it is: no repair asked
    assert [(m.kind, m.text, m.target) for m in read_inbox(tmp_path)] == [
        ("hypothesis", "a wider first convolution", None), ("focus", "", "h000")]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 2
    assert "constrain" in errors[0] and "max_params" in errors[0] and "explode" in errors[1]


def test_slash_commands_never_call_the_llm(tmp_path: Path) -> None:
    lines: list[str] = []
    with ScriptedOpenAI([]) as server:
        Repl(tmp_path, lines.append, interpreter=interpreter(server), live=lambda: "pid 1").run(
            ["/constrain max_time=2m", "/stop"])
        assert server.chat_requests == []
    assert [(m.kind, m.max_train_seconds) for m in read_inbox(tmp_path)] == [("constrain", 120.0), ("stop", None)]


def test_questions_are_answered_citing_record_ids(tmp_path: Path) -> None:
    found = PromptMemory(task="digits", query="what helped with dilations?", insights=[], experiments=[
        RetrievedExperiment(id="run1/i00003-c1", task="digits", status="ok", hypothesis="dilated convolutions",
                            score=0.91, val_accuracy=0.91, lesson="dilation 2 helped by 3 points", distance=0.1,
                            by="text")])
    lines: list[str] = []
    answers = [Reply.text("Dilation 2 helped by three points [run1/i00003-c1]."), Reply.text("No idea.")]
    with ScriptedOpenAI(answers) as server:
        repl = Repl(tmp_path, lines.append, memory=lambda q: found, interpreter=interpreter(server))
        repl.run(["/ask what helped with dilations?"])
        assert "dilation 2 helped" in " ".join(str(m["content"]) for m in server.chat_requests[0].messages)
        assert lines[:2] == ["Dilation 2 helped by three points [run1/i00003-c1].", "sources:"]
        lines.clear()
        repl.run(["/ask what helped with dilations?"])  # an answer that cites nothing is not trusted
    assert "cited none" in lines[0] and lines[1].startswith("[run1/i00003-c1]")


def test_chat_command_interprets_free_text_and_keeps_no_key(tmp_path: Path) -> None:
    run_with_hypothesis(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
    env["OPENAI_API_KEY"] = SECRET
    reply = {"reply": "Pruning that direction.", "actions": [{"kind": "prune", "target": "h000"}]}
    with ScriptedOpenAI([Reply.json(reply)]) as server:
        done = subprocess.run([AGENTNAS, "chat", "--run-dir", str(tmp_path), "--llm-base-url", server.base_url,
                               "--llm-model", "scripted-model"], input="stop exploring separable convs\n",
                              capture_output=True, text=True, env=env, timeout=120, check=False)
        assert server.chat_requests[-1].headers["authorization"] == f"Bearer {SECRET}"
    assert done.returncode == 0, done.stderr
    assert "llm: Pruning that direction." in done.stdout and "sent prune" in done.stdout
    assert [(m.kind, m.target) for m in read_inbox(tmp_path)] == [("prune", "h000")]
    calls = (tmp_path / "chat-llm.jsonl").read_text().splitlines()
    assert len(calls) == 1 and json.loads(calls[0])["role"] == "researcher"
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_chat_with_an_unreachable_named_endpoint_fails_clearly(tmp_path: Path) -> None:
    run_with_hypothesis(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
    done = subprocess.run([AGENTNAS, "chat", "--run-dir", str(tmp_path), "--llm-base-url", "http://127.0.0.1:9/v1",
                           "--llm-model", "m"], input="hello\n", capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 2 and "LLM endpoint" in done.stderr
    assert read_inbox(tmp_path) == []


def test_time_limit_parses_and_judges_results() -> None:
    assert parse("/constrain max_time=90s; max_params=10k")[1].max_train_seconds == 90.0
    assert parse("/constrain max_train_seconds 1.5m")[1].max_train_seconds == 90.0
    ok = EvalResult(path="m.py", status="ok", metrics=Metrics(val_accuracy=0.9, test_accuracy=0.9), train_seconds=12.0)
    assert within_time(ok, None) == ok and within_time(ok, 20.0) == ok
    slow = within_time(ok, 10.0)
    assert not slow.ok and slow.metrics is None and "12.0 s, over the user's limit of 10 s" in slow.failure.message
    killed = EvalResult(path="m.py", status="failed", failure=Failure(kind=FailureKind.TIMEOUT, message="600 s"))
    assert "limit of 10 s" in within_time(killed, 10.0).failure.message
    crashed = EvalResult(path="m.py", status="failed", failure=Failure(kind=FailureKind.CRASH, message="boom"))
    assert within_time(crashed, 10.0) == crashed


def test_a_run_stops_trainings_over_the_users_time_limit(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    send(run_dir, SteeringMessage(kind="constrain", max_train_seconds=0.02))  # waiting before the run starts
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
    done = subprocess.run([AGENTNAS, "run", "--task", "digits", "--budget-evals", "2", "--epochs", "3", "--k", "2",
                           "--slots", "1", "--run-dir", str(run_dir), "--value-model", "none", "--memory", "none",
                           "--cache-dir", str(tmp_path / "cache"), "--json"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with open_journal(run_dir, read_only=True) as j:
        experiments = [e.payload for e in j.entries("experiment")]
    assert len(experiments) == 2
    assert all(p["status"] == "failed" and "limit of 0.02 s" in p["failure_message"] for p in experiments)


def test_the_users_operation_words_match_onnx_ops_and_lenient_replies_parse() -> None:
    from agentnas.run.roles import violated
    from agentnas.steering.interpret import SteeringReply

    ops = {"Conv": 3, "Relu": 3, "LSTM": 1, "Gemm": 1}
    assert violated(ops, ["LSTMs"], []) is not None and violated(ops, ["max-pool"], []) is None
    assert violated(ops, [], ["convolution", "linear"]) is None
    assert "does not use Attention" in (violated(ops, [], ["Attention"]) or "")
    # Another server's model adds keys and writes one op as a bare string: still usable.
    reply = SteeringReply.model_validate({"actions": [{"kind": "constrain", "banned_ops": "lstm, gru", "why": "x"}],
                                          "reply": "ok", "confidence": 0.9})
    assert reply.actions[0].banned_ops == ["lstm", "gru"]


def test_a_models_deployment_limits_become_a_constraint_message() -> None:
    from agentnas.steering.interpret import SteeringReply, to_actions

    reply = SteeringReply.model_validate({"actions": [{"kind": "constrain", "max_latency_ms": 3, "max_size_mb": 2},
                                                      {"kind": "constrain", "max_latency_ms": -1}],
                                          "reply": "ok"})
    out = to_actions(reply, None, "under 3 ms and 2 MB")
    assert len(out.actions) == 1 and len(out.errors) == 1  # the negative limit is set aside, the other stands
    msg = out.actions[0][1]
    assert (msg.kind, msg.max_latency_ms, msg.max_size_mb) == ("constrain", 3.0, 2.0)
