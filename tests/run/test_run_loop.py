"""A discovery run on a real task through the real sandbox: budget, journal, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console

from agentnas.cli.view import execute_run
from agentnas.config import load_config
from agentnas.journal import JournalError, open_journal
from agentnas.run.settings import RunOptions
from agentnas.run.summary import summary

REPO = Path(__file__).resolve().parents[2]
AGENTNAS = str(Path(sys.executable).parent / "agentnas")


def options(run_dir: Path, budget: int, seed: int = 0) -> RunOptions:
    # memory "none": the experiment memory has its own tests and one run test (test_llm_run)
    return RunOptions(task="digits", run_dir=run_dir, budget_evals=budget, seed=seed, k=3,
                      train_per_expansion=2, epochs=2, memory="none")


def run_in_process(run_dir: Path, budget: int, tmp: Path) -> int:
    from run_support import scripted_agents

    cfg = load_config(None, cache_dir=tmp / "cache", slots=1, epochs=2)
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    return execute_run(options(run_dir, budget), cfg, True, quiet, quiet, scripted_agents)


def tree_signature(run_dir: Path) -> list[tuple[str, str, str, str | None]]:
    with open_journal(run_dir, read_only=True) as j:
        rows = [(e.kind, e.key, e.payload.get("code_hash", ""), e.payload.get("status"))
                for e in j.entries(("hypothesis", "node", "experiment"))]
    return sorted(rows)


def test_run_spends_exactly_its_evaluation_budget_and_reports_every_experiment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    assert run_in_process(run_dir, 5, tmp_path) == 0
    doc = summary(run_dir)
    assert len(doc["experiments"]) == 5
    assert {e["status"] for e in doc["experiments"]} == {"ok"}
    for e in doc["experiments"]:
        assert set(e) >= {"id", "status", "val_accuracy", "test_accuracy", "code_hash", "hypothesis_id",
                          "parent_id"}
        assert 0.0 <= e["val_accuracy"] <= 1.0
    assert doc["best"]["val_accuracy"] == max(e["val_accuracy"] for e in doc["experiments"])
    assert Path(doc["best"]["path"]).is_file()
    assert {k: doc["llm"][k] for k in ("calls", "prompt_tokens", "completion_tokens", "cost_usd")} == {
        "calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    # predicted-only children are kept as nodes too
    with open_journal(run_dir, read_only=True) as j:
        statuses = [e.payload["status"] for e in j.entries("node")]
    assert "scored" in statuses and statuses.count("trained") == 5
    # running again with the budget spent evaluates nothing more
    assert run_in_process(run_dir, 5, tmp_path) == 0
    assert len(summary(run_dir)["experiments"]) == 5


def test_resume_after_kill_loses_no_experiment_and_ends_with_the_same_tree(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    assert run_in_process(whole, 6, tmp_path) == 0

    killed = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO)!r}, {str(Path(__file__).parent)!r}]
        from pathlib import Path
        from test_run_loop import run_in_process
        run_in_process(Path({str(killed)!r}), 6, Path({str(tmp_path)!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            with open_journal(killed, read_only=True) as j:
                if j.count("experiment") >= 3:
                    break
        except JournalError:  # not created yet
            pass
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with open_journal(killed, read_only=True) as j:
        before = {e.key: e.payload for e in j.entries("experiment")}
    assert 3 <= len(before) < 6

    assert run_in_process(killed, 6, tmp_path) == 0
    with open_journal(killed, read_only=True) as j:
        after = {e.key: e.payload for e in j.entries("experiment")}
    assert len(after) == 6
    assert all(after[k] == v for k, v in before.items())  # nothing lost, nothing re-evaluated
    assert tree_signature(killed) == tree_signature(whole)


def test_a_second_run_on_the_same_directory_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    from agentnas.run.service import run_lock
    from agentnas.run.settings import RunError

    with run_lock(tmp_path), pytest.raises(RunError, match="in use"), run_lock(tmp_path):
        pass


def test_resuming_with_another_task_or_seed_is_a_clear_error(tmp_path: Path) -> None:
    from agentnas.run.service import check_identity
    from agentnas.run.settings import RunError

    with open_journal(tmp_path) as j:
        check_identity(j, options(tmp_path, 3, seed=0))
        check_identity(j, options(tmp_path, 9, seed=0))  # a bigger budget is fine
        with pytest.raises(RunError, match="seed"):
            check_identity(j, options(tmp_path, 3, seed=1))


# Slow: a run of its own for what tests/run/test_run_cli.py reads from every run it starts (`runs show
# --json`) and tests/test_cli_flags.py's `runs show nowhere` refuses.
@pytest.mark.slow
def test_runs_show_json_reads_a_live_or_finished_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert run_in_process(run_dir, 2, tmp_path) == 0
    out = subprocess.run([AGENTNAS, "runs", "show", str(run_dir), "--json"],
                         capture_output=True, text=True, cwd=REPO, check=False)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert len(doc["experiments"]) == 2 and doc["best"]["id"] in {e["id"] for e in doc["experiments"]}
    bad = subprocess.run([AGENTNAS, "runs", "show", str(tmp_path / "nope")],
                         capture_output=True, text=True, cwd=REPO, check=False)
    assert bad.returncode == 2 and "no journal" in bad.stderr
