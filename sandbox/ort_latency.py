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
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import timing  # noqa: E402

_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
           "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


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
    return {"batch": batch, **timing.time_calls(lambda: session.run(None, feeds), job), "threads": 1}


def main() -> None:
    job = json.loads(sys.argv[1])
    timing.confine(job)
    latency, errors = [], {}
    for batch, path in job["models"]:
        try:
            latency.append(measure(timing.read_capped(path, int(job["max_bytes"])), int(batch), job))
        except MemoryError:
            errors[str(batch)] = "out of memory"
        except Exception as e:  # the runtime refuses the graph: this batch size has no figure
            errors[str(batch)] = " ".join(f"{type(e).__name__}: {e}".split())[:400]
    sys.stdout.write(json.dumps({"latency": latency, "errors": errors}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
