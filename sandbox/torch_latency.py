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
import sys
import warnings
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import timing  # noqa: E402
import torch  # noqa: E402

_DTYPES = {"float32": torch.float32, "int64": torch.int64}


def _input(shape: list[int], dtype: str, device: torch.device) -> torch.Tensor:
    if dtype not in _DTYPES or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"input of shape {shape} and type {dtype} is not measured")
    if _DTYPES[dtype] == torch.int64:
        return torch.zeros(shape, dtype=torch.int64, device=device)
    g = torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=g).to(device)


def measure(model: Any, x: torch.Tensor, batch: int, job: dict[str, Any], device: torch.device) -> dict[str, Any]:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def call() -> None:
        model(x)
        sync()  # the model's time on the device, not the launch's

    with torch.inference_mode():
        figures = timing.time_calls(call, job)
    return {"engine": f"torch-{device.type}", "batch": batch, **figures, "threads": torch.get_num_threads()}


def main() -> None:
    job = json.loads(sys.argv[1])
    device = torch.device(job["device"])
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    warnings.simplefilter("ignore")  # TorchScript's deprecation notice is not the model's failure
    if device.type == "cuda":
        torch.zeros(1, device=device)  # the driver and context, before the limits
    # A GPU driver maps address space far beyond what it uses: there the address-space limit
    # would refuse the device, so the memory guard is the CPU-time limit and the timeout.
    gpu = device.type == "cuda"
    timing.confine(job, address_limit=not gpu, max_files=1024 if gpu else 64)
    latency, errors = [], {}
    try:
        archive = io.BytesIO(timing.read_capped(job["model"], int(job["max_bytes"])))
        model = torch.jit.load(archive, map_location=device).eval()
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
