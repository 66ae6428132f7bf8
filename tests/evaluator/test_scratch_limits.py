"""Limits the per-file and memory limits do not cover: the scratch folder's total size and
file count, and the number of threads. Each is enforced by the zygote while the candidate
runs, reported as a typed failure, and leaves the sandbox serving."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentnas.evaluator import Evaluator
from agentnas.records import FailureKind

from .conftest import GOOD_MODEL, assert_still_serving, open_evaluator

SCRATCH_MB, MAX_FILES, MAX_THREADS = 32, 2_000, 64


@pytest.fixture(scope="module")
def evaluator(backend: str, cache_dir: Path) -> Iterator[Evaluator]:
    with open_evaluator(backend, cache_dir, timeout_s=20.0, file_size_limit_mb=4, scratch_limit_mb=SCRATCH_MB,
                        max_files=MAX_FILES, max_threads=MAX_THREADS, memory_limit_gb=2.0) as ev:
        yield ev


MANY_BIG_FILES = GOOD_MODEL + '''
import os
chunk = b"x" * (1 << 20)
for i in range(10_000):                   # 3 MB per file: under the per-file limit
    with open(f"/scratch/fill-{i}", "wb") as f:
        for _ in range(3):
            f.write(chunk)
'''

MANY_SMALL_FILES = GOOD_MODEL + '''
import os
os.makedirs("many", exist_ok=True)
for i in range(1_000_000):
    open(f"many/{i}", "w").close()
'''

THREADS = GOOD_MODEL + '''
import threading, time
threading.stack_size(1 << 16)             # small stacks: the memory limit alone would not stop this
for _ in range(200):
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
time.sleep(60)
'''


@pytest.mark.parametrize(("attack", "words"), [(MANY_BIG_FILES, "MB"), (MANY_SMALL_FILES, "files"),
                                               (THREADS, "threads")])
def test_filling_the_scratch_folder_or_spawning_threads_is_stopped(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, attack: str, words: str) -> None:
    t0 = time.monotonic()
    result = evaluator.evaluate_one(candidate(attack))
    assert result.failure is not None and result.failure.kind == FailureKind.CRASH, result
    assert words in result.failure.message
    assert time.monotonic() - t0 < 15  # stopped by the monitor, not by the 20 s timeout
    assert not any(evaluator.sandboxes[0].scratch.iterdir())  # nothing left behind on the host
    assert_still_serving(evaluator, tmp_path)
