"""Hostile candidates against the real sandbox, on every isolation backend.

Each test runs one attack and asserts three things: the typed result, that the attack
had no effect (checked from the outside, on the host), and that the same Evaluator still
trains and honestly scores a normal candidate afterwards.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import socket
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentnas.evaluator import Evaluator
from agentnas.paths import shipped_dir
from agentnas.records import FailureKind

from .conftest import GOOD_MODEL, assert_still_serving, descendants, open_evaluator, write_candidate

FILE_LIMIT_MB = 4
_RUN = uuid.uuid4().hex[:12]
SECRETS = {
    "AGENTNAS_TEST_SECRET_KEY": f"agentnas-secret-key-{_RUN}",
    "OPENAI_API_KEY": f"sk-openai-{_RUN}",
    "HF_TOKEN": f"hf-token-{_RUN}",
    # No deny-listed word in this name: only the allow-list keeps it out.
    "AGENTNAS_TEST_DSN": f"postgres://admin:hunter2-{_RUN}@db.internal/prod",
}


@pytest.fixture(scope="module")
def evaluator(backend: str, cache_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluator]:
    """One Evaluator per backend, started while the parent's environment holds secrets."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in SECRETS.items():
            env.setenv(key, value)
        ev = open_evaluator(backend, cache_dir, out_dir=tmp_path_factory.mktemp("kept"),
                            timeout_s=30.0, memory_limit_gb=1.0, file_size_limit_mb=FILE_LIMIT_MB)
        try:
            yield ev
        finally:
            ev.close()


def _sandbox_unchanged(ev: Evaluator, starts_before: int, host_before: set[int]) -> None:
    """The zygote was not restarted and no process appeared on the host below the tests."""
    assert ev.sandboxes[0].starts == starts_before, "the attack took the sandbox down"
    assert ev.sandboxes[0].alive
    assert descendants(os.getpid()) == host_before


def _scratch_is_empty(ev: Evaluator) -> None:
    left = sorted(p.name for p in ev.sandboxes[0].scratch.iterdir())
    assert left == [], f"files outlived the evaluation in the scratch folder: {left}"


# --------------------------------------------------------------------------- network

NETWORK_ATTACK = '''
import socket

attempts = []
for host in __HOSTS__:
    try:
        conn = socket.create_connection((host, __TCP_PORT__), timeout=2)
        conn.sendall(b"PWNED")
        attempts.append(f"tcp {host}: CONNECTED")
    except OSError as e:
        attempts.append(f"tcp {host}: {type(e).__name__} {e}")
    try:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"PWNED", (host, __UDP_PORT__))
        attempts.append(f"udp {host}: sent")
    except OSError as e:
        attempts.append(f"udp {host}: {type(e).__name__} {e}")
try:
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.connect(__ABSTRACT__)
    unix.sendall(b"PWNED")
    attempts.append("unix: CONNECTED")
except OSError as e:
    attempts.append(f"unix: {type(e).__name__} {e}")
print("NETWORK-ATTEMPTS", attempts, flush=True)
''' + GOOD_MODEL


def _host_addresses() -> list[str]:
    hosts = ["127.0.0.1"]
    with contextlib.suppress(OSError):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect(("10.255.255.255", 1))  # no packet is sent; this picks the outward address
        hosts.append(probe.getsockname()[0])
        probe.close()
    return sorted(set(hosts))


def test_connecting_to_a_listener_on_the_host_reaches_nothing(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract = f"\0agentnas-test-{uuid.uuid4().hex}"
    with tcp, udp, unix:
        tcp.bind(("0.0.0.0", 0))
        tcp.listen(8)
        udp.bind(("0.0.0.0", 0))
        unix.bind(abstract)
        unix.listen(8)
        path = candidate(NETWORK_ATTACK, HOSTS=_host_addresses(), TCP_PORT=tcp.getsockname()[1],
                         UDP_PORT=udp.getsockname()[1], ABSTRACT=abstract)
        result = evaluator.evaluate_one(path)

        assert result.ok, result.failure
        assert "NETWORK-ATTEMPTS" in result.log_tail
        assert "CONNECTED" not in result.log_tail
        for listener in (tcp, unix):
            listener.settimeout(0.5)
            with pytest.raises(TimeoutError):
                listener.accept()
        udp.settimeout(0.5)
        with pytest.raises(TimeoutError):
            udp.recvfrom(64)
    assert_still_serving(evaluator, tmp_path)


# --------------------------------------------------------------------------- secrets

SECRET_DUMP = '''
import os

seen = {"environ": dict(os.environ)}
for pid in ["self", *sorted(p for p in os.listdir("/proc") if p.isdigit())]:
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                seen[f"/proc/{pid}/{name}"] = f.read().decode(errors="replace")
        except OSError as e:
            seen[f"/proc/{pid}/{name}"] = f"{type(e).__name__}"
print(seen, flush=True)
raise RuntimeError(f"stolen: {seen}")
'''


def test_secrets_in_the_parent_environment_never_reach_the_result(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    assert os.environ["OPENAI_API_KEY"] == SECRETS["OPENAI_API_KEY"]  # really in the parent
    result = evaluator.evaluate_one(candidate(SECRET_DUMP))

    assert result.failure is not None and result.failure.kind == FailureKind.IMPORT
    assert "PYTHONHASHSEED" in result.failure.message  # the environment was dumped...
    assert "PYTHONHASHSEED" in result.log_tail
    dumped = result.model_dump_json()
    for key, value in SECRETS.items():  # ...and held none of the secrets
        assert value not in dumped, key
        assert key not in dumped, key
    assert _RUN not in dumped
    assert_still_serving(evaluator, tmp_path)


# --------------------------------------------------------------------------- filesystem

WRITE_OUTSIDE = '''
import os
import tempfile

written = []
for target in __TARGETS__:
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a") as f:
            f.write("PWNED")
        written.append(target)
    except OSError:
        pass
print("WRITTEN-OUTSIDE", written, flush=True)

# The scratch root is writable, but nothing left there may outlive this evaluation.
with open("/scratch/leftover.txt", "w") as f:
    f.write("PWNED")
os.makedirs("/scratch/leftover-dir/sub", exist_ok=True)
os.symlink("/etc/passwd", "/scratch/leftover-link")
tempfile.mkstemp()
''' + GOOD_MODEL


def test_writes_outside_the_scratch_folder_never_reach_the_host(
        evaluator: Evaluator, tmp_path: Path) -> None:
    name = f"agentnas-pwned-{uuid.uuid4().hex}"
    source_path = tmp_path / "attack.py"
    host_dirs = [Path("/tmp"), tmp_path, Path("/"), Path.home(), Path(sys.prefix),
                 evaluator.data_dir, shipped_dir("sandbox"), Path("/dev/shm"), Path("/etc")]
    sandbox_dirs = ["/data", "/sandbox", "/scratch/..", os.path.dirname(np.__file__)]
    targets = [str(d / name) for d in host_dirs] + [f"{d}/{name}" for d in sandbox_dirs]
    targets += [str(source_path), str(tmp_path / "sub" / name)]
    path = write_candidate(tmp_path, WRITE_OUTSIDE, "attack.py", TARGETS=targets)
    source = path.read_bytes()

    result = evaluator.evaluate_one(path)

    leaked = [d / name for d in [*host_dirs, Path(np.__file__).parent, tmp_path / "sub"]
              if (d / name).exists()]
    for p in leaked:  # clean up before failing: these are real host folders
        p.unlink()
    assert leaked == []
    assert path.read_bytes() == source
    assert result.ok, result.failure
    assert "WRITTEN-OUTSIDE []" in result.log_tail
    _scratch_is_empty(evaluator)
    assert_still_serving(evaluator, tmp_path)


KERNEL_SETTINGS = '''
import os

# Opening for writing is enough to know; nothing is written, so a failure here is harmless.
writable = []
for target in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
               "/proc/sys/vm/swappiness", "/proc/sys/vm/drop_caches", "/proc/sys/fs/file-max",
               "/proc/sysrq-trigger", "/proc/1/oom_score_adj", "/proc/self/oom_score_adj"):
    try:
        os.close(os.open(target, os.O_WRONLY))
        writable.append(target)
    except OSError:
        pass
print("WRITABLE", writable, flush=True)
''' + GOOD_MODEL


def test_kernel_settings_cannot_be_changed_from_the_sandbox(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    # The sandbox runs as uid 0 when the tests run as root, and uid 0 may write host-wide
    # sysctls without any capability (core_pattern would run a program on the host).
    core_pattern = Path("/proc/sys/kernel/core_pattern").read_text()
    result = evaluator.evaluate_one(candidate(KERNEL_SETTINGS))

    assert result.ok, result.failure
    assert "WRITABLE []" in result.log_tail
    assert Path("/proc/sys/kernel/core_pattern").read_text() == core_pattern
    assert_still_serving(evaluator, tmp_path)


READ_PRIVATE = '''
import os

read, listed = {}, {}
for target in __FILES__:
    try:
        with open(target) as f:
            read[target] = f.read()
    except OSError:
        pass
for folder in __FOLDERS__:
    try:
        listed[folder] = os.listdir(folder)
    except OSError:
        pass
print("LISTED", listed, flush=True)
raise RuntimeError(f"READ {read} LISTED {listed}")
'''


@pytest.fixture(scope="module")
def private_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Path]]]:
    """A marker in the real home folder and in a run directory / memory store; removed after."""
    token = f"agentnas-private-{uuid.uuid4().hex}"
    home_marker = Path.home() / f".agentnas-test-marker-{token}"
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "memory").mkdir()
    files = [home_marker, run_dir / "journal.sqlite", run_dir / "memory" / "experiments.json"]
    try:
        for f in files:
            f.write_text(token)
        yield token, files
    finally:
        home_marker.unlink(missing_ok=True)


def test_home_and_run_directory_are_invisible_to_the_candidate(
        evaluator: Evaluator, candidate: Any, tmp_path: Path,
        private_files: tuple[str, list[Path]]) -> None:
    token, files = private_files
    folders = sorted({str(f.parent) for f in files} | {"/root", "/home", "/tmp"})
    result = evaluator.evaluate_one(candidate(READ_PRIVATE, FILES=[str(f) for f in files],
                                              FOLDERS=folders))

    assert result.failure is not None and result.failure.kind == FailureKind.IMPORT
    assert "READ {}" in result.failure.message
    assert token not in result.model_dump_json()
    assert all(f.read_text() == token for f in files)
    assert_still_serving(evaluator, tmp_path)


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
    _sandbox_unchanged(evaluator, starts, host_processes)
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
    _sandbox_unchanged(evaluator, starts, host_processes)
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
    _sandbox_unchanged(evaluator, starts, host_processes)
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
    _sandbox_unchanged(evaluator, starts, host_processes)
    assert_still_serving(evaluator, tmp_path)


HUGE_FILE = '''
import os

def write_huge(path):
    block = b"x" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(4 * __LIMIT_MB__):
            f.write(block)

if __WHERE__ == "import":
    write_huge("huge.bin")
if __WHERE__ == "scratch_root":
    try:
        write_huge("/scratch/huge.bin")
    except OSError as e:
        print("caught", e, flush=True)
''' + GOOD_MODEL + '''

_build = build_model

def build_model(input_shape, num_classes):
    if __WHERE__ == "build":
        write_huge("huge.bin")
    model = _build(input_shape, num_classes)
    if __WHERE__ == "forward":
        model.register_forward_hook(lambda *_: write_huge("huge.bin"))
    return model
'''


def _files_larger_than(root: Path, limit: int) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink()
            and p.stat().st_size > limit]


@pytest.mark.parametrize("where", ["import", "build", "forward"])
def test_writing_a_huge_file_is_a_crash_that_names_the_file_size_limit(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, where: str) -> None:
    result = evaluator.evaluate_one(candidate(HUGE_FILE, LIMIT_MB=FILE_LIMIT_MB, WHERE=where))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH, result.failure
    assert "file size" in result.failure.message.lower(), result.failure.message
    assert _files_larger_than(evaluator.sandboxes[0].scratch.parent, FILE_LIMIT_MB << 20) == []
    _scratch_is_empty(evaluator)
    assert_still_serving(evaluator, tmp_path)


def test_a_file_left_in_the_scratch_root_is_gone_after_the_evaluation(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    result = evaluator.evaluate_one(candidate(HUGE_FILE, LIMIT_MB=FILE_LIMIT_MB,
                                              WHERE="scratch_root"))

    assert result.ok, result.failure
    assert "File too large" in result.log_tail
    _scratch_is_empty(evaluator)
    assert_still_serving(evaluator, tmp_path)


def test_segfault_is_a_crash_naming_sigsegv(evaluator: Evaluator, candidate: Any,
                                            tmp_path: Path) -> None:
    result = evaluator.evaluate_one(candidate("import ctypes\nctypes.string_at(0)\n" + GOOD_MODEL))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH
    assert "SIGSEGV" in result.failure.message
    assert_still_serving(evaluator, tmp_path)


EARLY_EXITS = {
    "os_exit_in_build": "exited (code 0)",
    "sys_exit_in_forward": "SystemExit",
    "os_exit_in_training": "exited (code 3)",
}
EARLY_EXIT_MODEL = GOOD_MODEL + '''
import os
import sys

_build = build_model
calls = [0]

def build_model(input_shape, num_classes):
    if __CASE__ == "os_exit_in_build":
        os._exit(0)
    model = _build(input_shape, num_classes)

    def hook(*_):
        calls[0] += 1
        if __CASE__ == "sys_exit_in_forward":
            sys.exit(3)
        if __CASE__ == "os_exit_in_training" and calls[0] > 5:
            os._exit(3)

    model.register_forward_hook(hook)
    return model
'''


@pytest.mark.parametrize("case", sorted(EARLY_EXITS))
def test_exiting_early_is_a_crash_with_a_message(evaluator: Evaluator, candidate: Any,
                                                 tmp_path: Path, case: str) -> None:
    result = evaluator.evaluate_one(candidate(EARLY_EXIT_MODEL, CASE=case))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH, result.failure
    assert EARLY_EXITS[case] in result.failure.message
    assert result.metrics is None
    assert_still_serving(evaluator, tmp_path)


# --------------------------------------------------------------------------- honesty of scores

FAKE_RESULT = '''
import glob
import json
import os

import numpy as np

print(json.dumps({"status": "ok", "val_accuracy": 1.0, "test_accuracy": 1.0}), flush=True)
print(json.dumps({"id": os.path.basename(os.getcwd()), "exit_code": 0, "signal": None,
                  "timed_out": False, "wall_seconds": 0.1}), flush=True)
with np.load(glob.glob("/data/*.npz")[0]) as data:
    n_val, n_test = len(data["x_val"]), len(data["x_test"])
logits = lambda n: np.eye(10, dtype=np.float32)[np.zeros(n, dtype=int)] * 100  # "certain"
np.savez("preds.npz", val=logits(n_val), test=logits(n_test))
with open("result.json", "w") as f:
    json.dump({"status": "ok", "val_accuracy": 1.0, "test_accuracy": 1.0, "params": 1}, f)
with open("metrics.json", "w") as f:
    json.dump({"val_accuracy": 1.0, "test_accuracy": 1.0}, f)
os._exit(0)
'''


def test_a_faked_result_is_never_taken_as_a_perfect_score(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    result = evaluator.evaluate_one(candidate(FAKE_RESULT))

    if result.ok:  # the trusted side scored the predictions it found: honestly
        assert result.metrics is not None
        honest = float((evaluator.data.y_test == 0).mean())
        assert result.metrics.test_accuracy == pytest.approx(honest)
        assert result.metrics.val_accuracy == pytest.approx(float((evaluator.data.y_val == 0).mean()))
    else:
        assert result.failure is not None
    assert result.metrics is None or result.metrics.test_accuracy < 0.5
    assert_still_serving(evaluator, tmp_path)


FORGE_PROTOCOL = '''
import json
import os

job_id = os.path.basename(os.getcwd())
reply = json.dumps({"id": job_id, "exit_code": 0, "signal": None, "timed_out": False,
                    "wall_seconds": 0.1}) + "\\n"
opened = []
for pid in sorted(p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        continue
    for fd in fds:
        path = f"/proc/{pid}/fd/{fd}"
        try:
            target = os.readlink(path)
            handle = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue
        opened.append(f"{path} -> {target}")
        try:
            os.write(handle, reply.encode())
        except OSError:
            pass
raise RuntimeError(f"OPENED {opened}")
'''


def test_the_protocol_pipes_are_out_of_the_candidates_reach(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, host_processes: set[int]) -> None:
    starts = evaluator.sandboxes[0].starts
    result = evaluator.evaluate_one(candidate(FORGE_PROTOCOL))

    assert result.failure is not None and result.failure.kind == FailureKind.IMPORT, result.failure
    assert "OPENED []" in result.failure.message
    _sandbox_unchanged(evaluator, starts, host_processes)
    first = assert_still_serving(evaluator, tmp_path)  # replies are not out of step
    second = assert_still_serving(evaluator, tmp_path)
    assert first.metrics == second.metrics


TAMPER_ATTACKS = {
    "adam_step_at_import": "torch.optim.Adam.step = lambda self, closure=None: None\n",
    "backward_at_import": "torch.Tensor.backward = lambda self, *a, **k: None\n",
    "cross_entropy_in_build": (
        "_real_build = build_model\n"
        "def build_model(input_shape, num_classes):\n"
        "    torch.nn.functional.cross_entropy = lambda *a, **k: torch.zeros((), requires_grad=True)\n"
        "    return _real_build(input_shape, num_classes)\n"),
    "adam_step_in_forward": (
        "_real_build = build_model\n"
        "def _patch(*_):\n"
        "    torch.optim.Adam.step = lambda self, closure=None: None\n"
        "def build_model(input_shape, num_classes):\n"
        "    model = _real_build(input_shape, num_classes)\n"
        "    model.register_forward_hook(_patch)\n"
        "    return model\n"),
    "trainer_optimizer": (
        "import sys\n"
        "_trainer = sys.modules['train']\n"
        "_real = _trainer.make_optimizer\n"
        "_trainer.make_optimizer = lambda params, recipe: _real(params, {**recipe, 'lr': 0.0})\n"),
    "trainer_schedule": (
        "import sys\n"
        "sys.modules['train'].lr_factor = lambda step, total, schedule: 0.0\n"),
}


@pytest.mark.parametrize("attack", sorted(TAMPER_ATTACKS))
def test_monkeypatching_the_training_loop_is_an_isolation_violation(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, attack: str) -> None:
    result = evaluator.evaluate_one(candidate(GOOD_MODEL + "\n" + TAMPER_ATTACKS[attack]))

    assert result.failure is not None, "training was tampered with and the result accepted"
    assert result.failure.kind == FailureKind.ISOLATION_VIOLATION, result.failure
    assert "replaced" in result.failure.message
    assert_still_serving(evaluator, tmp_path)


LABEL_SEARCH = '''
import os
import zipfile

import numpy as np

found, scanned = [], 0
for root, dirs, files in os.walk("/"):
    if root in ("/proc", "/sys", "/dev"):
        dirs[:] = []
        continue
    for name in files:
        path = os.path.join(root, name)
        if name.split(".")[0] in ("y_test", "y_val"):
            found.append(path)
        if not name.endswith((".npz", ".npy")):
            continue
        scanned += 1
        try:
            if name.endswith(".npz"):
                with zipfile.ZipFile(path) as z:
                    keys = [n.removesuffix(".npy") for n in z.namelist()]
                if {"y_test", "y_val"} & set(keys):
                    found.append(path)
        except Exception:
            pass
with np.load([os.path.join("/data", f) for f in os.listdir("/data")][0]) as data:
    data_keys = sorted(data.files)
print("SCANNED", scanned, "DATA-KEYS", data_keys, "FOUND", found, flush=True)
''' + GOOD_MODEL


def test_searching_the_filesystem_finds_no_labels_to_copy(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    with np.load(evaluator.data_file) as data:  # what the sandbox was given, seen from the host
        assert sorted(data.files) == ["x_test", "x_train", "x_val", "y_train"]
    result = evaluator.evaluate_one(candidate(LABEL_SEARCH))

    assert result.ok, result.failure
    assert "FOUND []" in result.log_tail
    assert "DATA-KEYS ['x_test', 'x_train', 'x_val', 'y_train']" in result.log_tail
    assert result.metrics is not None and result.metrics.test_accuracy < 0.99
    assert_still_serving(evaluator, tmp_path)


SYMLINK_FILES = '''
import os

for name in ("result.json", "preds.npz", "log.txt", "model.onnx"):
    try:
        os.remove(name)
    except FileNotFoundError:
        pass
    os.symlink(__TARGETS__[name], name)
os._exit(0)
'''


def test_result_files_replaced_by_symlinks_leak_no_host_content(
        evaluator: Evaluator, tmp_path: Path) -> None:
    token = f"agentnas-host-only-{uuid.uuid4().hex}"
    secret = tmp_path / "host-secret.txt"
    secret.write_text(token)
    targets = {"result.json": str(secret), "preds.npz": str(secret), "log.txt": str(secret),
               "model.onnx": "/etc/passwd"}
    result = evaluator.evaluate_one(write_candidate(tmp_path, SYMLINK_FILES, "attack.py",
                                                    TARGETS=targets))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH
    dumped = result.model_dump_json()
    assert token not in dumped
    assert "root:" not in dumped
    assert secret.read_text() == token
    _scratch_is_empty(evaluator)
    assert_still_serving(evaluator, tmp_path)


SYMLINK_JOB_DIR = '''
import os

job = os.getcwd()
os.rename(job, job + ".moved")
os.symlink(__HOST_DIR__, job)
os._exit(0)
'''


def test_a_job_folder_replaced_by_a_symlink_is_not_followed(
        evaluator: Evaluator, tmp_path: Path) -> None:
    # A host folder holding a perfect (label-derived) result: following the link would
    # report accuracy 1.0 and leak the host's log into the result.
    token = f"agentnas-host-log-{uuid.uuid4().hex}"
    host_dir = tmp_path / "host-results"
    host_dir.mkdir()
    (host_dir / "log.txt").write_text(token)
    (host_dir / "result.json").write_text(json.dumps({"status": "ok", "params": 1}))
    onehot = np.eye(10, dtype=np.float32) * 100
    np.savez(host_dir / "preds.npz", val=onehot[evaluator.data.y_val],
             test=onehot[evaluator.data.y_test])
    result = evaluator.evaluate_one(write_candidate(tmp_path, SYMLINK_JOB_DIR, "attack.py",
                                                    HOST_DIR=str(host_dir)))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH
    assert result.metrics is None
    assert token not in result.model_dump_json()
    assert sorted(p.name for p in host_dir.iterdir()) == ["log.txt", "preds.npz", "result.json"]
    _scratch_is_empty(evaluator)
    assert_still_serving(evaluator, tmp_path)


SYMLINK_ONNX = GOOD_MODEL + '''
import os

_build = build_model

def _swap(*_):
    if os.path.isfile("model.onnx") and not os.path.islink("model.onnx"):
        os.remove("model.onnx")
        os.symlink(__TARGET__, "model.onnx")

def build_model(input_shape, num_classes):
    model = _build(input_shape, num_classes)
    model.register_forward_hook(_swap)  # runs again in training, after the export
    return model
'''


def test_an_onnx_file_swapped_for_a_symlink_is_not_kept(evaluator: Evaluator, candidate: Any,
                                                        tmp_path: Path) -> None:
    token = f"agentnas-host-onnx-{uuid.uuid4().hex}"
    secret = tmp_path / "host-secret.onnx"
    secret.write_text(token)
    result = evaluator.evaluate_one(candidate(SYMLINK_ONNX, TARGET=str(secret)))

    assert result.ok, result.failure
    assert result.onnx_path is None
    assert evaluator.out_dir is not None
    kept = [p for p in evaluator.out_dir.rglob("*") if p.is_file()]
    assert all(token not in p.read_text(errors="replace") for p in kept)
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

    assert result.failure is not None and result.failure.kind == FailureKind.IMPORT
    started = int(result.failure.message.split("STARTED ")[1].split()[0])
    assert started < 5_000  # the memory limit bounds the threads (RLIMIT_NPROC spares uid 0)
    _sandbox_unchanged(evaluator, starts, host_processes)
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
