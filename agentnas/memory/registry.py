"""`open_memory(spec)`: the one place a memory backend is chosen, from a path or a URL.

- no spec: the embedded store at `<cache_dir>/memory` (cache_dir from the config,
  `~/.cache/agentnas` by default), shared by every run on this machine;
- a path: an embedded Chroma store in that folder (created on first write);
- `http://HOST:PORT` (or https): a `chroma run` server, shared by processes and machines.

An embedded store opened for writing is an `EmbeddedStore` (embedded.py): it holds the
store lock only in short sections, so any number of runs share it. Opened for reading
(`read_only`), it is read in place under the lock when the lock comes within a few
seconds; otherwise (a long holder, or a folder this process cannot write) it is read
from a snapshot (snapshot.py). Readers never write the store's files, nor open the live
files while another process owns them (Chroma rewrites index files even when a second
client only reads).
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from agentnas.memory.base import EmptyStore, MemoryStore
from agentnas.memory.chroma import SQLITE_FILE, ChromaStore, chroma_settings, open_chroma
from agentnas.memory.embedded import MARKER_FILE, EmbeddedStore
from agentnas.memory.lock import (
    GATE_FILE,
    LOCK_FILE,
    WAIT_FILE,
    MemorySpecError,
    MemoryStoreError,
    StoreLock,
    StoreLockedError,
)
from agentnas.memory.queue import QUEUE_DIR
from agentnas.memory.snapshot import read_snapshot
from agentnas.memory.text import TextEmbedder, minilm_embedder
from agentnas.paths import default_cache_dir

READ_WAIT_S = 3.0  # a reader waits this long for a run's section to end before it copies the store instead


def default_memory_path(cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "memory"


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def _parse_url(spec: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a server URL, or `MemorySpecError`."""
    try:
        url = urlparse(spec)
        port = url.port or (443 if url.scheme == "https" else 8000)
    except ValueError as e:  # e.g. "Invalid IPv6 URL", a port out of range
        raise MemorySpecError(f"--memory {spec!r}: {e}; expected http://HOST:PORT") from e
    if not url.hostname or url.path not in ("", "/") or url.query:
        raise MemorySpecError(f"--memory {spec!r}: expected http://HOST:PORT")
    return url.scheme, url.hostname, port


def check_memory_spec(spec: str | Path | None) -> None:
    """Raise `MemorySpecError` when `spec` cannot name a store, without opening anything:
    for commands that check their flags before they start work."""
    text = str(spec) if spec is not None else ""
    if is_url(text):
        _parse_url(text)
    elif "://" in text:
        raise MemorySpecError(f"--memory {text!r}: expected a folder or http://HOST:PORT")
    elif text:
        path = Path(text).expanduser()
        if path.exists() and not path.is_dir():
            raise MemorySpecError(f"--memory {path}: not a folder")


def _server(spec: str, embedder: TextEmbedder | None, read_only: bool, timeout_s: float) -> ChromaStore:
    scheme, host, port = _parse_url(spec)
    base = f"{scheme}://{host}:{port}"
    # Our own heartbeat first, with a timeout: the client would otherwise wait on a dead host.
    try:
        with urllib.request.urlopen(f"{base}/api/v2/heartbeat", timeout=timeout_s) as reply:  # noqa: S310
            reply.read()
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise MemoryStoreError(f"cannot reach the Chroma server at {base} ({e}); start one with "
                               f"`chroma run --path DIR --host {host} --port {port}`") from e
    import chromadb

    client = chromadb.HttpClient(host=host, port=port, ssl=scheme == "https",
                                 settings=chroma_settings())  # type: ignore[arg-type]
    return ChromaStore(client, backend="server", location=base, embedder=embedder, read_only=read_only)


def _check_folder(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise MemorySpecError(f"--memory {path}: not a folder")
    if path.is_dir():
        try:
            names = {p.name for p in path.iterdir()}
        except OSError as e:
            raise MemorySpecError(f"cannot read the memory store at {path}: {e.strerror or e}") from e
        if names - {LOCK_FILE, GATE_FILE, WAIT_FILE, QUEUE_DIR} and not names & {MARKER_FILE, SQLITE_FILE}:
            raise MemorySpecError(f"--memory {path}: the folder is not empty and holds no agentnas memory; "
                                  f"name a new or empty folder")


def _reader(path: Path, embedder: TextEmbedder | None, wait_s: float) -> MemoryStore:
    if not (path / SQLITE_FILE).exists():
        return EmptyStore(str(path))
    lock = StoreLock(path)
    try:
        lock.acquire("read", wait_s=min(wait_s, READ_WAIT_S))
    except StoreLockedError as e:
        who = e.holder.describe() if e.holder else "another process"
        return read_snapshot(path, embedder, f"read from a snapshot: the store is in use by {who}")
    except OSError:  # the folder cannot be written (read-only): nobody writes it, a copy reads it safely
        return read_snapshot(path, embedder, "")
    try:
        return open_chroma(path, embedder=embedder, lock=lock, read_only=True, store_dir=path)
    except MemoryStoreError:
        lock.release()
    # Some file in the folder cannot be written though the lock could: read a copy instead.
    return read_snapshot(path, embedder, "")


def _embedded(path: Path, embedder: TextEmbedder | None, read_only: bool, wait_s: float) -> MemoryStore:
    _check_folder(path)
    if read_only:
        return _reader(path, embedder, wait_s)
    return EmbeddedStore(path, embedder, wait_s=wait_s).open()


def open_memory(spec: str | Path | None = None, *, cache_dir: Path | None = None, read_only: bool = False,
                embedder: TextEmbedder | None = None, wait_s: float = 60.0, timeout_s: float = 5.0) -> MemoryStore:
    """Open the memory named by `spec` (see the module docstring). `embedder` computes the
    hypothesis vectors that records lack (default: the offline MiniLM, cached under
    `cache_dir`); `wait_s` is how long a call waits for another process's hold on an
    embedded store (a reader waits at most a few seconds, then reads a snapshot);
    `timeout_s` bounds the server heartbeat."""
    if embedder is None:
        embedder = minilm_embedder(cache_dir or default_cache_dir())
    text = str(spec) if spec is not None else ""
    if is_url(text):
        return _server(text, embedder, read_only, timeout_s)
    check_memory_spec(text)
    path = Path(text).expanduser() if text else default_memory_path(cache_dir)
    with contextlib.suppress(OSError):
        path = path.resolve()
    return _embedded(path, embedder, read_only, wait_s)
