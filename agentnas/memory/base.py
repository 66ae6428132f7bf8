"""The experiment memory's interface: `MemoryStore`, its filters and its hits."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentnas.records import ExperimentRecord, ExperimentStatus, FailureKind

if TYPE_CHECKING:
    import numpy as np

SearchBy = Literal["text", "arch"]


class MemoryFilter(BaseModel):
    """Metadata filters, all optional, combined with AND. The score bounds are raw values of
    each record's task metric (its validation accuracy, or a token task's loss), whatever the
    metric's direction: records without metrics never match a score bound."""

    model_config = ConfigDict(frozen=True)

    task: str | None = None
    status: ExperimentStatus | None = None
    run_id: str | None = None
    hypothesis_id: str | None = None
    failure_kind: FailureKind | None = None
    code_hash: str | None = None
    onnx_text_hash: str | None = None
    min_score: float | None = None
    max_score: float | None = None

    def matches(self, record: ExperimentRecord) -> bool:
        """The same filter applied in Python (the reference the backends must agree with)."""
        failure_kind = record.failure.kind if record.failure is not None else None
        for name, value in (("task", record.task), ("status", record.status), ("run_id", record.run_id),
                            ("hypothesis_id", record.hypothesis_id), ("failure_kind", failure_kind),
                            ("code_hash", record.code_hash), ("onnx_text_hash", record.onnx_text_hash)):
            wanted = getattr(self, name)
            if wanted is not None and value != wanted:
                return False
        if self.min_score is not None or self.max_score is not None:
            score = record.score
            if score is None:
                return False
            if self.min_score is not None and score < self.min_score:
                return False
            if self.max_score is not None and score > self.max_score:
                return False
        return True


class Hit(BaseModel):
    """One retrieved experiment and its distance to the query (smaller is closer): cosine
    distance for "text", Euclidean distance of the architecture vectors for "arch"."""

    model_config = ConfigDict(frozen=True)

    record: ExperimentRecord
    distance: float
    by: str = Field(description="text, arch or both")


class MemoryStore(abc.ABC):
    """Where experiments are remembered.

    Contract, for every backend (tests/memory/test_store_contract.py):
    - `add_many(records)` upserts by `id`: adding a record again replaces it whole, never
      duplicates it. Records without `text_embedding` get one from the store's embedder.
      A process killed during `add_many` leaves each record absent or whole.
    - `get_many(ids)` returns the stored records (vectors included) in the order asked,
      skipping ids it does not hold.
    - `similar(vector, by, k, where)` returns at most `k` hits among records that match
      `where`, nearest first; `by="arch"` only searches records with an architecture vector.
    - `ids(where)` lists the ids of the matching records, oldest write first.
    """

    location: str = ""
    backend: str = ""
    read_only: bool = False
    note: str = ""  # e.g. "read from a snapshot: the store is in use by ..."

    @abc.abstractmethod
    def add_many(self, records: Sequence[ExperimentRecord]) -> None: ...

    @abc.abstractmethod
    def get_many(self, ids: Sequence[str]) -> list[ExperimentRecord]: ...

    @abc.abstractmethod
    def similar(self, vector: Sequence[float] | np.ndarray, by: SearchBy = "text", k: int = 10,
                where: MemoryFilter | None = None) -> list[Hit]: ...

    @abc.abstractmethod
    def ids(self, where: MemoryFilter | None = None) -> list[str]: ...

    # Everything below is built on the four methods above.

    def add(self, record: ExperimentRecord) -> None:
        self.add_many([record])

    def enqueue(self, records: Sequence[ExperimentRecord]) -> None:
        """Make the records durable now. A store that queues its writes (embedded.py) stores
        them the next time it takes the store (a `session()`, a call outside one, `close()`);
        only then do other processes see them. Other stores add them now."""
        self.add_many(records)

    def get(self, id: str) -> ExperimentRecord | None:
        found = self.get_many([id])
        return found[0] if found else None

    def count(self, where: MemoryFilter | None = None) -> int:
        return len(self.ids(where))

    def records(self, where: MemoryFilter | None = None, batch: int = 256) -> Iterator[ExperimentRecord]:
        """Every matching record, oldest write first, fetched `batch` at a time."""
        ids = self.ids(where)
        for start in range(0, len(ids), batch):
            yield from self.get_many(ids[start:start + batch])

    def query(self, where: MemoryFilter | None = None, limit: int | None = None,
              newest_first: bool = True) -> list[ExperimentRecord]:
        """Matching records sorted by creation time (newest first by default)."""
        ids = self.ids(where)
        if limit is not None and newest_first:
            ids = ids[-limit:] if limit > 0 else []  # fetch only the tail of the write order
        found = sorted(self.get_many(ids), key=lambda r: (r.created_at, r.id), reverse=newest_first)
        return found if limit is None else found[:limit]

    @contextlib.contextmanager
    def session(self, best_effort: bool = False, read_only: bool = False) -> Iterator[bool]:
        """Hold the store for the calls made inside: one lock section of an embedded store
        instead of one per call (a server needs none). Yields whether it is held: with
        `best_effort`, a store that stays busy yields False instead of raising, and each
        call inside then takes its own section; with `read_only` (the calls inside only
        read), a store that stays busy is read from a snapshot instead."""
        yield True

    def close(self) -> None:  # noqa: B027  (a backend without resources has nothing to release)
        """Release the store (its lock and client)."""

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "location": self.location, "read_only": self.read_only, "note": self.note}


class EmptyStore(MemoryStore):
    """A store that does not exist yet, opened for reading: it holds nothing."""

    backend = "none"
    read_only = True

    def __init__(self, location: str) -> None:
        self.location = location
        self.note = f"no memory store at {location} yet (it is created by the first run that uses it)"

    def add_many(self, records: Sequence[ExperimentRecord]) -> None:
        raise PermissionError(f"no memory store at {self.location} yet; open it for writing to create it")

    def get_many(self, ids: Sequence[str]) -> list[ExperimentRecord]:
        return []

    def similar(self, vector: Sequence[float] | np.ndarray, by: SearchBy = "text", k: int = 10,
                where: MemoryFilter | None = None) -> list[Hit]:
        return []

    def ids(self, where: MemoryFilter | None = None) -> list[str]:
        return []
