"""Fixtures for the LLM tests: a scripted OpenAI-compatible server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scripted_openai import ScriptedOpenAI


@pytest.fixture
def server() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as s:
        yield s
    assert s.errors == [], "the scripted server itself failed:\n" + "\n".join(s.errors)
