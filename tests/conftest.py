"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentnas.evaluator import Isolation, IsolationUnavailable, get_isolation
from agentnas.space import bench_data_dir


@pytest.fixture(scope="session")
def bench_data() -> Path:
    """The shared benchmark tables folder; tests that need it skip (with the reason) without it."""
    try:
        return bench_data_dir()
    except FileNotFoundError as e:
        pytest.skip(f"benchmark tables not found: {e}")


@pytest.fixture(scope="session")
def isolation() -> Isolation:
    """The isolation backend that works here (what confined measurements run under); the tests
    that need one skip where there is none."""
    try:
        return get_isolation("auto")
    except IsolationUnavailable as e:
        pytest.skip(f"no isolation here: {e}")
