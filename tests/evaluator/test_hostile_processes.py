"""Hostile candidates that go after processes and resources: creating processes, killing
the parent, signals sent through SIGIO, memory bombs, segfaults, thread bombs, and two
concurrent candidates looking for each other.

Each test asserts the typed result, most also that the zygote survived with no process
left behind on the host, and that the same Evaluator still trains and honestly scores a
normal candidate afterwards.
"""

from __future__ import annotations

import ast
import re
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from agentnas.evaluator import Evaluator
from agentnas.records import FailureKind

from .conftest import GOOD_MODEL, assert_still_serving, open_evaluator, sandbox_unchanged, write_candidate

# --------------------------------------------------------------------------- processes

PROCESS_ATTACKS = {
    "fork_bomb": '''
        import os
        while True:
            if os.fork() == 0:
                print("CHILD-RAN", flush=True)
        ''',
    "multiprocessing_fork": '''
        import multiprocessing

        def child():
            print("CHILD-RAN", flush=True)

        p = multiprocessing.get_context("fork").Process(target=child)
        p.start()
        p.join()
        ''',
    "multiprocessing_spawn": '''
        import multiprocessing

        def child():
            print("CHILD-RAN", flush=True)

        if __name__ == "candidate":
            p = multiprocessing.get_context("spawn").Process(target=child)
            p.start()
            p.join()
        ''',
    "subprocess": '''
        import subprocess
        subprocess.run(["/bin/sh", "-c", "echo CHILD-RAN"], check=False)
        ''',
    "os_system": '''
        import os
        os.system("echo CHILD-RAN")
        ''',
    "posix_spawn": '''
        import os
        os.posix_spawn("/bin/echo", ["echo", "CHILD-RAN"], dict(os.environ))
        ''',
    "exec": '''
        import os, sys
        os.execv("/bin/echo", ["echo", "CHILD-RAN"])
        ''',
}


@pytest.mark.parametrize("attack", sorted(PROCESS_ATTACKS))
def test_creating_a_process_is_killed_as_isolation_violation(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, host_processes: set[int],
        attack: str) -> None:
    starts = evaluator.sandboxes[0].starts
    source = textwrap.dedent(PROCESS_ATTACKS[attack]) + GOOD_MODEL
    result = evaluator.evaluate_one(candidate(source))

    assert result.failure is not None, "the candidate created a process"
    assert result.failure.kind == FailureKind.ISOLATION_VIOLATION, result.failure
    assert "CHILD-RAN" not in result.log_tail
    sandbox_unchanged(evaluator, starts, host_processes)
    assert_still_serving(evaluator, tmp_path)


KILL_ATTACKS = {
    "kill_parent": "os.kill(os.getppid(), signal.SIGKILL)",
    "kill_pid_1": "os.kill(1, signal.SIGKILL)",
    "kill_everything": "os.kill(-1, signal.SIGKILL)",
    "kill_own_group": "os.kill(0, signal.SIGKILL)",
    "killpg": "os.killpg(os.getpgid(0), signal.SIGKILL)",
    "pidfd_send_signal": "signal.pidfd_send_signal(os.pidfd_open(os.getppid()), signal.SIGKILL)",
    "rt_sigqueueinfo": (
        "info = (ctypes.c_int * 32)(signal.SIGKILL, 0, -1)  # si_code SI_QUEUE\n"
        "ctypes.CDLL(None).syscall(129 if platform.machine() == 'x86_64' else 138, "
        "os.getppid(), signal.SIGKILL, info)"),
}
KILL_TEMPLATE = '''
import ctypes
import os
import platform
import signal

__ATTACK__
raise RuntimeError("SURVIVED the attack: it was allowed")
'''


@pytest.mark.parametrize("attack", sorted(KILL_ATTACKS))
def test_killing_the_parent_is_an_isolation_violation(
        evaluator: Evaluator, tmp_path: Path, host_processes: set[int], attack: str) -> None:
    starts = evaluator.sandboxes[0].starts
    source = KILL_TEMPLATE.replace("__ATTACK__", KILL_ATTACKS[attack])
    result = evaluator.evaluate_one(write_candidate(tmp_path, source, "attack.py"))

    assert result.failure is not None
    assert result.failure.kind == FailureKind.ISOLATION_VIOLATION, result.failure
    sandbox_unchanged(evaluator, starts, host_processes)
    assert_still_serving(evaluator, tmp_path)


SIGIO_ATTACK = '''
import fcntl
import os
import signal
import time

F_SETSIG = 10
r, w = os.pipe()
fcntl.fcntl(r, fcntl.F_SETOWN, os.getppid())
fcntl.fcntl(r, F_SETSIG, getattr(signal, __SIGNAL__))
fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)
os.write(w, b"x")
time.sleep(0.5)
''' + GOOD_MODEL


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGINT", "SIGTERM", "SIGUSR1"])
def test_a_signal_sent_through_sigio_does_not_kill_the_sandbox(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, host_processes: set[int],
        signal_name: str) -> None:
    # fcntl(F_SETOWN) makes the kernel signal another process when a pipe becomes readable:
    # not a kill() the seccomp filter sees. The zygote must shrug it off.
    starts = evaluator.sandboxes[0].starts
    result = evaluator.evaluate_one(candidate(SIGIO_ATTACK, SIGNAL=signal_name))

    assert result.failure is None or result.failure.kind == FailureKind.ISOLATION_VIOLATION
    sandbox_unchanged(evaluator, starts, host_processes)
    assert_still_serving(evaluator, tmp_path)


# --------------------------------------------------------------------------- resources

MEMORY_BOMBS = {
    "python": "hoard = []\nwhile True:\n    hoard.append(bytearray(64 << 20))",
    "numpy": "import numpy as np\nx = np.ones(1 << 34, dtype=np.uint8)",
    "torch": "import torch\nx = torch.ones(1 << 34, dtype=torch.uint8)",
}


@pytest.mark.parametrize("bomb", sorted(MEMORY_BOMBS))
def test_memory_bomb_fails_as_memory(evaluator: Evaluator, candidate: Any, tmp_path: Path,
                                     host_processes: set[int], bomb: str) -> None:
    starts = evaluator.sandboxes[0].starts
    result = evaluator.evaluate_one(candidate(MEMORY_BOMBS[bomb] + "\n" + GOOD_MODEL))

    assert result.failure is not None and result.failure.kind == FailureKind.MEMORY, result.failure
    sandbox_unchanged(evaluator, starts, host_processes)
    assert_still_serving(evaluator, tmp_path)


def test_segfault_is_a_crash_naming_sigsegv(evaluator: Evaluator, candidate: Any,
                                            tmp_path: Path) -> None:
    result = evaluator.evaluate_one(candidate("import ctypes\nctypes.string_at(0)\n" + GOOD_MODEL))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH
    assert "SIGSEGV" in result.failure.message
    assert_still_serving(evaluator, tmp_path)


THREAD_BOMB = '''
import threading

threading.stack_size(32 * 1024)
hold = threading.Event()
started = 0
try:
    while started < 5_000:  # a cap, so that a regression cannot exhaust the host's pids
        threading.Thread(target=hold.wait, daemon=True).start()
        started += 1
except Exception as e:
    raise RuntimeError(f"STARTED {started} threads, then {type(e).__name__}: {e}") from e
raise RuntimeError(f"STARTED {started} threads")
'''


def test_a_thread_bomb_is_bounded_and_leaves_nothing_running(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, host_processes: set[int]) -> None:
    starts = evaluator.sandboxes[0].starts
    result = evaluator.evaluate_one(candidate(THREAD_BOMB))

    # Two limits race to stop it, both fine: the memory limit (thread creation fails and the
    # candidate reports how many it got) or the zygote's thread monitor (RLIMIT_NPROC spares uid 0).
    assert result.failure is not None, result
    if result.failure.kind == FailureKind.IMPORT:
        started = int(result.failure.message.split("STARTED ")[1].split()[0])
        assert started < 5_000
    else:
        assert result.failure.kind == FailureKind.CRASH and "threads" in result.failure.message
    sandbox_unchanged(evaluator, starts, host_processes)
    assert_still_serving(evaluator, tmp_path)


NEIGHBOUR_WRITER = GOOD_MODEL + '''
import time

for path in ("mine-__TOKEN__.txt", "/scratch/mine-__TOKEN__.txt"):
    with open(path, "w") as f:
        f.write("__TOKEN__")
_build = build_model

def build_model(input_shape, num_classes):
    time.sleep(4)  # stay alive while the neighbour looks around
    return _build(input_shape, num_classes)
'''
NEIGHBOUR_READER = GOOD_MODEL + '''
import os
import sys
import time

time.sleep(1)
with open(f"own-{__TOKEN__}.txt", "w") as f:  # proves the search below finds such files
    f.write("mine")
skip = {"/proc", "/sys", "/usr", sys.prefix, sys.base_prefix}
found = []
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
    found += [os.path.join(root, f) for f in files if __TOKEN__ in f]
pids = sorted(p for p in os.listdir("/proc") if p.isdigit())
print("FOUND", found, "PIDS", pids, flush=True)
'''


def test_concurrent_candidates_cannot_see_each_other(backend: str, cache_dir: Path,
                                                      tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    writer = write_candidate(tmp_path, NEIGHBOUR_WRITER.replace("__TOKEN__", token), "writer.py")
    reader = write_candidate(tmp_path, NEIGHBOUR_READER, "reader.py", TOKEN=token)
    with open_evaluator(backend, cache_dir, slots=2) as ev:
        wrote, read = ev.evaluate([writer, reader])

    assert wrote.ok and read.ok, (wrote.failure, read.failure)
    found = re.search(r"FOUND (\[.*?\]) PIDS (\[.*?\])", read.log_tail)
    assert found is not None, read.log_tail
    assert [Path(p).name for p in ast.literal_eval(found[1])] == [f"own-{token}.txt"]
    assert f"mine-{token}" not in read.log_tail
    assert len(ast.literal_eval(found[2])) == 2  # the zygote and itself: not the neighbour
