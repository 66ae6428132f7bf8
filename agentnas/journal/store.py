"""The run journal: an append-only SQLite log of everything a run did.

One table of entries `(seq, kind, key, payload, at)`: nodes of the search tree, intents
to evaluate, experiments, LLM calls (the replay cassette), steering messages and events.
State is never pickled: resume, replay and the report re-read this log in `seq` order.

Why SQLite: one file, atomic transactions (a `kill -9` leaves every committed entry whole
and no half entry), WAL mode so readers (`runs show`, `chat`, `report`) never block the
run. Append-only is enforced by the database itself (triggers abort UPDATE and DELETE),
and `(kind, key)` is unique, so re-appending an entry after a crash is idempotent and a
conflicting second version of the same entry is refused rather than silently stored.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentnas.records.journal import SCHEMA_VERSION as PAYLOAD_VERSION

JOURNAL_FILE = "journal.sqlite"
SCHEMA_VERSION = 1  # the table layout; what the payloads hold is versioned apart (records.journal)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    at REAL NOT NULL,
    UNIQUE (kind, key)
);
CREATE INDEX IF NOT EXISTS entries_kind ON entries (kind, seq);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
"""


class JournalError(RuntimeError):
    """The journal cannot be opened or an append was refused; the message says why."""


class JournalConflict(JournalError):
    """An entry with this kind and key exists with a different payload."""


class Entry(BaseModel):
    """One journal row. `payload` is the JSON object given to `append`."""

    model_config = ConfigDict(frozen=True)

    seq: int
    kind: str
    key: str
    payload: dict[str, Any]
    at: float


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Journal:
    """An open journal. `read_only=True` opens without creating or writing anything."""

    def __init__(self, path: Path, read_only: bool = False, clock: Any = time.time) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._clock = clock
        self._lock = threading.RLock()  # graph nodes may run on worker threads: one statement at a time
        existed = self.path.is_file() and self.path.stat().st_size > 0
        if read_only:
            if not self.path.is_file():
                raise JournalError(f"no journal at {self.path}")
            uri = f"file:{self.path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            # read before any write: a damaged file is reported and left exactly as it is
            problems = self._problems() if existed else []
            if not read_only and not problems:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            row = self._db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
            found = self._db.execute("SELECT value FROM meta WHERE name='payloads'").fetchone()
            payloads = int(found[0]) if found else 1  # journals from before payloads were versioned
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise JournalError(f"{self.path} is not an agentnas journal ({e}); it was left untouched") from e
        if problems:
            self._db.close()
            raise JournalError(f"{self.path} is damaged (truncated or overwritten: {'; '.join(problems)}); it was "
                               "left untouched - restore it from a copy, or use another --run-dir")
        if row is None or int(row[0]) != SCHEMA_VERSION:
            self._db.close()
            raise JournalError(f"{self.path}: journal schema {row and row[0]} is not {SCHEMA_VERSION}")
        if payloads > PAYLOAD_VERSION:
            self._db.close()
            raise JournalError(f"{self.path} was written by a newer agentnas (payload version {payloads}, this one "
                               f"reads up to {PAYLOAD_VERSION}); upgrade agentnas to open it")
        self.payload_version = payloads  # older payloads are migrated on read (agentnas.records.journal)
        if not read_only and payloads < PAYLOAD_VERSION:
            # from now on this journal also holds current payloads; older entries still read through the records
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('payloads', ?)", (str(PAYLOAD_VERSION),))
            self.payload_version = PAYLOAD_VERSION

    def _problems(self) -> list[str]:
        """What is wrong with an existing file ([] when it is a whole journal): its schema table
        must answer and SQLite's quick check (every page readable, no truncation) pass."""
        self._db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
        found = [str(r[0]) for r in self._db.execute("PRAGMA quick_check(3)").fetchall()]
        return [] if found == ["ok"] else found

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, kind: str, key: str, payload: dict[str, Any]) -> Entry:
        """Append one entry in its own transaction and return it. Appending the same
        `(kind, key)` with the same payload again returns the stored entry (idempotent);
        with a different payload it raises JournalConflict."""
        if self.read_only:
            raise JournalError(f"{self.path} is open read-only")
        text = _canonical(payload)
        with self._lock:
            return self._append(kind, key, text)

    def _append(self, kind: str, key: str, text: str) -> Entry:
        try:
            cur = self._db.execute("INSERT INTO entries (kind, key, payload, at) VALUES (?, ?, ?, ?)",
                                   (kind, key, text, float(self._clock())))
        except sqlite3.IntegrityError:
            existing = self.get(kind, key)
            if existing is None:  # pragma: no cover - the unique index is the only constraint
                raise
            if _canonical(existing.payload) != text:
                raise JournalConflict(f"journal already holds {kind} {key!r} with different content") from None
            return existing
        seq = cur.lastrowid
        assert seq is not None
        return Entry(seq=seq, kind=kind, key=key, payload=json.loads(text), at=float(self._clock()))

    def get(self, kind: str, key: str) -> Entry | None:
        with self._lock:
            row = self._db.execute("SELECT seq, kind, key, payload, at FROM entries WHERE kind=? AND key=?",
                                   (kind, key)).fetchone()
        return None if row is None else _entry(row)

    def entries(self, kind: str | tuple[str, ...] | None = None, after: int = 0) -> Iterator[Entry]:
        """Entries in append order, optionally of some kinds and after a sequence number."""
        kinds = (kind,) if isinstance(kind, str) else kind
        with self._lock:
            rows = self._select(kinds, after)
        for row in rows:
            yield _entry(row)

    def _select(self, kinds: tuple[str, ...] | None, after: int) -> list[tuple[Any, ...]]:
        if kinds:
            marks = ",".join("?" * len(kinds))
            rows = self._db.execute(
                f"SELECT seq, kind, key, payload, at FROM entries WHERE seq > ? AND kind IN ({marks}) ORDER BY seq",
                (after, *kinds))
        else:
            rows = self._db.execute("SELECT seq, kind, key, payload, at FROM entries WHERE seq > ? ORDER BY seq",
                                    (after,))
        return list(rows.fetchall())

    def count(self, kind: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM entries WHERE kind=?", (kind,)).fetchone()
        return int(row[0])

    def last_seq(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM entries").fetchone()
        return int(row[0])


def _entry(row: tuple[Any, ...]) -> Entry:
    return Entry(seq=row[0], kind=row[1], key=row[2], payload=json.loads(row[3]), at=row[4])


def open_journal(run_dir: Path, read_only: bool = False) -> Journal:
    """The journal of the run in `run_dir`."""
    return Journal(Path(run_dir) / JOURNAL_FILE, read_only=read_only)
