"""The trusted side's handle on one sandboxed zygote (see sandbox/zygote.py).

A `SandboxProcess` starts the zygote through an isolation backend, sends it one job at a
time and reads its reply with a deadline. If the zygote stops answering or dies, the
whole sandbox (every process in its namespaces) is killed and a new one is started on
the next job: one candidate can end its own evaluation, never the evaluator.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agentnas.evaluator.isolation import Isolation, Mount, SandboxSpec
from agentnas.evaluator.pythonview import python_mounts
from agentnas.paths import shipped_dir

_DENIED_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
_PASSED_THROUGH = ("LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "CUDA_VISIBLE_DEVICES",
                   "TZ")


def sandbox_env(parent: dict[str, str], home: str, cuda: bool = False) -> dict[str, str]:
    """The allow-listed environment of the sandbox; secrets never pass, whatever their name."""
    # USER/LOGNAME: the sandbox has no /etc/passwd, and torch asks getpass.getuser() on import.
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "XDG_CACHE_HOME": home,
           "USER": "agentnas", "LOGNAME": "agentnas", "PYTHONHASHSEED": "0",
           "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "LANG": "C.UTF-8"}
    env.update({k: parent[k] for k in _PASSED_THROUGH if k in parent})
    if cuda and "LD_LIBRARY_PATH" in parent:
        env["LD_LIBRARY_PATH"] = parent["LD_LIBRARY_PATH"]  # where GPU images keep libcuda
    return {k: v for k, v in env.items()
            if not any(w in k.upper() for w in _DENIED_WORDS) and not k.upper().startswith("OPENAI_")}


# bwrap --die-with-parent (PR_SET_PDEATHSIG) fires when the *thread* that started the
# sandbox ends, not the process: a sandbox started from a short-lived pool thread (warm_up,
# evaluate) would be killed with it. So one long-lived thread spawns every sandbox.
_SPAWNER = ThreadPoolExecutor(1, thread_name_prefix="agentnas-sandbox-spawner")


def wipe(scratch: Path) -> None:
    """Empty a slot's scratch folder: the next candidate (or step) in this slot must find nothing
    the previous one left (no cached weights, no messages). Symlinks are removed, not followed."""
    for entry in scratch.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


class SandboxDied(RuntimeError):
    """The zygote is gone or unresponsive; the sandbox was killed."""


class SandboxStartError(RuntimeError):
    """The sandbox cannot start at all: a problem of this machine, not of a candidate."""


class SandboxProcess:
    """One sandbox: a zygote whose scratch root is `scratch` on the host."""

    START_TIMEOUT = 120.0

    def __init__(self, isolation: Isolation, scratch: Path, data_dir: Path, private_dir: Path,
                 devices: tuple[str, ...] = (), hidden: tuple[str, ...] = ()) -> None:
        self.isolation = isolation
        self.scratch, self.data_dir, self.private_dir = scratch, data_dir, private_dir
        self.devices = devices
        self.hidden = hidden  # folders covered with an empty read-only mount (a task's evaluation text)
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self.starts = 0

    # Paths as the zygote sees them.
    def inside(self, host_path: Path) -> str:
        if not self.isolation.relocates:
            return str(host_path)
        for root, dst in ((self.scratch, "/scratch"), (self.data_dir, "/data")):
            if host_path.is_relative_to(root):
                return dst + "/" + str(host_path.relative_to(root))
        raise ValueError(f"{host_path} is not visible inside the sandbox")

    def _spec(self) -> SandboxSpec:
        sandbox_code = shipped_dir("sandbox")
        mounts = list(python_mounts())
        relocate = self.isolation.relocates
        mounts += [
            Mount(sandbox_code, "/sandbox" if relocate else str(sandbox_code)),
            Mount(self.data_dir, "/data" if relocate else str(self.data_dir)),
            Mount(self.scratch, "/scratch" if relocate else str(self.scratch), writable=True),
        ]
        mounts += [Mount(None, d) for d in self.hidden]
        code_dir = "/sandbox" if relocate else str(sandbox_code)
        chdir = "/scratch" if relocate else str(self.scratch)
        return SandboxSpec(mounts=tuple(mounts), env=sandbox_env(dict(os.environ), chdir, cuda=bool(self.devices)),
                           argv=(sys.executable, "-I", f"{code_dir}/zygote.py"), chdir=chdir,
                           private_dir=self.private_dir, devices=self.devices)

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> dict[str, Any]:
        self.kill()
        for d in (self.scratch, self.private_dir):
            d.mkdir(parents=True, exist_ok=True)
        spec = self._spec()
        argv = self.isolation.command(spec)
        self._stderr = open(self.private_dir / "zygote.log", "ab")  # noqa: SIM115 - closed in kill()
        self._proc = _SPAWNER.submit(
            subprocess.Popen, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, env=spec.env, cwd=spec.chdir if not self.isolation.relocates else None,
            start_new_session=True, close_fds=True).result()
        self._buffer = b""
        self.starts += 1
        ready = self._read_line(time.monotonic() + self.START_TIMEOUT)
        if ready is None or not ready.get("ready"):
            tail = self.stderr_tail()
            self.kill()
            raise SandboxStartError(f"the sandbox did not start ({self.isolation.name}): {tail}")
        return ready

    def stderr_tail(self, n: int = 1500) -> str:
        try:
            data = (self.private_dir / "zygote.log").read_bytes()[-n:]
        except OSError:
            return ""
        return data.decode(errors="replace").strip()

    def run(self, job: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        """Send one job; return the zygote's reply. Raises SandboxDied (sandbox killed)."""
        if not self.alive:
            self.start()
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(job) + "\n").encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.kill()
            raise SandboxDied(f"the sandbox went away: {e}") from e
        reply = self._read_line(time.monotonic() + deadline_s)
        if reply is None:
            self.kill()
            raise SandboxDied("the sandbox stopped answering and was killed")
        return reply

    def _read_line(self, deadline: float) -> dict[str, Any] | None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self._buffer += chunk
                if len(self._buffer) > 1 << 20:
                    return None  # nothing legitimate is this long
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            return None
        return reply if isinstance(reply, dict) else None

    def terminate(self) -> None:
        """Kill every process of the sandbox now. Safe from another thread: the thread
        waiting on this sandbox then sees it gone and cleans up."""
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def kill(self) -> None:
        """Kill the sandbox and release its pipes (from the thread that uses it)."""
        proc = self._proc  # another thread (a signal's clean-up) may kill the same sandbox meanwhile
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._proc = None
        if hasattr(self, "_stderr"):
            self._stderr.close()
