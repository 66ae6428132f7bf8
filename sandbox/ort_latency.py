"""Latency of an exported ONNX model through ONNX Runtime on CPU, in a confined process of its own.

The code is the trusted side's; the model file is the candidate's. So, as in worker.py,
limits and the seccomp filter go on after onnxruntime is imported and before a byte of the
model is read: a model that makes the runtime allocate without end, spin or crash ends this
process only, and the caller reads that as a failed measurement.

`python -I ort_latency.py JOB_JSON`, JOB: {"models": [[batch, path], ...], "warmup", "repeats",
"max_seconds", "max_bytes", "memory_limit_bytes", "cpu_seconds"}. One JSON line on stdout:
{"latency": [{batch, median_ms, q1_ms, q3_ms, mad_ms, min_ms, runs, warmup, threads}], "errors":
{batch: message}}. One thread (intra- and inter-op), sequential execution: figures repeat on
a shared machine and compare across candidates. Imports only stdlib, numpy and onnxruntime.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import seccomp  # noqa: E402

_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
           "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _confine(job: dict[str, Any]) -> None:
    def limit(res: int, value: int) -> None:
        resource.setrlimit(res, (value, value))

    # The budget is on top of what the interpreter and the runtime already map.
    limit(resource.RLIMIT_AS, _vm_bytes() + int(job["memory_limit_bytes"]))
    cpu = int(job["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    limit(resource.RLIMIT_FSIZE, 0)  # writes nothing (the reply goes to a pipe)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, 64)
    seccomp.install(os.getpid())


def _read(path: str, max_bytes: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    return data


def _feeds(session: ort.InferenceSession, batch: int) -> dict[str, np.ndarray]:
    """Zeros for integer inputs (token 0 is in every vocabulary), seeded noise for the rest."""
    rng = np.random.default_rng(0)
    feeds = {}
    for i in session.get_inputs():
        dtype = _DTYPES.get(i.type)
        if dtype is None:
            raise ValueError(f"input {i.name!r} has type {i.type}, which is not measured")
        shape = [batch if k == 0 else d for k, d in enumerate(i.shape)]
        if not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(f"input {i.name!r} has a shape with unknown dimensions {i.shape}")
        if np.issubdtype(dtype, np.floating):
            feeds[i.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[i.name] = np.zeros(shape, dtype)
    return feeds


def _session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def measure(data: bytes, batch: int, job: dict[str, Any]) -> dict[str, Any]:
    session = _session(data)
    feeds = _feeds(session, batch)
    for _ in range(int(job["warmup"])):
        session.run(None, feeds)
    times: list[int] = []
    clock = time.perf_counter_ns
    stop = clock() + int(float(job["max_seconds"]) * 1e9)
    for _ in range(int(job["repeats"])):
        t0 = clock()
        session.run(None, feeds)
        t1 = clock()
        times.append(t1 - t0)
        if t1 > stop and len(times) >= 3:  # a slow model: fewer runs rather than a timeout
            break
    ms = np.asarray(times, np.float64) / 1e6
    median = float(np.median(ms))
    q1, q3 = (float(v) for v in np.percentile(ms, [25, 75]))
    return {"batch": batch, "median_ms": median, "q1_ms": q1, "q3_ms": q3,
            "mad_ms": float(np.median(np.abs(ms - median))), "min_ms": float(ms.min()), "runs": len(times),
            "warmup": int(job["warmup"]), "threads": 1}


def main() -> None:
    job = json.loads(sys.argv[1])
    _confine(job)
    latency, errors = [], {}
    for batch, path in job["models"]:
        try:
            latency.append(measure(_read(path, int(job["max_bytes"])), int(batch), job))
        except MemoryError:
            errors[str(batch)] = "out of memory"
        except Exception as e:  # the runtime refuses the graph: this batch size has no figure
            errors[str(batch)] = " ".join(f"{type(e).__name__}: {e}".split())[:400]
    sys.stdout.write(json.dumps({"latency": latency, "errors": errors}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
