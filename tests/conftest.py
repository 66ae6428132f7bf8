"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentnas.space import bench_data_dir


@pytest.fixture(scope="session")
def bench_data() -> Path:
    """The shared benchmark tables folder; tests that need it skip (with the reason) without it."""
    try:
        return bench_data_dir()
    except FileNotFoundError as e:
        pytest.skip(f"benchmark tables not found: {e}")
