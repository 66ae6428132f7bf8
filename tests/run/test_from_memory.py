"""`agentnas run --from-memory`: a new run learns the memory's results of its task before its
own, explores the best stored hypotheses first, and keeps that warm start frozen in its
journal (a resume and a replay see the same one)."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from agentnas.cli.view import execute_run
from agentnas.config import load_config
from agentnas.journal import open_journal
from agentnas.replay import replay
from agentnas.run.settings import RunOptions


def run(run_dir: Path, tmp: Path, budget: int, *, from_memory: bool, seed: int = 0, memory: str | None = None) -> int:
    cfg = load_config(None, cache_dir=tmp / "cache", slots=1, epochs=2)
    options = RunOptions(task="digits", run_dir=run_dir, budget_evals=budget, seed=seed, k=3, train_per_expansion=2,
                         epochs=2, value_model="none", memory=memory or str(tmp / "memory"), from_memory=from_memory)
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    return execute_run(options, cfg, True, quiet, quiet)


def first_iteration_means(run_dir: Path) -> list[float]:
    with open_journal(run_dir, read_only=True) as j:
        return [e.payload["mean"] for e in j.entries("node")
                if e.payload["iteration"] == 0 and e.payload.get("mean") is not None]


def test_a_run_warm_starts_from_stored_experiments_and_keeps_the_snapshot(tmp_path: Path) -> None:
    assert run(tmp_path / "a", tmp_path, 4, from_memory=False) == 0  # fills the memory
    assert run(tmp_path / "b", tmp_path, 2, from_memory=True, seed=1) == 0
    with open_journal(tmp_path / "b", read_only=True) as j:
        warm = j.get("run", "warmstart")
        assert warm is not None
        snap = warm.payload
        memory_hyps = [e for e in j.entries("hypothesis") if e.payload["source"] == "memory"]
        first = [e.payload for e in j.entries("iteration")][0]
    assert snap["considered"] == 4 and len(snap["experiments"]) + snap["skipped"] == 4
    assert len(snap["experiments"]) >= 3 and all(len(x["features"]) > 10 for x in snap["experiments"])
    assert memory_hyps and first["hypothesis_id"] == memory_hyps[0].key  # a stored hypothesis goes first
    # Before any result of its own, the value model already tells candidates apart (in accuracy
    # terms); without a prior or a warm start it cannot (every prediction is the same).
    cold, warm_means = first_iteration_means(tmp_path / "a"), first_iteration_means(tmp_path / "b")
    assert len(set(cold)) == 1
    assert len(set(warm_means)) == len(warm_means) > 1 and all(0.2 < m <= 1.0 for m in warm_means)

    # Resume after the memory has grown: the same frozen warm start, not a new snapshot. (The
    # warm start is part of the run's identity: a resume keeps it, and asking for none is refused.)
    assert run(tmp_path / "c", tmp_path, 2, from_memory=False, seed=2) == 0
    assert run(tmp_path / "b", tmp_path, 4, from_memory=False, seed=1) == 2
    assert run(tmp_path / "b", tmp_path, 4, from_memory=True, seed=1) == 0
    with open_journal(tmp_path / "b", read_only=True) as j:
        assert j.get("run", "warmstart").payload == snap
        assert j.count("experiment") == 4
    report = replay(tmp_path / "b", tmp_path / "replayed")
    assert report.same_tree and report.same_leaderboard, report.first_difference


def test_from_memory_without_a_memory_is_a_clear_error(tmp_path: Path) -> None:
    assert run(tmp_path / "a", tmp_path, 1, from_memory=True, memory="none") == 2
    assert not (tmp_path / "a" / "journal.sqlite").exists() or open_journal(tmp_path / "a", read_only=True).count(
        "experiment") == 0
