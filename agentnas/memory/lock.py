"""One process at a time may open an embedded store: the lock file, and the write gate.

Chroma's embedded mode is not safe for two processes: we measured that a second
`PersistentClient` on the same folder rewrites the index files (`length.bin`) and the
SQLite file even when it only reads, and its vector queries fail ("Error finding id")
while another process writes. So:

- `StoreLock` is an `fcntl.flock` on `<store>/writer.lock`, holding the holder's pid,
  host, command line, mode and start time as JSON. The kernel drops it when the holder
  dies, `kill -9` included, so a stale file never blocks anyone. Runs hold it only for
  short sections (embedded.py), so a process that finds it taken waits up to its `wait_s`;
  after that it gets a `StoreLockedError` naming the holder. A waiter holds a shared flock
  on `<store>/waiting.lock` while it waits, and a process about to take the lock again
  lets a waiter in first, so one busy process cannot starve the others.
- `write_gate`/`read_gate` is a second flock, `<store>/write.gate`, held exclusively by
  the owner around each write and shared by a reader while it copies the store, so a
  reader that cannot take the lock reads a consistent snapshot (see registry.py) and never
  touches the live files. A reader needs no write access: on a read-only folder it takes
  the gate through a read-only descriptor (flock does not need write access), or goes
  without it when the folder has no gate file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

LOCK_FILE = "writer.lock"
GATE_FILE = "write.gate"
WAIT_FILE = "waiting.lock"
POLL_S = 0.02  # how often a waiter asks again, at most
POLITE_S = 0.06  # how long a process gives a waiter to take the lock first (> POLL_S)
LockMode = Literal["write", "read"]


class MemoryStoreError(RuntimeError):
    """The memory store cannot be used as asked; the message says why and what to do."""


class MemorySpecError(MemoryStoreError):
    """`--memory` names no usable store (bad URL, a file, a folder that is not a memory or
    cannot be read or written as asked): bad input, not a passing condition."""


class LockHolder(BaseModel):
    pid: int
    host: str
    command: str
    mode: LockMode
    since: datetime

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} ({self.command!r}, {self.mode} since {self.since:%Y-%m-%d %H:%M:%S}Z)"


class StoreLockedError(MemoryStoreError):
    """Another process held the embedded store for longer than this one would wait."""

    def __init__(self, store: Path, holder: LockHolder | None, waited_s: float = 0.0) -> None:
        self.store, self.holder = store, holder
        who = holder.describe() if holder else "another process (it left no details)"
        super().__init__(
            f"the memory store {store} is in use by {who} (waited {waited_s:.0f} s). Runs hold an embedded store "
            f"only for short moments; a long hold is a command such as `agentnas memory import`: wait for it, or "
            f"share one store between machines with a Chroma server: "
            f"`chroma run --path {store}-server --host 127.0.0.1 --port 8000` and `--memory http://127.0.0.1:8000`")


def _command_line() -> str:
    return " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200] or "python"


def read_holder(store: Path) -> LockHolder | None:
    """Who holds the store's lock, or None when nobody does (whatever the file says)."""
    path = Path(store) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _parse_holder(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _parse_holder(path: Path) -> LockHolder | None:
    for _ in range(5):  # the holder may be writing its details this very moment
        try:
            return LockHolder.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError):
            time.sleep(0.02)
    return None


def _others_waiting(store: Path) -> bool:
    try:
        fd = os.open(store / WAIT_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class StoreLock:
    """The lock on one embedded store folder. Not re-entrant: a second `StoreLock` on the
    same folder conflicts even in the same process (flock locks are per open file)."""

    def __init__(self, store: Path) -> None:
        self.store = Path(store)
        self._fd: int | None = None
        self._gate_fd: int | None = None
        self.mode: LockMode | None = None

    def acquire(self, mode: LockMode, wait_s: float = 0.0) -> None:
        """Take the lock, waiting up to `wait_s` seconds for its holder, or raise
        `StoreLockedError`. An `OSError` means the folder cannot be written (a reader then
        reads a copy, see registry.py)."""
        self.store.mkdir(parents=True, exist_ok=True)
        path = self.store / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if _others_waiting(self.store):
            time.sleep(POLITE_S)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                self._wait(fd, path, wait_s)
            except BaseException:
                os.close(fd)
                raise
        try:
            holder = LockHolder(pid=os.getpid(), host=socket.gethostname(), command=_command_line(), mode=mode,
                                since=datetime.now(UTC))
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.model_dump_json().encode(), 0)  # advisory details: not worth an fsync per section
            self._gate_fd = os.open(self.store / GATE_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except BaseException:
            os.close(fd)  # closing drops the flock
            raise
        self._fd, self.mode = fd, mode

    def _wait(self, fd: int, path: Path, wait_s: float) -> None:
        start = time.monotonic()
        waiting = os.open(self.store / WAIT_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(waiting, fcntl.LOCK_SH)
            pause = 0.002
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() - start >= wait_s:
                        raise StoreLockedError(self.store, _parse_holder(path), time.monotonic() - start) from None
                    time.sleep(pause)
                    pause = min(pause * 2, POLL_S)
        finally:
            os.close(waiting)

    @property
    def held(self) -> bool:
        return self._fd is not None

    @contextlib.contextmanager
    def write_gate(self) -> Iterator[None]:
        """Held around each write, so a snapshot never copies a half-written store."""
        if self._gate_fd is None:
            raise MemoryStoreError("write_gate needs the store lock")
        fcntl.flock(self._gate_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._gate_fd, fcntl.LOCK_UN)

    def release(self) -> None:
        if self._gate_fd is not None:
            os.close(self._gate_fd)
            self._gate_fd = None
        if self._fd is not None:
            # Leave the file in place (another process may have it open) but say nobody holds it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd, self.mode = None, None


@contextlib.contextmanager
def read_gate(store: Path, timeout_s: float = 30.0) -> Iterator[None]:
    """Shared hold on the write gate of a store owned by another process: no write is in
    progress while it is held. Raises `MemoryStoreError` after `timeout_s`."""
    path = Path(store) / GATE_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            # No gate and none can be made: the folder cannot be written, so nobody writes it.
            yield
            return
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MemoryStoreError(f"the memory store {store} stayed busy for {timeout_s:.0f} s") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
