"""Shared fixtures for the evaluator suites: one real, sandboxed Evaluator per isolation backend.

Every module asks for `backend` (parametrized over bwrap and unshare, so both isolation
paths run explicitly) and builds its own module-scoped Evaluator with `open_evaluator`,
which keeps sandbox start-ups (a few seconds each) to one per backend per module.
Candidates are source strings written to the test's tmp folder by `write_candidate`.
The hostile suites (test_hostile_*.py) share the `evaluator` fixture at the end of this
file; the other modules define their own `evaluator`, which overrides it.
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proctree import descendants

from agentnas.evaluator import EvalOptions, Evaluator, IsolationUnavailable, get_isolation
from agentnas.records import EvalResult
from agentnas.tasks import get_task

# A small MLP that reaches about 0.95 val accuracy on digits in well under a second.
GOOD_MODEL = '''
import math

import torch
from torch import nn


def build_model(input_shape, num_classes):
    return nn.Sequential(
        nn.Flatten(),                                   # (B, 64)
        nn.Linear(math.prod(input_shape), 64),          # (B, 64)
        nn.ReLU(),
        nn.Linear(64, num_classes),                     # (B, num_classes)
    )
'''

# Accuracy the good model must reach for the evaluator to count as "still serving".
SENSIBLE_ACCURACY = 0.85


def _backend_params() -> list[Any]:
    return [pytest.param("bwrap", marks=pytest.mark.bwrap), pytest.param("unshare")]


@pytest.fixture(scope="module", params=_backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    """The isolation backend under test; skipped (with the reason) where it cannot run."""
    name = str(request.param)
    if name == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    try:
        get_isolation(name)
    except IsolationUnavailable as e:
        pytest.skip(f"{name} isolation is unavailable here: {e}")
    return name


# Modules whose behaviour does not depend on the isolation backend (how a failure is typed, how
# recipes train, how token models are scored): `make test` runs them on the backend `auto` picks,
# `make test-slow` on the other. The isolation suites (hostile, limits, scratch, public data,
# between candidates) run on both in `make test`.
BACKEND_NEUTRAL = {"test_failures.py", "test_recipes.py", "test_causality.py"}
HERE = Path(__file__).parent


def _default_backend() -> str | None:
    try:
        return get_isolation("auto").name
    except IsolationUnavailable:
        return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    default = None
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (item.path.parent != HERE or item.path.name not in BACKEND_NEUTRAL or callspec is None
                or "backend" not in callspec.params):
            continue
        default = default or _default_backend() or "unshare"
        if callspec.params["backend"] != default:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("agentnas-cache")


def open_evaluator(backend: str, cache_dir: Path, out_dir: Path | None = None,
                   **options: Any) -> Evaluator:
    """A started Evaluator on the digits task (one slot unless told otherwise)."""
    opts = {"isolation": backend, "slots": 1, "timeout_s": 30.0, "memory_limit_gb": 1.0,
            "device": "cpu", **options}
    evaluator = Evaluator(get_task("digits"), EvalOptions(**opts), cache_dir=cache_dir,
                          out_dir=out_dir)
    try:
        evaluator.warm_up()
    except BaseException:
        evaluator.close()
        raise
    return evaluator


def write_candidate(folder: Path, source: str, name: str = "model.py", **subs: Any) -> Path:
    """Write a candidate file; each `__KEY__` in `source` becomes `repr(subs['KEY'])`."""
    text = textwrap.dedent(source)
    for key, value in subs.items():
        text = text.replace(f"__{key}__", repr(value))
    left = re.findall(r"__[A-Z][A-Z0-9_]*__", text)
    assert not left, f"unfilled placeholders {left}"
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def candidate(tmp_path: Path) -> Any:
    """`candidate(source, **subs)` -> path of a new candidate file in this test's tmp folder."""
    counter = iter(range(1_000_000))

    def make(source: str, **subs: Any) -> Path:
        return write_candidate(tmp_path, source, f"candidate_{next(counter)}.py", **subs)

    return make


def assert_still_serving(evaluator: Evaluator, folder: Path) -> EvalResult:
    """The evaluator trains and honestly scores a normal candidate after whatever came before."""
    path = write_candidate(folder, GOOD_MODEL, "good_model.py")
    result = evaluator.evaluate_one(path)
    assert result.ok, f"a normal candidate failed after an attack: {result.failure} {result.log_tail}"
    assert result.metrics is not None
    assert result.metrics.val_accuracy > SENSIBLE_ACCURACY, result.metrics
    assert result.metrics.test_accuracy > SENSIBLE_ACCURACY, result.metrics
    return result


@pytest.fixture
def host_processes() -> Iterator[set[int]]:
    """The processes this test session had running below it before the test."""
    yield descendants(os.getpid())


def sandbox_unchanged(ev: Evaluator, starts_before: int, host_before: set[int]) -> None:
    """The zygote was not restarted and no process appeared on the host below the tests."""
    assert ev.sandboxes[0].starts == starts_before, "the attack took the sandbox down"
    assert ev.sandboxes[0].alive
    assert descendants(os.getpid()) == host_before


def scratch_is_empty(ev: Evaluator) -> None:
    left = sorted(p.name for p in ev.sandboxes[0].scratch.iterdir())
    assert left == [], f"files outlived the evaluation in the scratch folder: {left}"


# --------------------------------------------------------------------------- hostile suites

FILE_LIMIT_MB = 4
RUN_ID = uuid.uuid4().hex[:12]
SECRETS = {
    "AGENTNAS_TEST_SECRET_KEY": f"agentnas-secret-key-{RUN_ID}",
    "OPENAI_API_KEY": f"sk-openai-{RUN_ID}",
    "HF_TOKEN": f"hf-token-{RUN_ID}",
    # No deny-listed word in this name: only the allow-list keeps it out.
    "AGENTNAS_TEST_DSN": f"postgres://admin:hunter2-{RUN_ID}@db.internal/prod",
}


@pytest.fixture(scope="module")
def evaluator(backend: str, cache_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluator]:
    """One Evaluator per backend and module, started while the parent's environment holds secrets."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in SECRETS.items():
            env.setenv(key, value)
        ev = open_evaluator(backend, cache_dir, out_dir=tmp_path_factory.mktemp("kept"),
                            timeout_s=30.0, memory_limit_gb=1.0, file_size_limit_mb=FILE_LIMIT_MB)
        try:
            yield ev
        finally:
            ev.close()
