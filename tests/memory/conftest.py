"""Fixtures of the memory tests: stores of both backends, one Chroma server per module."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from memory_support import word_embedder

from agentnas.bench.memory import start_server, stop_server
from agentnas.memory import MemoryStore, open_memory
from agentnas.memory.chroma import ARCHITECTURES, EXPERIMENTS


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`chroma run --path TMP --host 127.0.0.1 --port FREE` for the module; its URL. The
    process group is stopped on teardown."""
    proc, url = start_server(tmp_path_factory.mktemp("chroma-server"))
    try:
        yield url
    finally:
        stop_server(proc)
    assert proc.poll() is not None


def _clear_server(url: str) -> None:
    import chromadb
    from chromadb.config import Settings

    host, port = url.removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port), settings=Settings(anonymized_telemetry=False))
    for name in (EXPERIMENTS, ARCHITECTURES):
        with contextlib.suppress(Exception):  # absent already: nothing to clear
            client.delete_collection(name)


@pytest.fixture(params=["embedded", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryStore]:
    """An empty store of each backend, with the word embedder."""
    if request.param == "embedded":
        spec = str(tmp_path / "memory")
    else:
        spec = request.getfixturevalue("chroma_server")
        _clear_server(spec)
    opened = open_memory(spec, embedder=word_embedder)
    try:
        yield opened
    finally:
        opened.close()
        if request.param == "server":
            _clear_server(spec)
