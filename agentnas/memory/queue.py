"""The write queue of an embedded store: records are durable here before Chroma holds them.

Several processes (two runs side by side) share one embedded store, but Chroma's embedded
mode must have one writer process at a time (lock.py). So a process first appends what
it writes to its own file `<store>/queue/<pid>-<token>.jsonl` (one line per record, vectors
included, fsync'd), and whichever process holds the store lock next moves every queued
record into Chroma and removes the files it emptied ("drains"). A record is therefore
never lost once `append` returns: a process killed before its records were drained leaves
them to the next process that opens the store for writing.

Each file is guarded by its own flock: an appender holds it while it writes a batch, the
drainer holds every file from reading it until it is removed, and an appender that finds
its file removed under it starts a new one. Each line carries the time it was queued; a
drain upserts in that order, so the last write of an id wins as with direct writes. A final
line without its newline is a write cut short (its `add` never returned) and is ignored; a
whole line that cannot be read, or a record the store refuses (written by another agentnas
version), is kept aside in a `.unreadable` file rather than deleted, and never blocks the
records around it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from agentnas.records import ExperimentRecord

QUEUE_DIR = "queue"
SUFFIX = ".jsonl"


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot sync a folder; the file itself is synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class WriteQueue:
    """This process's queue file in one store folder (created on the first append)."""

    def __init__(self, store_dir: Path) -> None:
        self.folder = Path(store_dir) / QUEUE_DIR
        self.path = self.folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"

    def append(self, records: Sequence[ExperimentRecord]) -> None:
        """Queue the records durably (they must carry their vectors: the drainer may be a
        process without this one's embedder)."""
        if not records:
            return
        stamp = time.time_ns()
        data = "".join(f'{{"t": {stamp + n}, "record": {r.model_dump_json()}}}\n'
                       for n, r in enumerate(records)).encode()
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.fstat(fd).st_nlink == 0:
                    continue  # drained and removed while we waited for it: queue into a new file
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)  # closing drops the flock
            if created:
                _fsync_dir(self.folder)
            return


def _read(text: str) -> tuple[list[tuple[int, ExperimentRecord]], bool]:
    """The (time, record) pairs of one file and whether every whole line was readable."""
    entries: list[tuple[int, ExperimentRecord]] = []
    readable = True
    lines = text.split("\n")
    for line in lines[:-1]:  # the part after the last newline is a cut-short write, or empty
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            entries.append((int(doc["t"]), ExperimentRecord.model_validate(doc["record"])))
        except (ValueError, KeyError, TypeError, ValidationError):
            readable = False
    return entries, readable


def _set_aside(folder: Path, records: list[ExperimentRecord]) -> None:
    path = folder / f"refused-{time.time_ns()}{SUFFIX}.unreadable"
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(r.model_dump_json() + "\n" for r in records)
        f.flush()
        os.fsync(f.fileno())


def drain(store_dir: Path, write: Callable[[list[ExperimentRecord]], None]) -> int:
    """Move every queued record of the store into it with `write` (an upsert that holds the
    store lock); returns how many. A file is removed only after `write` returned, so a
    drain killed half way leaves the records queued (writing them again is harmless)."""
    folder = Path(store_dir) / QUEUE_DIR
    try:
        paths = sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return 0
    held: list[tuple[Path, int, bool]] = []
    try:
        entries: list[tuple[int, ExperimentRecord]] = []
        for path in paths:
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                with os.fdopen(os.dup(fd), "r", encoding="utf-8", errors="replace") as f:
                    found, readable = _read(f.read())
            except BaseException:
                os.close(fd)
                raise
            held.append((path, fd, readable))
            entries.extend(found)
        entries.sort(key=lambda e: e[0])  # the store keeps the last of repeated ids, as separate adds would
        records = [r for _, r in entries]
        try:
            if records:
                write(records)
        except ValueError:  # a record the store refuses (e.g. queued by another version): never block the rest
            refused = []
            for record in records:
                try:
                    write([record])
                except ValueError:
                    refused.append(record)
            _set_aside(folder, refused)
        for path, _, readable in held:
            if readable:
                path.unlink()
            else:
                os.replace(path, path.with_name(path.name + ".unreadable"))
        return len({r.id for _, r in entries})
    finally:
        for _, fd, _ in held:
            os.close(fd)


def pending(store_dir: Path) -> int:
    """How many records are queued and not yet in the store (read only; for `memory stats`)."""
    folder = Path(store_dir) / QUEUE_DIR
    total = 0
    try:
        paths = [p for p in folder.iterdir() if p.name.endswith(SUFFIX)]
    except OSError:
        return 0
    for path in paths:
        with contextlib.suppress(OSError):
            total += len(_read(path.read_text(encoding="utf-8", errors="replace"))[0])
    return total
