"""`agentnas run` as a user runs it (a subprocess): a resume keeps the recorded settings, a
change is explicit and journaled, the printed resume command works, a run without a
terminal says what it does, a failed start or fork leaves nothing behind, and a damaged
journal is named and left as it was."""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentnas.journal import open_journal

# The tiniest real run: digits, one epoch, two children per expansion, one trained.
TINY = ["--task", "digits", "--epochs", "1", "--memory", "none", "--k", "2", "--train-per-expansion", "1",
        "--value-model", "none", "--max-params", "20000"]
NO_LLM = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "AGENTNAS_LLM_MODEL", "AGENTNAS_CONFIG")


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in NO_LLM}


def agentnas(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env())


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def show(run_dir: Path, cwd: Path) -> dict:  # type: ignore[type-arg]
    proc = agentnas("runs", "show", str(run_dir), "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def entries(run_dir: Path) -> list[tuple[str, str]]:
    with open_journal(run_dir, read_only=True) as j:
        return [(e.kind, e.key) for e in j.entries()]


@dataclass
class Recorded:
    work: Path
    run_dir: Path
    failed_starts: list[subprocess.CompletedProcess[str]]
    left_after_failures: list[str] | None
    first: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """A one-evaluation run, started in a directory where two starts with other settings failed."""
    work = tmp_path_factory.mktemp("runcli")
    (work / "agentnas.toml").write_text(f'cache_dir = "{work / "cache"}"\nslots = 1\n')
    run_dir = work / "run"
    failed = [agentnas("run", "--task", "mnist1d", "--seed", "7", "--run-dir", str(run_dir), "--budget-evals", "1",
                       "--memory", "http://[::1", cwd=work),
              agentnas("run", "--task", "mnist1d", "--seed", "7", "--run-dir", str(run_dir), "--budget-evals", "1",
                       "--memory", "none", "--proposer", "llm", cwd=work)]
    left = sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else None
    first = agentnas("run", *TINY, "--seed", "1", "--run-dir", str(run_dir), "--budget-evals", "1", cwd=work)
    assert first.returncode == 0, first.stderr
    return Recorded(work, run_dir, failed, left, first)


def copy_of(recorded: Recorded, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(recorded.run_dir, target)
    return target


def test_a_failed_start_leaves_nothing_that_pins_the_next_start(recorded: Recorded) -> None:
    for proc in recorded.failed_starts:
        assert proc.returncode == 2 and len(errors(proc.stderr)) == 1, proc.stderr
        assert "Traceback" not in proc.stderr
    assert recorded.left_after_failures is None  # the directory they created is gone
    # and the start with another task, seed and proposer in the same directory succeeded
    config = show(recorded.run_dir, recorded.work)["config"]
    assert (config["task"], config["seed"], config["proposer"]) == ("digits", 1, "offline")


def test_without_a_terminal_the_run_prints_a_line_per_event(recorded: Recorded) -> None:
    lines = errors(recorded.first.stderr)
    assert any("starting" in line and "budget 1 evaluations" in line for line in lines)
    assert "iteration 0: started" in lines
    assert any(line.startswith("iteration 0: training i00000-c") for line in lines)
    assert any(line.strip().startswith("i00000-c") and ": val 0." in line for line in lines)
    assert any(line.startswith("iteration 0 done") and "evaluations 1/1" in line for line in lines)
    assert lines[-1].startswith("stopped: the evaluation budget is spent (1/1)")


def test_resume_keeps_every_recorded_setting_and_changes_one_only_on_purpose(recorded: Recorded,
                                                                               tmp_path: Path) -> None:
    run_dir = copy_of(recorded, tmp_path)
    work = recorded.work
    original = show(run_dir, work)["config"]

    resumed = agentnas("run", "--run-dir", str(run_dir), "--budget-evals", "2", cwd=work)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at iteration" in resumed.stderr and "with 1 evaluations" in resumed.stderr
    doc = show(run_dir, work)
    same = {k: v for k, v in original.items() if k not in ("budget_evals", "run_dir")}
    assert {k: v for k, v in doc["config"].items() if k not in ("budget_evals", "run_dir")} == same
    assert doc["config"]["budget_evals"] == 2 and same["epochs"] == 1 and same["memory"] == "none"
    assert [c["changed"] for c in doc["settings_changes"]] == [{"budget_evals": [1, 2]}]
    with open_journal(run_dir, read_only=True) as j:
        experiments = [e.payload for e in j.entries("experiment")]
    assert len(experiments) == 2 and {x["epochs"] for x in experiments} == {1}
    assert all(x["params"] <= 20000 for x in experiments)
    assert not (work / "cache" / "memory").exists()  # --memory none held without being repeated

    before = entries(run_dir)
    refused = agentnas("run", "--run-dir", str(run_dir), "--budget-evals", "3", "--epochs", "2", cwd=work)
    assert refused.returncode == 2 and len(errors(refused.stderr)) == 1, refused.stderr
    assert "--epochs 1" in refused.stderr and "--change-settings" in refused.stderr
    assert entries(run_dir) == before

    changed = agentnas("run", "--run-dir", str(run_dir), "--budget-evals", "3", "--epochs", "2",
                       "--change-settings", cwd=work)
    assert changed.returncode == 0, changed.stderr
    doc = show(run_dir, work)
    assert doc["config"]["epochs"] == 2 and doc["config"]["budget_evals"] == 3
    last = doc["settings_changes"][-1]
    assert last["changed"] == {"budget_evals": [2, 3], "epochs": [1, 2]} and last["iteration"] >= 2
    with open_journal(run_dir, read_only=True) as j:
        epochs = [e.payload["epochs"] for e in j.entries("experiment")]
    assert epochs == [1, 1, 2]
    text = agentnas("runs", "show", str(run_dir), cwd=work)
    assert "settings in force: budget 3 evaluations" in text.stdout and "--epochs 2" in text.stdout
    assert f"changed from iteration {last['iteration']}: --budget-evals 2 -> 3, --epochs 1 -> 2" in text.stdout


def test_a_time_budget_run_trains_nothing_once_spent_and_resumes_with_its_printed_command(
        recorded: Recorded, tmp_path: Path) -> None:
    # 1 s is spent before the first expansion has checked its children in the sandbox (if the
    # loop got to start one at all): no training starts. (The cut inside an expansion, with a
    # researcher slower than the budget, is tests/replay/test_replay_settings.py.)
    run_dir = tmp_path / "timed"
    first = agentnas("run", *TINY, "--run-dir", str(run_dir), "--budget-evals", "4", "--budget-time", "1s",
                     cwd=recorded.work)
    assert first.returncode == 0, first.stderr
    with open_journal(run_dir, read_only=True) as j:
        assert j.count("experiment") == 0
        assert {e.payload["status"] for e in j.entries("node")} <= {"scored", "failed", "duplicate"}
    lines = first.stderr.splitlines()
    assert any(line.startswith("stopped: the time budget of this session is spent") for line in lines)
    command = lines[lines.index(next(x for x in lines if x.endswith("Resume with:"))) + 1].strip()
    args = shlex.split(command)  # one line: nothing wrapped
    assert args[:2] == ["agentnas", "run"] and "--budget-time" in args and "--memory" in args
    config = show(run_dir, recorded.work)["config"]

    again = agentnas(*args[1:], cwd=recorded.work)
    assert again.returncode == 0, again.stderr
    doc = show(run_dir, recorded.work)
    assert doc["config"] == config and doc["settings_changes"] == []
    assert "resuming at iteration" in again.stderr
    assert not (recorded.work / "cache" / "memory").exists()


def test_a_terminal_sees_the_recorded_evaluations_at_once_after_a_resume(recorded: Recorded,
                                                                          tmp_path: Path) -> None:
    run_dir = copy_of(recorded, tmp_path)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "agentnas", "run", "--run-dir", str(run_dir), "--budget-evals",
                             "2"], cwd=recorded.work, stdin=slave, stdout=slave, stderr=slave, env=env())
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=60)
    os.close(master)
    text = seen.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    assert "evaluations 1/2" in text  # before the first new result: the recorded one, not 0
    assert "no result yet" not in text
    assert any(stage in text for stage in ("proposing under", "checking", "training i0000"))


# One damage in `make test`; the truncated journal (the same refusal, one more way to fail) is slow.
@pytest.mark.parametrize("damage", ["garbage", pytest.param("truncated", marks=pytest.mark.slow)])
def test_a_damaged_journal_is_named_and_left_untouched(recorded: Recorded, tmp_path: Path, damage: str) -> None:
    run_dir = tmp_path / damage
    shutil.copytree(recorded.run_dir, run_dir)
    journal = run_dir / "journal.sqlite"
    data = journal.read_bytes()
    journal.write_bytes(b"not a database at all\n" * 200 if damage == "garbage" else data[: len(data) // 2])
    before = journal.read_bytes()
    for args in (["run", "--run-dir", str(run_dir), "--budget-evals", "2"], ["runs", "show", str(run_dir)],
                 ["report", str(run_dir)]):
        proc = agentnas(*args, cwd=recorded.work)
        assert proc.returncode == 2 and len(errors(proc.stderr)) == 1, (args, proc.stderr)
        assert str(journal) in proc.stderr and "Traceback" not in proc.stderr
        assert journal.read_bytes() == before


def test_a_failed_fork_leaves_nothing_and_can_be_retried(recorded: Recorded, tmp_path: Path) -> None:
    fresh, kept = tmp_path / "fresh", tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    for target in (fresh, fresh, kept):  # the retry fails for the same reason, not because of leftovers
        proc = agentnas("replay", str(recorded.run_dir), "--fork-at", "1", "--run-dir", str(target),
                        "--proposer", "llm", cwd=recorded.work)
        assert proc.returncode == 2, proc.stderr
        assert "no LLM endpoint configured" in proc.stderr and "already holds" not in proc.stderr
    assert not fresh.exists()
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
