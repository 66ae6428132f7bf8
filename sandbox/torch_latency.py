"""Latency of a candidate's traced model through torch on the evaluation device, in a confined
process of its own.

The code is the trusted side's; the model file is the candidate's: a TorchScript archive the
candidate's sandbox traced from its model (operators and weights, none of the candidate's
Python). As in ort_latency.py, limits and the seccomp filter go on after torch is imported
(and, on a GPU, after the device is initialised) and before a byte of the model is read: a
model that makes torch allocate without end, spin or crash ends this process only.

`python -I torch_latency.py JOB_JSON`, JOB: {"model": path, "device": "cpu" | "cuda[:N]",
"inputs": [[batch, shape, dtype], ...], "warmup", "repeats", "max_seconds", "max_bytes",
"memory_limit_bytes", "cpu_seconds"}. `shape` includes the batch dimension; dtype is
"float32" or "int64" (token inputs are zeros: token 0 is in every vocabulary). One JSON line
on stdout, as ort_latency.py's: {"latency": [...], "errors": {batch: message}}. On CPU torch
runs on one thread, so the figures compare with ONNX Runtime's; on a GPU each timed run ends
with a device synchronisation (the time is the model's, not the launch's).
"""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import time
import warnings
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import seccomp  # noqa: E402
import torch  # noqa: E402

_DTYPES = {"float32": torch.float32, "int64": torch.int64}


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _confine(job: dict[str, Any], gpu: bool) -> None:
    def limit(res: int, value: int) -> None:
        resource.setrlimit(res, (value, value))

    # A GPU driver maps address space far beyond what it uses: there the address-space limit
    # would refuse the device, so the memory guard is the CPU-time limit and the timeout.
    if not gpu:
        limit(resource.RLIMIT_AS, _vm_bytes() + int(job["memory_limit_bytes"]))
    cpu = int(job["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    limit(resource.RLIMIT_FSIZE, 0)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, 64 if not gpu else 1024)
    seccomp.install(os.getpid())


def _read(path: str, max_bytes: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    return data


def _input(shape: list[int], dtype: str, device: torch.device) -> torch.Tensor:
    if dtype not in _DTYPES or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"input of shape {shape} and type {dtype} is not measured")
    if _DTYPES[dtype] == torch.int64:
        return torch.zeros(shape, dtype=torch.int64, device=device)
    g = torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=g).to(device)


def measure(model: Any, x: torch.Tensor, batch: int, job: dict[str, Any], device: torch.device) -> dict[str, Any]:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        for _ in range(int(job["warmup"])):
            model(x)
        sync()
        times: list[int] = []
        clock = time.perf_counter_ns
        stop = clock() + int(float(job["max_seconds"]) * 1e9)
        for _ in range(int(job["repeats"])):
            t0 = clock()
            model(x)
            sync()
            t1 = clock()
            times.append(t1 - t0)
            if t1 > stop and len(times) >= 3:  # a slow model: fewer runs rather than a timeout
                break
    ms = np.asarray(times, np.float64) / 1e6
    median = float(np.median(ms))
    q1, q3 = (float(v) for v in np.percentile(ms, [25, 75]))
    return {"engine": f"torch-{device.type}", "batch": batch, "median_ms": median, "q1_ms": q1, "q3_ms": q3,
            "mad_ms": float(np.median(np.abs(ms - median))), "min_ms": float(ms.min()), "runs": len(times),
            "warmup": int(job["warmup"]), "threads": torch.get_num_threads()}


def main() -> None:
    job = json.loads(sys.argv[1])
    device = torch.device(job["device"])
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    warnings.simplefilter("ignore")  # TorchScript's deprecation notice is not the model's failure
    if device.type == "cuda":
        torch.zeros(1, device=device)  # the driver and context, before the limits
    _confine(job, gpu=device.type == "cuda")
    latency, errors = [], {}
    try:
        model = torch.jit.load(io.BytesIO(_read(job["model"], int(job["max_bytes"]))), map_location=device).eval()
    except MemoryError:
        model, errors = None, {str(b): "out of memory loading the model" for b, _, _ in job["inputs"]}
    except Exception as e:  # not a TorchScript archive, or one this torch cannot load
        why = " ".join(f"cannot load the traced model: {type(e).__name__}: {e}".split())[:400]
        model, errors = None, {str(b): why for b, _, _ in job["inputs"]}
    for batch, shape, dtype in job["inputs"] if model is not None else ():
        try:
            latency.append(measure(model, _input(shape, dtype, device), int(batch), job, device))
        except MemoryError:
            errors[str(batch)] = "out of memory"
        except Exception as e:  # the traced graph refuses this batch size: no figure for it
            errors[str(batch)] = " ".join(f"{type(e).__name__}: {e}".split())[:400]
    sys.stdout.write(json.dumps({"latency": latency, "errors": errors}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
