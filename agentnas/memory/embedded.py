"""`EmbeddedStore`: an embedded Chroma store that the processes of one machine share.

Chroma's embedded mode must have one writer process at a time (lock.py), yet two runs side
by side on the default store is ordinary. So a process holds the store only in short
sections: take the store lock, open Chroma on the folder, make the calls, close Chroma,
release the lock. Nobody keeps the store between sections, so another run's section can
come in between.

- Writing: `add_many` first appends the records to this process's queue file (queue.py,
  fsync'd): from then on they are not lost, whatever happens to the process. Then, in a
  section (waited for up to `write_wait_s`), every queued record of the store, this
  process's and other processes', moves into Chroma. Inside a `session()` that holds the
  store, `add_many` writes straight in (a bulk import). When the store stays busy the records
  stay queued, and the next section of any process stores them: a store opened for writing
  drains the queue first. Readers (`read_only`) never write, so they do not see queued
  records until then (`memory stats` counts them).
- Reading: each call is a section, or part of the caller's `session()`, and reads the
  store as it is: another run's experiments appear as soon as a section has stored them.
  When another process holds the store for long (an `agentnas memory export`, say), reads
  wait `read_wait_s` and then read a snapshot (snapshot.py) instead.

A section opens Chroma; the first write or search in it loads the store's indexes. Measured
on this project's 2-core machine (shared with other jobs), per expansion of two experiments:
queuing them costs 2 ms with 2,000 experiments in the store and 13 ms with 20,000 (an
fsync), and a section that stores them and catches up with other runs' experiments costs
150 ms and 490 ms; the old single-writer store took 115-120 ms for the two adds on a client
held open. So a run queues each expansion's records and takes the store at most every
10 s (search/memory_link.py), and retrieval takes it when it reads.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from agentnas.memory.base import Hit, MemoryFilter, MemoryStore, SearchBy
from agentnas.memory.chroma import SQLITE_FILE, ChromaStore, open_chroma, prepare_records
from agentnas.memory.lock import MemorySpecError, MemoryStoreError, StoreLock, StoreLockedError
from agentnas.memory.queue import WriteQueue, drain, pending
from agentnas.memory.snapshot import read_snapshot
from agentnas.memory.text import TextEmbedder
from agentnas.records import ExperimentRecord

MARKER_FILE = "agentnas-memory.json"


class EmbeddedStore(MemoryStore):
    """The embedded store opened for writing. Build it with `agentnas.memory.open_memory`.
    Calls wait for another process's hold: `wait_s` at most for a session that must have
    the store, `write_wait_s` for a best-effort one (writes stay queued), `read_wait_s`
    for reads, which then read a snapshot instead."""

    backend = "embedded"

    def __init__(self, path: Path, embedder: TextEmbedder | None, *, wait_s: float = 60.0,
                 write_wait_s: float = 5.0, read_wait_s: float = 10.0) -> None:
        self.path, self.location, self.note, self.read_only = Path(path), str(path), "", False
        self.wait_s, self.write_wait_s, self.read_wait_s = wait_s, write_wait_s, read_wait_s
        self._embedder = embedder
        self._queue = WriteQueue(self.path)
        self._inner: ChromaStore | None = None
        self._guard = threading.RLock()  # one section per process at a time; calls inside it share it

    def open(self) -> EmbeddedStore:
        """The first section: creates the store, checks its layout, repairs a torn write and
        stores what was left queued. An existing store that stays busy is left for later."""
        with self.session(best_effort=(self.path / SQLITE_FILE).exists(), wait_s=self.wait_s):
            pass
        return self

    def _enter(self, wait_s: float) -> ChromaStore:
        lock = StoreLock(self.path)
        try:
            lock.acquire("write", wait_s=wait_s)
        except OSError as e:
            raise MemorySpecError(f"cannot write the memory store at {self.path}: {e.strerror or e}") from e
        try:
            marker = self.path / MARKER_FILE
            if not marker.exists():
                marker.write_text(json.dumps({"format": "agentnas experiment memory (chroma)", "schema": 1}) + "\n",
                                  encoding="utf-8")
            inner = open_chroma(self.path, embedder=self._embedder, lock=lock, read_only=False,
                                store_dir=self.path)
        except BaseException:
            lock.release()
            raise
        try:
            drain(self.path, inner.add_many)
        except BaseException:
            inner.close()
            raise
        return inner

    @contextlib.contextmanager
    def session(self, best_effort: bool = False, read_only: bool = False,
                wait_s: float | None = None) -> Iterator[bool]:
        if wait_s is None:
            wait_s = self.write_wait_s if best_effort else self.read_wait_s if read_only else self.wait_s
        with self._guard:
            if self._inner is not None:  # already inside one: share it
                yield True
                return
            try:
                inner: ChromaStore | None = self._enter(wait_s)
            except StoreLockedError as busy:
                if not (best_effort or read_only):
                    raise
                who = busy.holder.describe() if busy.holder else "another process"
                inner = None if best_effort else \
                    read_snapshot(self.path, self._embedder, f"read from a snapshot: the store is in use by {who}")
            if inner is None:
                yield False
                return
            self._inner = inner
            try:
                yield True
            finally:
                self._inner = None
                inner.close()

    def _held(self) -> ChromaStore:
        if self._inner is None:
            raise MemoryStoreError(f"the memory store {self.path} is not held")
        return self._inner

    # -- writing

    def enqueue(self, records: Sequence[ExperimentRecord]) -> None:
        prepared = prepare_records(records, self._embedder)
        if prepared:
            self._queue.append(prepared)

    def add_many(self, records: Sequence[ExperimentRecord]) -> None:
        if not records:
            return
        with self._guard:
            if self._inner is not None and not self._inner.read_only:
                # The store is held: write straight in (what the queue is for cannot happen), so
                # a bulk import pays no queue. A kill mid-write leaves each record absent or whole.
                self._inner.add_many(records)
                return
            self.enqueue(records)  # durable from here on
            if self._inner is None:
                with self.session(best_effort=True):
                    pass  # a section drains the queue as it opens; a busy store leaves it to the next

    def pending(self) -> int:
        """Records queued in the store folder and not yet stored (by any process)."""
        return pending(self.path)

    # -- reading: each call in a section of its own, or in the caller's

    def get_many(self, ids: Sequence[str]) -> list[ExperimentRecord]:
        with self.session(read_only=True):
            return self._held().get_many(ids)

    def ids(self, where: MemoryFilter | None = None) -> list[str]:
        with self.session(read_only=True):
            return self._held().ids(where)

    def count(self, where: MemoryFilter | None = None) -> int:
        with self.session(read_only=True):
            return self._held().count(where)

    def similar(self, vector: Sequence[float] | np.ndarray, by: SearchBy = "text", k: int = 10,
                where: MemoryFilter | None = None) -> list[Hit]:
        with self.session(read_only=True):
            return self._held().similar(vector, by, k, where)

    def records(self, where: MemoryFilter | None = None, batch: int = 256) -> Iterator[ExperimentRecord]:
        # Read whole inside one section: a generator would hold the store for as long as its reader dawdles.
        with self.session(read_only=True):
            found = list(super().records(where, batch))
        return iter(found)

    def query(self, where: MemoryFilter | None = None, limit: int | None = None,
              newest_first: bool = True) -> list[ExperimentRecord]:
        with self.session(read_only=True):
            return super().query(where, limit, newest_first)

    def close(self) -> None:
        """Store what this process left queued, if the store can be had in time; otherwise
        it stays queued for the next process that opens the store."""
        if self._queue.path.exists():
            with contextlib.suppress(MemoryStoreError), self.session(best_effort=True, wait_s=self.wait_s):
                pass
