"""Inference latency of an exported graph through ONNX Runtime on CPU (sandbox/ort_latency.py),
and of the model traced to TorchScript through torch on the evaluation device
(sandbox/torch_latency.py), measured on the trusted side of the boundary, in a confined process.

The graph came from the candidate, so parsing and running it is treated like the candidate's
own code: the measuring process runs under the evaluator's isolation backend (no network,
read-only filesystem, the model files and the sandbox code only, scrubbed environment) with
an address-space, CPU-time and file limit, the seccomp filter of the sandbox, and a
wall-clock timeout that kills its whole process group. Whatever the graph does, the caller
gets a `LatencyReport` or a `LatencyError` with one line saying why, never a crash.

One thread, sequential execution, the median of repeated runs after a warm-up: figures that
repeat on a shared machine and compare across candidates (not the fastest the CPU can do).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentnas.config import CostsConfig
from agentnas.evaluator.isolation import Isolation, Mount, SandboxSpec
from agentnas.evaluator.pythonview import python_mounts
from agentnas.evaluator.sandbox import sandbox_env
from agentnas.paths import shipped_dir
from agentnas.records import Latency

# What the measuring process may import (and what these require): nothing of the task's.
RUNTIME_DISTRIBUTIONS = ("onnxruntime", "numpy")
TORCH_DISTRIBUTIONS = ("torch", "numpy")
TORCHSCRIPT_FILE = "model.ts"  # the traced model, beside model.onnx (the candidate's sandbox writes it)
MAX_MODEL_BYTES = 512 << 20
_SIGNALS = {int(s): s.name for s in signal.Signals}


class LatencyError(RuntimeError):
    """No latency figure at all: the process failed, timed out or was killed (message says which)."""


@dataclass(frozen=True)
class LatencyReport:
    """The figures measured, by batch size, and why the others are missing."""

    latency: list[Latency]
    errors: dict[int, str] = field(default_factory=dict)


def measure_latency(models: dict[int, Path], config: CostsConfig, isolation: Isolation) -> LatencyReport:
    """Time each `models[batch]` (an ONNX file whose input has that batch size) under `config`.

    The files are copied into a fresh folder that is all the measuring process sees of this
    machine's files, besides the interpreter, onnxruntime and the sandbox code."""
    files = {f"b{batch}.onnx": path for batch, path in models.items()}
    return _measure("ort_latency.py", RUNTIME_DISTRIBUTIONS, files, config, isolation, (),
                    lambda inside: {"models": [[b, f"{inside}/b{b}.onnx"] for b in sorted(models)]})


def measure_torch_latency(archive: Path, inputs: list[tuple[int, list[int], str]], device: str,
                          config: CostsConfig, isolation: Isolation) -> LatencyReport:
    """Time the TorchScript `archive` (traced in the candidate's sandbox) through torch on
    `device` ("cpu" or "cuda"), one entry per (batch, input shape with that batch, dtype) of
    `inputs`. Confined as ONNX Runtime's measurement is; on "cuda" the GPU's device files are
    the only ones added to what the process sees."""
    devices = tuple(sorted(glob.glob("/dev/nvidia*"))) if device.startswith("cuda") else ()
    return _measure("torch_latency.py", TORCH_DISTRIBUTIONS, {TORCHSCRIPT_FILE: archive}, config, isolation, devices,
                    lambda inside: {"model": f"{inside}/{TORCHSCRIPT_FILE}", "device": device,
                                    "inputs": [[b, list(shape), dtype] for b, shape, dtype in inputs]})


def _measure(script: str, distributions: tuple[str, ...], files: dict[str, Path], config: CostsConfig,
             isolation: Isolation, devices: tuple[str, ...], describe: Callable[[str], dict[str, Any]]
             ) -> LatencyReport:
    with tempfile.TemporaryDirectory(prefix="agentnas-latency-") as tmp:
        job_dir, private = Path(tmp) / "job", Path(tmp) / "private"
        job_dir.mkdir()
        private.mkdir()
        for name, path in files.items():
            shutil.copyfile(path, job_dir / name)
        relocate = isolation.relocates
        inside = "/job" if relocate else str(job_dir)
        code = shipped_dir("sandbox")
        code_inside = "/sandbox" if relocate else str(code)
        job = {**describe(inside), "warmup": config.warmup, "repeats": config.repeats,
               "max_seconds": config.max_seconds, "max_bytes": MAX_MODEL_BYTES,
               "memory_limit_bytes": config.memory_limit_mb << 20, "cpu_seconds": int(config.timeout_s) + 1}
        spec = SandboxSpec(
            mounts=(*python_mounts(distributions), Mount(code, code_inside), Mount(job_dir, inside)),
            env=sandbox_env(dict(os.environ), inside, cuda=bool(devices)),
            argv=(sys.executable, "-I", f"{code_inside}/{script}", json.dumps(job)),
            chdir=inside, private_dir=private, devices=devices)
        stdout, stderr, code_ = _run(isolation.command(spec), spec, relocate, config.timeout_s)
    return _report(stdout, stderr, code_)


def _run(argv: list[str], spec: SandboxSpec, relocate: bool, timeout_s: float) -> tuple[bytes, bytes, int]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=spec.env, cwd=None if relocate else spec.chdir, start_new_session=True,
                            close_fds=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise LatencyError(f"the latency measurement took longer than {timeout_s:g} s and was killed") from None
    except BaseException:  # Ctrl-C: the process group goes with us
        _kill(proc)
        raise
    return stdout, stderr, proc.returncode


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=10)


def _report(stdout: bytes, stderr: bytes, code: int) -> LatencyReport:
    if code != 0:
        sig = -code if code < 0 else None
        known = {int(signal.SIGKILL): "killed by SIGKILL (most likely over its memory limit)",
                 int(signal.SIGXCPU): "over its CPU-time limit",
                 int(signal.SIGSYS): "killed for a forbidden system call"}
        why = f"exited with code {code}" if sig is None else known.get(sig, f"killed by {_SIGNALS.get(sig, sig)}")
        tail = " ".join(stderr.decode(errors="replace").split())[-300:]
        raise LatencyError(f"the latency measurement {why}" + (f": {tail}" if tail and sig is None else ""))
    try:
        reply = json.loads(stdout.strip().splitlines()[-1])
        latency = [Latency.model_validate(x) for x in reply["latency"]]
        errors = {int(k): str(v)[:400] for k, v in dict(reply["errors"]).items()}
    except (IndexError, KeyError, TypeError, ValueError, ValidationError) as e:
        raise LatencyError(f"the latency measurement gave no readable answer ({type(e).__name__})") from None
    return LatencyReport(latency=latency, errors=errors)
