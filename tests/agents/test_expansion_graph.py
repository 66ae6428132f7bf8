"""The expansion graph routes candidates through check, repair, gating, training and record,
and resumes from its checkpoint after a crash without training anything twice."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from agentnas.agents import Candidate, Context, Draft, Services, build_expansion_graph


class Fakes:
    """Scripted roles: code 'bad' fails the check, 'fixed' passes; mean = len(code)."""

    def __init__(self, drafts: list[str], crash_train_once: bool = False) -> None:
        self.drafts = drafts
        self.crash_train_once = crash_train_once
        self.trained: list[str] = []
        self.recorded: list[list[Candidate]] = []
        self.repairs = 0

    def propose(self, ctx: Context) -> list[Draft]:
        return [Draft(code=c, operator="sample") for c in self.drafts]

    def repair(self, ctx: Context, c: Candidate) -> Draft | None:
        self.repairs += 1
        return Draft(code="fixed-" + c.code) if c.code == "bad" else None

    def check(self, ctx: Context, cands: list[Candidate]) -> list[Candidate]:
        return [c.model_copy(update={"status": "failed", "failure_kind": "build", "failure_message": "no"})
                if c.code in ("bad", "hopeless") else c.model_copy(update={"status": "checked", "params": 10})
                for c in cands]

    def score(self, ctx: Context, cands: list[Candidate]) -> list[Candidate]:
        return [c.model_copy(update={"status": "scored", "mean": float(len(c.code)), "std": 1.0}) for c in cands]

    def grant(self, ctx: Context, cands: list[Candidate]) -> list[str]:
        return [c.id for c in sorted(cands, key=lambda c: -(c.mean or 0))[:2]]

    def train(self, ctx: Context, cands: list[Candidate]) -> list[Candidate]:
        if self.crash_train_once:
            self.crash_train_once = False
            raise RuntimeError("killed mid-training")
        self.trained += [c.id for c in cands]
        return [c.model_copy(update={"status": "trained", "val_accuracy": 0.5}) for c in cands]

    def analyse(self, ctx: Context, cands: list[Candidate]) -> list[Candidate]:
        return [c.model_copy(update={"lesson": f"{c.code} scored {c.val_accuracy}"}) for c in cands]

    def record(self, ctx: Context, cands: list[Candidate]) -> None:
        self.recorded.append(cands)


def services(f: Fakes, **kw: Any) -> Services:
    return Services(researcher=f, checker=f, scorer=f, gate=f, trainer=f, analyst=f, recorder=f, engineer=f, **kw)


def context() -> dict[str, Any]:
    return Context(iteration=3, seed=0, task="t", hypothesis_id="h1", hypothesis="wider", k=4).model_dump()


def test_failed_checks_are_repaired_and_only_granted_children_are_trained() -> None:
    f = Fakes(["a", "bad", "hopeless", "longest-code"])
    out = build_expansion_graph(services(f)).invoke({"context": context()})
    by_code = {c["code"]: c for c in out["candidates"]}
    assert set(by_code) == {"a", "fixed-bad", "hopeless", "longest-code"}
    assert by_code["fixed-bad"]["attempts"] == 1 and by_code["fixed-bad"]["status"] == "trained"
    assert by_code["hopeless"]["status"] == "failed" and by_code["hopeless"]["attempts"] == 2
    assert by_code["a"]["status"] == "scored" and not by_code["a"]["granted"]  # predicted-only
    assert sorted(f.trained) == sorted([by_code["fixed-bad"]["id"], by_code["longest-code"]["id"]])
    assert by_code["longest-code"]["lesson"] == "longest-code scored 0.5"
    assert len(f.recorded) == 1 and [c.id for c in f.recorded[0]] == ["i00003-c0", "i00003-c1", "i00003-c2",
                                                                    "i00003-c3"]


def test_without_an_engineer_failures_go_straight_to_scoring() -> None:
    f = Fakes(["bad", "ok"])
    svc = Services(researcher=f, checker=f, scorer=f, gate=f, trainer=f, analyst=f, recorder=f)
    out = build_expansion_graph(svc).invoke({"context": context()})
    assert f.repairs == 0 and [c["status"] for c in out["candidates"]] == ["failed", "trained"]


def test_a_crashed_expansion_resumes_at_training_without_proposing_again(tmp_path: Path) -> None:
    f = Fakes(["a", "bb"], crash_train_once=True)
    conn = sqlite3.connect(tmp_path / "ckpt.sqlite", check_same_thread=False)
    graph = build_expansion_graph(services(f), SqliteSaver(conn))
    config = {"configurable": {"thread_id": "iter-3"}}
    with pytest.raises(RuntimeError, match="killed"):
        graph.invoke({"context": context()}, config)
    assert graph.get_state(config).next == ("train",)
    f.drafts = ["different"]  # a second proposal would show up here
    out = graph.invoke(None, config)
    assert [c["code"] for c in out["candidates"]] == ["a", "bb"]
    assert sorted(f.trained) == ["i00003-c0", "i00003-c1"] and len(f.recorded) == 1
    conn.close()


def test_approval_mode_pauses_before_training_and_follows_the_answer(tmp_path: Path) -> None:
    f = Fakes(["a", "bb"])
    conn = sqlite3.connect(tmp_path / "ckpt.sqlite", check_same_thread=False)
    graph = build_expansion_graph(services(f, approval=True), SqliteSaver(conn))
    config = {"configurable": {"thread_id": "iter-3"}}
    paused = graph.invoke({"context": context()}, config)
    question = paused["__interrupt__"][0].value
    assert {c["id"] for c in question["candidates"]} == {"i00003-c0", "i00003-c1"} and f.trained == []
    out = graph.invoke(Command(resume={"i00003-c1": "yes", "i00003-c0": "no"}), config)
    assert f.trained == ["i00003-c1"]
    assert [c["status"] for c in out["candidates"]] == ["scored", "trained"]
    conn.close()
