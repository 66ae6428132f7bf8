"""Helpers shared by the memory tests (a uniquely named module; see tests/encode/encode_support.py)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from agentnas.encode.embed import TEXT_DIM
from agentnas.memory.arch import ARCH_DIM
from agentnas.records import ExperimentRecord, ExperimentStatus, Failure, FailureKind, Metrics

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def word_embedder(texts: Sequence[str]) -> np.ndarray:
    """A deterministic stand-in for MiniLM: a bag of hashed words, unit norm, so texts that
    share words are near each other (the contract tests need meaning-like neighbours, not
    the real model's seconds of loading)."""
    out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-z0-9]+", text.lower()) or ["empty"]:
            seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
            out[row] += np.random.default_rng(seed).standard_normal(TEXT_DIM).astype(np.float32)
        out[row] /= max(float(np.linalg.norm(out[row])), 1e-12)
    return out


def unit(rng: np.random.Generator, dim: int) -> list[float]:
    v = rng.standard_normal(dim)
    return [float(x) for x in v / np.linalg.norm(v)]


def make_record(i: int, rng: np.random.Generator | None = None, *, task: str = "mnist1d", run_id: str = "run-a",
                arch: bool = True, status: ExperimentStatus | None = None, **fields: object) -> ExperimentRecord:
    """Experiment `e{i}` with plausible values: every third one failed, arch vectors random."""
    rng = rng or np.random.default_rng(i)
    status = status or (ExperimentStatus.FAILED if i % 3 == 2 else ExperimentStatus.OK)
    ok = status == ExperimentStatus.OK
    idea = ["dilated", "wider", "residual", "gated"][i % 4]
    base: dict[str, object] = {
        "id": f"e{i}", "run_id": run_id, "task": task, "status": status, "parent_id": f"e{i - 1}" if i else None,
        "hypothesis_id": f"h{i % 4}",
        "hypothesis": f"hypothesis {i}: try {idea} convolutions for the signal",
        "code": f"def build_model(input_shape, num_classes):\n    return {i}\n",
        "onnx_text_hash": hashlib.sha256(f"graph {i}".encode()).hexdigest() if arch else None,
        "metrics": Metrics(val_accuracy=round(0.5 + i / 100, 4), test_accuracy=round(0.49 + i / 100, 4))
        if ok else None,
        "failure": None if ok else Failure(kind=FailureKind.SHAPE, message=f"bad shape {i}"),
        "lesson": f"lesson {i}", "params": 1000 + i,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
        "arch_embedding": [float(x) * 3 for x in unit(rng, ARCH_DIM)] if arch else None,
    }
    base.update(fields)
    return ExperimentRecord.model_validate(base)


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.Popen[str]:
    """Start `python -c code args...` in its own session, stdout piped line by line."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)


def wait_for_line(proc: subprocess.Popen[str], prefix: str) -> str:
    """Read the process's stdout until a line starting with `prefix`; fail if it exits first."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"process exited ({proc.wait()}) before printing {prefix!r}: "
                         f"{proc.stderr.read() if proc.stderr else ''}")
