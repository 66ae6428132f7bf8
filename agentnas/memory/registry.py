"""`open_memory(spec)`: the one place a memory backend is chosen, from a path or a URL.

- no spec: the embedded store at `<cache_dir>/memory` (cache_dir from the config,
  `~/.cache/agentnas` by default), shared by every run on this machine;
- a path: an embedded Chroma store in that folder (created on first write);
- `http://HOST:PORT` (or https): a `chroma run` server, shared by processes and machines.

An embedded store is opened by one process at a time (lock.py). Opened for writing, a
busy store raises `StoreLockedError` naming its holder. Opened for reading (`read_only`),
a busy store is read from a snapshot: the SQLite file copied with SQLite's backup API and
the index folders copied, under the write gate so no write is half done, into a temporary
folder that is removed on close. Readers never open the live files of a store another
process owns (Chroma rewrites index files even when a second client only reads).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from agentnas.memory.base import EmptyStore, MemoryStore
from agentnas.memory.chroma import ChromaStore
from agentnas.memory.lock import GATE_FILE, LOCK_FILE, MemoryStoreError, StoreLock, read_gate, read_holder
from agentnas.memory.text import TextEmbedder, minilm_embedder
from agentnas.paths import default_cache_dir

MARKER_FILE = "agentnas-memory.json"
SQLITE_FILE = "chroma.sqlite3"
_OURS = {MARKER_FILE, SQLITE_FILE, LOCK_FILE, GATE_FILE}


class MemorySpecError(MemoryStoreError):
    """`--memory` names no usable store (bad URL, a file, a folder that is not a memory)."""


def default_memory_path(cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "memory"


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def _settings() -> object:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def _server(spec: str, embedder: TextEmbedder | None, read_only: bool, timeout_s: float) -> ChromaStore:
    url = urlparse(spec)
    try:
        port = url.port or (443 if url.scheme == "https" else 8000)
    except ValueError as e:
        raise MemorySpecError(f"--memory {spec!r}: {e}") from e
    if not url.hostname or url.path not in ("", "/") or url.query:
        raise MemorySpecError(f"--memory {spec!r}: expected http://HOST:PORT")
    base = f"{url.scheme}://{url.hostname}:{port}"
    # Our own heartbeat first, with a timeout: the client would otherwise wait on a dead host.
    try:
        with urllib.request.urlopen(f"{base}/api/v2/heartbeat", timeout=timeout_s) as reply:  # noqa: S310
            reply.read()
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise MemoryStoreError(f"cannot reach the Chroma server at {base} ({e}); start one with "
                               f"`chroma run --path DIR --host {url.hostname} --port {port}`") from e
    import chromadb

    client = chromadb.HttpClient(host=url.hostname, port=port, ssl=url.scheme == "https",
                                 settings=_settings())  # type: ignore[arg-type]
    return ChromaStore(client, backend="server", location=base, embedder=embedder, read_only=read_only)


def _check_folder(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise MemorySpecError(f"--memory {path}: not a folder")
    if path.is_dir():
        names = {p.name for p in path.iterdir()}
        if names and not names & {MARKER_FILE, SQLITE_FILE}:
            raise MemorySpecError(f"--memory {path}: the folder is not empty and holds no agentnas memory; "
                                  f"name a new or empty folder")


def _snapshot(path: Path) -> Path:
    """Copy the store, consistently, into a new temporary folder."""
    tmp = Path(tempfile.mkdtemp(prefix="agentnas-memory-snapshot-"))
    try:
        with read_gate(path):
            source = sqlite3.connect(f"file:{path / SQLITE_FILE}?mode=ro", uri=True, timeout=30)
            target = sqlite3.connect(tmp / SQLITE_FILE)
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
            for child in path.iterdir():
                if child.is_dir():
                    shutil.copytree(child, tmp / child.name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _embedded(path: Path, embedder: TextEmbedder | None, read_only: bool, wait_s: float) -> MemoryStore:
    import chromadb

    _check_folder(path)
    if read_only and not (path / SQLITE_FILE).exists():
        return EmptyStore(str(path))
    lock = StoreLock(path)
    if not read_only:
        lock.acquire("write", wait_s=wait_s)
    else:
        try:
            lock.acquire("read")
        except MemoryStoreError:
            holder = read_holder(path)
            snapshot = _snapshot(path)
            client = chromadb.PersistentClient(path=str(snapshot), settings=_settings())  # type: ignore[arg-type]
            note = f"read from a snapshot: the store is in use by {holder.describe() if holder else 'another process'}"
            return ChromaStore(client, backend="embedded", location=str(path), embedder=embedder, read_only=True,
                               note=note, on_close=lambda: shutil.rmtree(snapshot, ignore_errors=True))
    try:
        marker = path / MARKER_FILE
        if not read_only and not marker.exists():
            marker.write_text(json.dumps({"format": "agentnas experiment memory (chroma)", "schema": 1}) + "\n",
                              encoding="utf-8")
        client = chromadb.PersistentClient(path=str(path), settings=_settings())  # type: ignore[arg-type]
        return ChromaStore(client, backend="embedded", location=str(path), embedder=embedder, lock=lock,
                           read_only=read_only, store_dir=path)
    except BaseException:
        lock.release()
        raise


def open_memory(spec: str | Path | None = None, *, cache_dir: Path | None = None, read_only: bool = False,
                embedder: TextEmbedder | None = None, wait_s: float = 15.0, timeout_s: float = 5.0) -> MemoryStore:
    """Open the memory named by `spec` (see the module docstring). `embedder` computes the
    hypothesis vectors that records lack (default: the offline MiniLM, cached under
    `cache_dir`); `wait_s` is how long a writer waits for a reader of an embedded store;
    `timeout_s` bounds the server heartbeat."""
    if embedder is None:
        embedder = minilm_embedder(cache_dir or default_cache_dir())
    text = str(spec) if spec is not None else ""
    if is_url(text):
        return _server(text, embedder, read_only, timeout_s)
    if "://" in text:
        raise MemorySpecError(f"--memory {text!r}: expected a folder or http://HOST:PORT")
    path = Path(text).expanduser() if text else default_memory_path(cache_dir)
    with contextlib.suppress(OSError):
        path = path.resolve()
    return _embedded(path, embedder, read_only, wait_s)
