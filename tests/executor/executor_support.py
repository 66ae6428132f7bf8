"""Helpers of the executor tests: Ray nodes started with `ray start --block`, each in its own
session so that the test can kill exactly that node's processes (never a broad `ray stop`,
which would stop every Ray process of this user on the machine), and candidate files."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
ROOT = Path(__file__).resolve().parents[2]

# An MLP that reaches about 0.9 val accuracy on digits in one epoch; HIDDEN makes each file a
# different graph, SLEEP stretches build_model so a node can be killed mid-evaluation.
CANDIDATE = '''
import math
import time

from torch import nn


def build_model(input_shape, num_classes):
    time.sleep(__SLEEP__)
    return nn.Sequential(
        nn.Flatten(),                                   # (B, 64)
        nn.Linear(math.prod(input_shape), __HIDDEN__),  # (B, hidden)
        nn.ReLU(),
        nn.Linear(__HIDDEN__, num_classes),             # (B, num_classes)
    )
'''


def write_candidates(folder: Path, n: int, sleep: float = 0.0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"candidate_{i}.py"
        text = textwrap.dedent(CANDIDATE).replace("__SLEEP__", repr(sleep)).replace("__HIDDEN__", str(32 + 8 * i))
        path.write_text(text)
        paths.append(path)
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The test cluster's own token: its ports listen on every interface, and what the user may
# keep in ~/.ray/auth_token must not decide whether the test's driver can connect.
AUTH_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}


def node_env(tmp: Path) -> dict[str, str]:
    """The environment of a node's processes: the test token, no usage report, and TMPDIR in
    the test's folder, so the sandboxes' work folders (and any leftover) are the test's to find."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {**os.environ, **AUTH_ENV, "TMPDIR": str(tmp)}


def session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, session, ...
    return None if fields[0] == "Z" else int(fields[3])


def processes_in_session(sid: int) -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and session_of(int(e)) == sid]


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (e.g. a sandbox bound to a test folder)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and session_of(int(entry)) is not None:
            found.append(int(entry))
    return found


class RayNode:
    """One `ray start --block` process and everything it starts, in one session of its own."""

    def __init__(self, folder: Path, *, head_port: int, head: bool, num_cpus: int = 1) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "ray-start.log"
        # Ray's sockets live under --temp-dir and AF_UNIX paths are short: not in pytest's deep folders.
        self.ray_dir = Path(tempfile.mkdtemp(prefix="anr-"))
        argv = [str(RAY), "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", str(num_cpus),
                "--disable-usage-stats", "--temp-dir", str(self.ray_dir),
                "--dashboard-agent-listen-port", str(free_port())]
        if head:
            argv += ["--head", "--port", str(head_port), "--include-dashboard=false",
                     "--dashboard-port", str(free_port()), "--ray-client-server-port", str(free_port())]
        else:
            argv += ["--address", f"127.0.0.1:{head_port}"]
        env = node_env(folder / "tmp")
        if head:  # the GCS declares a silent node dead after ~2 s rather than Ray's ~15 s
            env |= {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "500",
                    "RAY_health_check_failure_threshold": "3"}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True, cwd=ROOT)
        self.sid = self.proc.pid

    def wait_started(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "Ray runtime started" in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.kill()
        raise AssertionError(f"ray start did not come up: {self.log.read_text(errors='replace')[-3000:]}")

    def pids(self) -> list[int]:
        return processes_in_session(self.sid)

    def kill(self) -> None:
        """SIGKILL every process of the node at once (a node that dies), then reap `ray start`."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.sid, signal.SIGKILL)
        # Anything that left the process group but not the session goes too.
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def wait_gone(self, timeout_s: float = 10.0) -> list[int]:
        """The node's processes still alive after `timeout_s` (empty when all are gone); once
        they are, the node's Ray folder is removed."""
        deadline = time.monotonic() + timeout_s
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = self.pids()
        if not left:
            shutil.rmtree(self.ray_dir, ignore_errors=True)
        return left
