"""SIGTERM and SIGHUP stop every command that starts sandboxes the way Ctrl-C does.

A scheduler, `timeout`, systemd or Ray stop a command with TERM; closing its terminal sends
HUP. Each test starts the real CLI in a session of its own, waits until its sandbox is up,
sends the signal, and then finds no process the command started still alive: this test
process adopts orphans while it runs (tests/proctree.py), so a sandbox left behind, which
would otherwise end up under PID 1, shows up here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from proctree import adopting_orphans, alive, argv, descendants, with_default_signals

from agentnas.journal import open_journal

AGENTNAS = str(Path(sys.executable).parent / "agentnas")

# The loop_forward.py: it builds, then its forward never returns (CPU limit: minutes).
LOOP_FORWARD = '''
import torch
from torch import nn


class LoopForward(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.head = nn.LazyLinear(num_classes)

    def forward(self, x):
        while True:
            pass


def build_model(input_shape, num_classes):
    return LoopForward(num_classes)
'''

SANDBOX_START_S = 180.0  # a zygote imports torch: seconds, more on a loaded machine
CLEAN_UP_S = 60.0


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # Own cache: the data, and the memory a `chat --start` run writes, stay out of the user's.
    cache = tmp_path_factory.mktemp("cache")
    return {**os.environ, "AGENTNAS_CACHE_DIR": str(cache), "AGENTNAS_SLOTS": "1", "AGENTNAS_DEVICE": "cpu"}


@pytest.fixture
def left() -> Iterator[Callable[[], set[int]]]:
    """`left()`: the processes below this test that were not there when it began."""
    with adopting_orphans() as new_processes:
        yield new_processes


class Command:
    """The real CLI in a session of its own, its output in files (nothing blocks on a pipe)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.out, self.err = cwd / "stdout.txt", cwd / "stderr.txt"
        env = {**env, "TMPDIR": str(cwd)}  # what a SIGKILLed command cannot remove stays in the test's folder
        with open(self.out, "w") as out, open(self.err, "w") as err:
            # stdin a pipe kept open: a chat would take its end (EOF) for /quit.
            self.proc = subprocess.Popen(with_default_signals([AGENTNAS, *args]), cwd=cwd, env=env,
                                         stdin=subprocess.PIPE, stdout=out, stderr=err, start_new_session=True)

    def zygotes(self) -> list[int]:
        """The sandbox's Python processes below the command: each zygote and the candidates
        it forked (not the isolation's own process, whose arguments name the zygote too)."""
        return [pid for pid in descendants(self.proc.pid) if _is_zygote(argv(pid))]

    def wait_for(self, ready: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + SANDBOX_START_S
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"never saw {what}; exit {self.proc.returncode}, stderr: {self.stderr()[-2000:]}")
            time.sleep(0.2)

    def stop(self, sig: int) -> int:
        os.kill(self.proc.pid, sig)
        return self.stop_waiting(sig)

    def stop_group_twice(self, sig: int) -> int:
        """`sig` to the command, then to its process group while it cleans up, as `timeout` with make
        delivers it."""
        os.kill(self.proc.pid, sig)
        time.sleep(0.1)
        os.killpg(self.proc.pid, sig)
        return self.stop_waiting(sig)

    def stop_waiting(self, sig: int) -> int:
        try:
            code = self.proc.wait(timeout=CLEAN_UP_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{signal.Signals(sig).name} did not stop the command; stderr: {self.stderr()[-2000:]}")
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return code

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")


def _is_zygote(args: list[str]) -> bool:
    return len(args) >= 2 and Path(args[0]).name.startswith("python") and args[-1].endswith("/zygote.py")


def assert_nothing_left(left: Callable[[], set[int]]) -> None:
    deadline = time.monotonic() + 10  # SIGKILL is delivered at once, the exit takes a moment
    while left() and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = {pid: " ".join(argv(pid))[:200] for pid in left()}
    assert not survivors, f"processes outlived the stopped command: {survivors}"


def assert_resumable(run_dir: Path, log: str) -> None:
    words = " ".join(log.split())  # the command may be wrapped at the terminal's width
    assert "Resume with:" in words and f"--run-dir {run_dir}" in words, log[-2000:]
    with open_journal(run_dir, read_only=True) as journal:
        assert journal.get("run", "config") is not None


# HUP takes the same handler as TERM (agentnas/signals.py STOP_SIGNALS): its run is slow.
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143),
                                           pytest.param(signal.SIGHUP, 129, marks=pytest.mark.slow)])
def test_term_or_hup_to_evaluate_stops_a_looping_candidate_and_leaves_no_process(
        tmp_path: Path, env: dict[str, str], left: Callable[[], set[int]], sig: int, code: int) -> None:
    model = tmp_path / "loop_forward.py"
    model.write_text(LOOP_FORWARD)
    cmd = Command(["evaluate", str(model), "--task", "digits"], tmp_path, env)
    cmd.wait_for(lambda: len(cmd.zygotes()) >= 2, "the candidate running (a zygote and its child)")

    assert cmd.stop(sig) == code
    assert f"terminated ({signal.Signals(sig).name}); evaluations in progress were stopped" in cmd.stderr()
    assert "Traceback" not in cmd.stderr()
    assert_nothing_left(left)


@pytest.mark.parametrize("command", ["encode", "predict"])
def test_sigterm_to_a_command_exporting_a_candidate_in_the_sandbox_leaves_no_process(
        tmp_path: Path, env: dict[str, str], left: Callable[[], set[int]], command: str) -> None:
    model = tmp_path / "loop_forward.py"  # the export traces forward, which never returns
    model.write_text(LOOP_FORWARD)
    cmd = Command([command, str(model), "--task", "digits"], tmp_path, env)
    cmd.wait_for(lambda: len(cmd.zygotes()) >= 2, "the export running (a zygote and its child)")

    assert cmd.stop(signal.SIGTERM) == 143
    assert "Traceback" not in cmd.stderr()
    assert_nothing_left(left)


def test_sigterm_to_run_stops_it_resumably_and_leaves_no_process(
        tmp_path: Path, env: dict[str, str], left: Callable[[], set[int]]) -> None:
    run_dir = tmp_path / "run"
    cmd = Command(["run", "--task", "digits", "--run-dir", str(run_dir), "--budget-evals", "50", "--epochs", "1",
                   "--memory", "none"], tmp_path, env)
    cmd.wait_for(cmd.zygotes, "a sandbox of the run")

    assert cmd.stop(signal.SIGTERM) == 143
    assert "Traceback" not in cmd.stderr()
    assert_resumable(run_dir, cmd.stderr())
    assert_nothing_left(left)


def test_sigterm_to_a_training_run_and_again_to_its_group_stops_it_cleanly_without_a_traceback(
        tmp_path: Path, env: dict[str, str], left: Callable[[], set[int]]) -> None:
    run_dir = tmp_path / "run"
    cmd = Command(["run", "--task", "mnist1d", "--run-dir", str(run_dir), "--budget-evals", "50",
                   "--memory", "none"], tmp_path, env)
    cmd.wait_for(lambda: ": training " in cmd.stderr(), "the run training its first candidates")
    time.sleep(1.0)

    # 143 from its own exit; -15 when the repeat lands after Python restored the default handlers at exit
    assert cmd.stop_group_twice(signal.SIGTERM) in (143, -signal.SIGTERM)
    assert "Traceback" not in cmd.stderr() and "Error" not in cmd.stderr(), cmd.stderr()[-3000:]
    assert_resumable(run_dir, cmd.stderr())
    assert_nothing_left(left)


def test_sigterm_to_chat_stops_the_run_it_started_and_leaves_no_process(
        tmp_path: Path, env: dict[str, str], left: Callable[[], set[int]]) -> None:
    run_dir = tmp_path / "run"
    cmd = Command(["chat", "--run-dir", str(run_dir), "--start", "--task", "digits", "--budget-evals", "50",
                   "--offline"], tmp_path, {**env, "AGENTNAS_EPOCHS": "1"})
    cmd.wait_for(cmd.zygotes, "a sandbox of the run the chat started")

    assert cmd.stop(signal.SIGTERM) == 143
    log = (run_dir / "run.log").read_text(errors="replace")
    assert "Traceback" not in log and "Traceback" not in cmd.stderr()
    assert_resumable(run_dir, log)
    assert_nothing_left(left)


@pytest.mark.parametrize("isolation", [[], ["--isolation", "none", "--unsafe-no-isolation"]],
                         ids=["isolated", "unconfined"])
def test_a_sandbox_dies_with_its_command_even_when_sigkill_allows_no_clean_up(
        tmp_path: Path, env: dict[str, str], left: Callable[[], set[int]], isolation: list[str]) -> None:
    model = tmp_path / "loop_forward.py"
    model.write_text(LOOP_FORWARD)
    cmd = Command(["evaluate", str(model), "--task", "digits", *isolation], tmp_path, env)
    cmd.wait_for(lambda: len(cmd.zygotes()) >= 2, "the candidate running (a zygote and its child)")

    assert cmd.stop(signal.SIGKILL) == -signal.SIGKILL
    assert_nothing_left(left)


def test_quit_leaves_the_run_a_chat_started_going_until_it_is_stopped_itself(
        tmp_path: Path, env: dict[str, str], left: Callable[[], set[int]]) -> None:
    run_dir = tmp_path / "run"
    cmd = Command(["chat", "--run-dir", str(run_dir), "--start", "--task", "digits", "--budget-evals", "50",
                   "--offline"], tmp_path, {**env, "AGENTNAS_EPOCHS": "1"})
    cmd.wait_for(lambda: _runs(left(), run_dir), "the run the chat started")
    assert cmd.proc.stdin is not None
    cmd.proc.stdin.write(b"/quit\n")
    cmd.proc.stdin.close()
    assert cmd.proc.wait(timeout=CLEAN_UP_S) == 0

    (run,) = _runs(left(), run_dir)  # orphaned by the chat, adopted here: still running
    deadline = time.monotonic() + SANDBOX_START_S
    while not [pid for pid in descendants(run) if _is_zygote(argv(pid))]:
        assert time.monotonic() < deadline, "the run never started a sandbox after the chat left"
        time.sleep(0.2)
    os.kill(run, signal.SIGTERM)
    deadline = time.monotonic() + CLEAN_UP_S
    while alive(run) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert_resumable(run_dir, (run_dir / "run.log").read_text(errors="replace"))
    assert_nothing_left(left)


def _runs(pids: set[int], run_dir: Path) -> list[int]:
    """The `agentnas run` processes on `run_dir` among `pids`."""
    return [pid for pid in pids if {"run", str(run_dir)} <= set(args := argv(pid)) and "chat" not in args]
