"""What the confined latency measurements share (ort_latency.py, torch_latency.py): their limits,
reading the candidate's file with a cap, and timing repeated calls. Imports stdlib and numpy."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import seccomp


def vm_bytes() -> int:
    """This process's mapped address space now (the baseline a memory budget is added to)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def confine(job: dict[str, Any], address_limit: bool = True, max_files: int = 64) -> None:
    """The measuring process's limits, then the seccomp filter: a budget of address space on
    top of what the runtime already maps (`address_limit`), CPU time, no file written, no core."""
    def limit(res: int, value: int) -> None:
        resource.setrlimit(res, (value, value))

    if address_limit:
        limit(resource.RLIMIT_AS, vm_bytes() + int(job["memory_limit_bytes"]))
    cpu = int(job["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    limit(resource.RLIMIT_FSIZE, 0)  # writes nothing (the reply goes to a pipe)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, max_files)
    seccomp.install(os.getpid())


def read_capped(path: str, max_bytes: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    return data


def time_calls(call: Callable[[], object], job: dict[str, Any]) -> dict[str, Any]:
    """`job["warmup"]` untimed calls, then up to `job["repeats"]` timed ones (fewer, at least
    3, once `job["max_seconds"]` have passed): their median, quartiles, MAD and minimum in ms."""
    for _ in range(int(job["warmup"])):
        call()
    times: list[int] = []
    clock = time.perf_counter_ns
    stop = clock() + int(float(job["max_seconds"]) * 1e9)
    for _ in range(int(job["repeats"])):
        t0 = clock()
        call()
        t1 = clock()
        times.append(t1 - t0)
        if t1 > stop and len(times) >= 3:  # a slow model: fewer runs rather than a timeout
            break
    ms = np.asarray(times, np.float64) / 1e6
    median = float(np.median(ms))
    q1, q3 = (float(v) for v in np.percentile(ms, [25, 75]))
    return {"median_ms": median, "q1_ms": q1, "q3_ms": q3, "mad_ms": float(np.median(np.abs(ms - median))),
            "min_ms": float(ms.min()), "runs": len(times), "warmup": int(job["warmup"])}
