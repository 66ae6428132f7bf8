"""The sandbox's limits, enforced for real on every backend: wall clock, memory, CPU time.

Each limit is checked from the outside (elapsed time measured here, the typed result) and
the evaluator must keep serving afterwards without restarting its sandbox.
"""

from __future__ import annotations

import re
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentnas.evaluator import Evaluator
from agentnas.records import FailureKind

from .conftest import GOOD_MODEL, assert_still_serving, open_evaluator

TIMEOUT_S = 3.0
MARGIN_S = 2.0  # killing the child and replying; generous for a loaded 2-core CI machine
MEMORY_LIMIT_GB = 0.5
FILE_LIMIT_MB = 8


@pytest.fixture(scope="module")
def evaluator(backend: str, cache_dir: Path) -> Iterator[Evaluator]:
    with open_evaluator(backend, cache_dir, timeout_s=TIMEOUT_S, memory_limit_gb=MEMORY_LIMIT_GB,
                        file_size_limit_mb=FILE_LIMIT_MB) as ev:
        yield ev


LOOP = GOOD_MODEL + '''
import time

_build = build_model
calls = [0]

def spin():
    while True:
        pass

if __WHERE__ == "import":
    spin()

def build_model(input_shape, num_classes):
    if __WHERE__ == "build":
        spin()
    if __WHERE__ == "sleep":
        time.sleep(1000)
    model = _build(input_shape, num_classes)

    def hook(*_):
        calls[0] += 1
        if __WHERE__ == "forward" or (__WHERE__ == "training" and calls[0] > 5):
            spin()

    model.register_forward_hook(hook)
    return model
'''


@pytest.mark.parametrize("where", ["import", "build", "sleep", "forward", "training"])
def test_an_endless_candidate_times_out_within_a_small_margin(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, where: str) -> None:
    starts = evaluator.sandboxes[0].starts
    path = candidate(LOOP, WHERE=where)
    t0 = time.monotonic()
    result = evaluator.evaluate_one(path)
    elapsed = time.monotonic() - t0

    assert result.failure is not None and result.failure.kind == FailureKind.TIMEOUT, result.failure
    assert "wall-clock" in result.failure.message
    assert TIMEOUT_S - 0.05 <= result.wall_seconds < TIMEOUT_S + MARGIN_S
    assert elapsed < TIMEOUT_S + MARGIN_S
    assert evaluator.sandboxes[0].starts == starts  # only the candidate's process was killed
    assert_still_serving(evaluator, tmp_path)


CPU_BURN = '''
import resource

# Lowering the soft limit is allowed; one more second of CPU time is then all this
# process gets, well within the wall-clock limit.
used = resource.getrusage(resource.RUSAGE_SELF)
spent = int(used.ru_utime + used.ru_stime)
resource.setrlimit(resource.RLIMIT_CPU, (spent + 1, resource.getrlimit(resource.RLIMIT_CPU)[1]))
while True:
    pass
'''


def test_exceeding_the_cpu_time_limit_is_a_timeout(backend: str, cache_dir: Path, candidate: Any,
                                                  tmp_path: Path) -> None:
    # A wall clock far beyond the one CPU second the candidate allows itself: on a loaded
    # machine a CPU second takes several wall seconds, and the CPU limit must still be what ends it.
    with open_evaluator(backend, cache_dir, timeout_s=60.0, memory_limit_gb=MEMORY_LIMIT_GB,
                        file_size_limit_mb=FILE_LIMIT_MB) as evaluator:
        result = evaluator.evaluate_one(candidate(CPU_BURN))

        assert result.failure is not None and result.failure.kind == FailureKind.TIMEOUT, result.failure
        assert "CPU-time" in result.failure.message  # the CPU limit, not the wall clock, ended it
        assert_still_serving(evaluator, tmp_path)


RAISE_LIMITS = '''
import resource

raised = []
for name in ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE"):
    res = getattr(resource, name)
    print("LIMIT", name, *resource.getrlimit(res), flush=True)
    try:
        resource.setrlimit(res, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        raised.append(name)
    except (ValueError, OSError):
        pass
print("RAISED", raised, flush=True)
hoard = bytearray(int(__BYTES__))  # above the memory limit: must fail unless AS was raised
''' + GOOD_MODEL


def test_a_candidate_cannot_raise_its_own_limits(evaluator: Evaluator, candidate: Any,
                                                 tmp_path: Path) -> None:
    path = candidate(RAISE_LIMITS, BYTES=1.5 * MEMORY_LIMIT_GB * 2**30)
    result = evaluator.evaluate_one(path)

    assert result.failure is not None and result.failure.kind == FailureKind.MEMORY, result.failure
    assert "RAISED []" in result.log_tail
    limits = {m[1]: (int(m[2]), int(m[3]))
              for m in re.finditer(r"LIMIT (\w+) (-?\d+) (-?\d+)", result.log_tail)}
    assert limits["RLIMIT_FSIZE"] == (FILE_LIMIT_MB << 20, FILE_LIMIT_MB << 20)
    assert all(hard != resource.RLIM_INFINITY for _, hard in limits.values())
    # The soft CPU limit is the configured one, and below the hard one: the kernel sends
    # SIGKILL at the hard limit, so only a soft limit below it delivers SIGXCPU (a timeout).
    soft, hard = limits["RLIMIT_CPU"]
    assert soft == int(TIMEOUT_S * evaluator.options.threads_per_slot) + 5
    assert soft < hard <= soft + 5
    assert_still_serving(evaluator, tmp_path)


ALLOCATE = GOOD_MODEL + '''
import numpy as np

_build = build_model
held = []

def build_model(input_shape, num_classes):
    held.append(np.ones(int(__BYTES__), dtype=np.uint8))  # touched, so really resident
    return _build(input_shape, num_classes)
'''


def test_allocating_above_the_memory_limit_fails_as_memory(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    starts = evaluator.sandboxes[0].starts
    result = evaluator.evaluate_one(candidate(ALLOCATE, BYTES=1.2 * MEMORY_LIMIT_GB * 2**30))

    assert result.failure is not None and result.failure.kind == FailureKind.MEMORY, result.failure
    assert evaluator.sandboxes[0].starts == starts
    assert_still_serving(evaluator, tmp_path)


def test_allocating_below_the_memory_limit_works(evaluator: Evaluator, candidate: Any,
                                                 tmp_path: Path) -> None:
    result = evaluator.evaluate_one(candidate(ALLOCATE, BYTES=0.4 * MEMORY_LIMIT_GB * 2**30))

    assert result.ok, result.failure
    assert result.metrics is not None and result.metrics.val_accuracy > 0.85
    assert_still_serving(evaluator, tmp_path)
