"""The zygote: a long-lived process inside the sandbox that imports torch once and
forks one fresh child per evaluation, so no evaluation pays the ~4.5 s start-up.

Protocol (JSON lines): the zygote writes {"ready": ...} once, then reads one job per
line on stdin and answers one line on stdout when the child is gone:
{"id", "exit_code", "signal", "timed_out", "killed_for", "wall_seconds", "cpu_seconds",
"max_rss_kb"}.
The child never holds these pipes (worker.run_child closes them before the candidate
runs), and the zygote is made non-dumpable so a child cannot read or trace it.
Imports only stdlib, numpy and torch.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import train as trainer  # noqa: E402
import worker  # noqa: E402

_PR_SET_DUMPABLE, _PR_SET_PDEATHSIG = 4, 1
_libc = ctypes.CDLL(None)


def _warm_up() -> None:
    """Pay the first-use costs (Adam, autograd, ONNX exporter) once, here, not per child."""
    import io

    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(6, 2))
    x, y = np.zeros((4, 1, 5), np.float32), np.zeros(4, np.int64)
    recipe = {"optimizer": "adam", "lr": 1e-3, "epochs": 1, "batch_size": 2}
    trainer.train(model, x, y, recipe)
    trainer.predict(model, x)
    with contextlib.suppress(Exception):  # warming is only an optimisation
        torch.onnx.export(model, (torch.zeros(1, 1, 5),), io.BytesIO(), dynamo=False,
                          external_data=False, verbose=False)


class DataCache:
    """Label-free task arrays, loaded once and shared copy-on-write with every child."""

    def __init__(self) -> None:
        self._loaded: dict[str, dict[str, np.ndarray]] = {}

    def get(self, path: str) -> dict[str, np.ndarray]:
        if path not in self._loaded:
            with np.load(path, allow_pickle=False) as f:
                self._loaded[path] = {k: np.ascontiguousarray(f[k]) for k in f.files}
        return self._loaded[path]


_POLL_SECONDS = 0.2


def _scratch_usage(root: str, max_files: int) -> tuple[int, int]:
    """(bytes, entries) under `root`, counting at most `max_files + 1` entries."""
    used = entries = 0
    todo = [root]
    while todo and entries <= max_files:
        try:
            listing = os.scandir(todo.pop())
        except OSError:
            continue
        with listing:
            for entry in listing:
                entries += 1
                try:
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
                    else:
                        used += entry.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    pass
    return used, entries


def _threads(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _wait(pid: int, job: dict[str, Any]) -> tuple[int, str | None, Any]:
    """Wait for the child, killing it when it runs past its time, fills the scratch folder
    or starts too many threads (per-file and memory limits do not bound these: many
    files, or threads where no address-space limit applies). (status, reason, rusage)."""
    deadline = time.monotonic() + float(job["timeout"])
    reason = None
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = "timeout"
                break
            ready, _, _ = select.select([pidfd], [], [], min(remaining, _POLL_SECONDS))
            if ready:
                break
            used, entries = _scratch_usage(os.path.dirname(job["dir"]), int(job["max_files"]))
            if used > int(job["scratch_limit_bytes"]) or entries > int(job["max_files"]):
                reason = "disk"
                break
            if _threads(pid) > int(job["max_threads"]):
                reason = "threads"
                break
        if reason is not None:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(pidfd)
    _, status, usage = os.wait4(pid, 0)
    return status, reason, usage


def serve(inp: Any, out: Any) -> None:
    cache = DataCache()
    for line in inp:
        if not line.strip():
            continue
        job = json.loads(line)
        data = cache.get(job["data"])
        os.makedirs(job["dir"], exist_ok=True)
        t0 = time.perf_counter()
        zygote = os.getpid()
        pid = os.fork()
        if pid == 0:
            # Without a pid namespace (isolation "none"), nothing else ends the child when
            # the zygote is killed; inside one, its init's death already does.
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != zygote:
                os._exit(1)
            if job["device"] == "cuda":
                # CUDA cannot be used in a child forked from a process that loaded it, so a
                # GPU evaluation starts a fresh interpreter (paying torch's import once more).
                os.execv(sys.executable, [sys.executable, "-I", worker.__file__, json.dumps(job)])
            worker.run_child(job, data)  # never returns
        status, reason, usage = _wait(pid, job)
        reply = {
            "id": job["id"],
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "timed_out": reason == "timeout",
            "killed_for": reason,
            "wall_seconds": time.perf_counter() - t0,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "max_rss_kb": usage.ru_maxrss,
        }
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main() -> None:
    # Keep the protocol on private descriptors; stray prints go to stderr, not the pipe.
    inp = os.fdopen(os.dup(0), "r")
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # No handlers at all: as PID 1 of its namespace the zygote then ignores every signal a
    # child manages to send it (e.g. through fcntl F_SETOWN/F_SETSIG, which seccomp cannot
    # see); Python's SIGINT handler would otherwise let a child end it with SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _warm_up()
    out.write(json.dumps({"ready": True, "pid": os.getpid(), "torch": torch.__version__}) + "\n")
    out.flush()
    serve(inp, out)


if __name__ == "__main__":
    main()
