"""Trusted-side scoring: read what the worker left in its job folder, safely, and compute
every metric from the predictions and the labels the sandbox never saw.

Files in the job folder were written by untrusted code: each is opened without following
symlinks (in its name or its folder's: the candidate can replace its job folder too), must
be a regular file, and is read up to a size limit.
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from agentnas.records import Failure, FailureKind, Metrics


class UntrustedFileError(ValueError):
    pass


def read_untrusted(path: Path, max_bytes: int, tail: bool = False) -> bytes:
    """Read a regular file the sandbox wrote: no symlinks, no FIFOs, at most `max_bytes`."""
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise UntrustedFileError(f"{path.name}: {e.strerror}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedFileError(f"{path.name} is not a regular file")
        if st.st_size > max_bytes and not tail:
            raise UntrustedFileError(f"{path.name} is {st.st_size} bytes (limit {max_bytes})")
        if tail and st.st_size > max_bytes:
            os.lseek(fd, st.st_size - max_bytes, os.SEEK_SET)
        chunks, left = [], max_bytes
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_worker_result(job_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(read_untrusted(job_dir / "result.json", 1 << 20))
    except (UntrustedFileError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def log_tail(job_dir: Path, n: int = 2000) -> str:
    try:
        return read_untrusted(job_dir / "log.txt", n, tail=True).decode(errors="replace")
    except UntrustedFileError:
        return ""


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def score_predictions(job_dir: Path, y_val: np.ndarray, y_test: np.ndarray,
                      num_classes: int) -> Metrics | Failure:
    """Accuracy and loss on val and test from the worker's logits, or why they are invalid."""
    limit = 64 * (len(y_val) + len(y_test)) * num_classes + (1 << 16)
    try:
        raw = read_untrusted(job_dir / "preds.npz", limit)
        with np.load(io.BytesIO(raw), allow_pickle=False) as f:
            val, test = np.asarray(f["val"]), np.asarray(f["test"])
    except (UntrustedFileError, KeyError, ValueError, OSError) as e:
        return Failure(kind=FailureKind.CRASH, message=f"no valid predictions: {e}")
    for name, logits, labels in (("val", val, y_val), ("test", test, y_test)):
        if logits.shape != (len(labels), num_classes) or not np.issubdtype(logits.dtype, np.floating):
            return Failure(kind=FailureKind.CRASH,
                           message=f"{name} predictions have shape {logits.shape} {logits.dtype}; "
                                   f"expected ({len(labels)}, {num_classes}) floats")
        if not np.isfinite(logits).all():
            return Failure(kind=FailureKind.NONFINITE_LOSS, message=f"{name} logits are not finite")
    return Metrics(
        val_accuracy=float((val.argmax(1) == y_val).mean()),
        test_accuracy=float((test.argmax(1) == y_test).mean()),
        val_loss=_cross_entropy(val, y_val), test_loss=_cross_entropy(test, y_test))
