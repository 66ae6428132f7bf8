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

    def __init__(self, drafts: list[str], crash_train_once: bool = False, grammar: bool = False) -> None:
        self.drafts = drafts
        self.grammar = grammar  # refill an open slot with a grammar draft (else leave it empty)
        self.refills: list[tuple[str, str]] = []
        self.crash_train_once = crash_train_once
        self.trained: list[str] = []
        self.recorded: list[list[Candidate]] = []
        self.repairs = 0

    def propose(self, ctx: Context) -> list[Draft]:
        return [Draft(code=c, operator="sample") for c in self.drafts]

    def refill(self, ctx: Context, c: Candidate, reason: str, taken: set[str]) -> Draft | None:
        self.refills.append((c.code, reason))
        return Draft(code=f"grammar-{c.slot}", operator="mutate", fallback=reason) if self.grammar else None

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


def test_a_repeated_draft_is_screened_before_the_sandbox_and_its_slot_refilled() -> None:
    f = Fakes(["same", "same", "other", "# a comment only\nsame"], grammar=True)
    checked: list[str] = []
    check = f.check

    def spy(ctx: Context, cands: list[Candidate]) -> list[Candidate]:
        checked.extend(c.code for c in cands)
        return check(ctx, cands)

    f.check = spy  # type: ignore[method-assign]
    out = build_expansion_graph(services(f, known=lambda: {})).invoke({"context": context()})
    cands = {c["id"]: c for c in out["candidates"]}
    assert cands["i00003-c1"]["status"] == "duplicate" and cands["i00003-c1"]["nearest_id"] == "i00003-c0"
    assert cands["i00003-c3"]["status"] == "duplicate"  # a comment does not make new code
    assert checked.count("same") == 1  # a duplicate never reaches the sandbox
    refilled = [c for c in cands.values() if c["refill"] == 2]
    assert sorted(c["slot"] for c in refilled) == [1, 3] and all(c["fallback"] for c in refilled)
    assert all("repeated i00003-c0" in reason for _, reason in f.refills)


def test_a_draft_the_run_already_has_is_a_duplicate_of_that_node() -> None:
    from agentnas.fingerprint import code_hash

    f = Fakes(["seen-before", "fresh"])
    out = build_expansion_graph(services(f, known=lambda: {code_hash("seen-before"): "i00001-c0"})).invoke(
        {"context": context()})
    first = out["candidates"][0]
    assert first["status"] == "duplicate" and first["nearest_id"] == "i00001-c0"


def test_a_slot_broken_after_repairs_is_refilled_once_and_never_loops() -> None:
    f = Fakes(["hopeless", "a"], grammar=True)
    f.drafts = ["hopeless", "a"]
    out = build_expansion_graph(services(f)).invoke({"context": {**context(), "k": 2}})
    slot0 = [c for c in out["candidates"] if c["slot"] == 0]
    assert [c["code"] for c in slot0] == ["hopeless", "grammar-0"]
    assert slot0[0]["attempts"] == 2 and slot0[0]["closed"] and slot0[1]["status"] == "trained"
    assert len(f.refills) == 1 and "failed the sandbox check (build)" in f.refills[0][1]


class ShapeFakes(Fakes):
    """A file with a hard-coded input size fails with a shape error; once lazy it passes."""

    def check(self, ctx: Context, cands: list[Candidate]) -> list[Candidate]:
        def broken(code: str) -> bool:
            return "nn.Linear(" in code or "nn.Conv1d(" in code or code == "bad"
        return [c.model_copy(update={"status": "failed", "failure_kind": "shape", "failure_message": "mat1 and mat2"})
                if broken(c.code) else c.model_copy(update={"status": "checked"}) for c in cands]


def test_a_hard_coded_input_size_is_mended_without_a_call_or_an_attempt() -> None:
    wrong = "from torch import nn\nmodel = nn.Sequential(nn.Flatten(), nn.Linear(125, 10))  # (10,)\n"
    f = ShapeFakes([wrong, "bad"])
    out = build_expansion_graph(services(f)).invoke({"context": {**context(), "k": 2}})
    mended, repaired = out["candidates"]
    assert mended["code"] == "from torch import nn\nmodel = nn.Sequential(nn.Flatten(), nn.LazyLinear(10))  # (10,)\n"
    assert mended["status"] == "trained" and mended["attempts"] == 0
    assert "input sizes inferred (LazyLinear)" in mended["autofix"] and mended["history"][0]["kind"] == "shape"
    assert f.repairs == 1 and repaired["code"] == "fixed-bad"  # the engineer only saw what needs judgement


def test_without_an_engineer_a_shape_failure_is_still_mended() -> None:
    f = ShapeFakes(["import torch\nm = torch.nn.Conv1d(3, 8, 3)\n"])
    svc = Services(researcher=f, checker=f, scorer=f, gate=f, trainer=f, analyst=f, recorder=f)
    out = build_expansion_graph(svc).invoke({"context": {**context(), "k": 1}})
    assert out["candidates"][0]["code"] == "import torch\nm = torch.nn.LazyConv1d(8, 3)\n"
    assert out["candidates"][0]["status"] == "trained"
