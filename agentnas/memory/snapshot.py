"""A consistent copy of an embedded store, for reading it without touching its live files.

Chroma rewrites a store's index files even when a client only reads, so a process that
cannot take the store lock (another holds it for long) or cannot write the folder (it is
read-only) reads a copy: the SQLite file copied with SQLite's backup API and the index
folders copied, under the write gate (lock.py) so no write is half done, into a temporary
folder that is removed when the copy is closed. Making the copy writes nothing in the store.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

from agentnas.memory.chroma import SQLITE_FILE, ChromaStore, open_chroma
from agentnas.memory.lock import MemorySpecError, read_gate
from agentnas.memory.queue import QUEUE_DIR
from agentnas.memory.text import TextEmbedder


def copy_store(path: Path) -> Path:
    """Copy the store into a new temporary folder; `MemorySpecError` when it cannot be read."""
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
                if child.is_dir() and child.name != QUEUE_DIR:
                    shutil.copytree(child, tmp / child.name)
    except (OSError, sqlite3.Error) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MemorySpecError(f"cannot read the memory store at {path}: {e}") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def read_snapshot(path: Path, embedder: TextEmbedder | None, note: str) -> ChromaStore:
    """A read-only store on a fresh copy of the store at `path` (removed on close)."""
    snapshot = copy_store(path)
    try:
        return open_chroma(snapshot, embedder=embedder, lock=None, read_only=True, note=note, location=str(path),
                           on_close=lambda: shutil.rmtree(snapshot, ignore_errors=True))
    except BaseException:
        shutil.rmtree(snapshot, ignore_errors=True)
        raise
