"""One process at a time may open an embedded store: the lock file, and the write gate.

Chroma's embedded mode is not safe for two processes: we measured that a second
`PersistentClient` on the same folder rewrites the index files (`length.bin`) and the
SQLite file even when it only reads, and its vector queries fail ("Error finding id")
while another process writes. So:

- `StoreLock` is an `fcntl.flock` on `<store>/writer.lock`, holding the holder's pid,
  host, command line, mode and start time as JSON. The kernel drops it when the holder
  dies, `kill -9` included, so a stale file never blocks anyone. A writer that finds a
  reader holding it waits a little (readers are short CLI commands); anyone else gets a
  `StoreLockedError` naming the holder.
- `write_gate`/`read_gate` is a second flock, `<store>/write.gate`, held exclusively by
  the owner around each write and shared by a reader while it copies the store, so a
  reader blocked by a live run reads a consistent snapshot (see registry.py) and never
  touches the live files.
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
LockMode = Literal["write", "read"]


class MemoryStoreError(RuntimeError):
    """The memory store cannot be used as asked; the message says why and what to do."""


class LockHolder(BaseModel):
    pid: int
    host: str
    command: str
    mode: LockMode
    since: datetime

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} ({self.command!r}, {self.mode} since {self.since:%Y-%m-%d %H:%M:%S}Z)"


class StoreLockedError(MemoryStoreError):
    """Another process holds the embedded store."""

    def __init__(self, store: Path, holder: LockHolder | None) -> None:
        self.store, self.holder = store, holder
        who = holder.describe() if holder else "another process (it left no details)"
        super().__init__(
            f"the memory store {store} is in use by {who}. An embedded store has one writer at a time: "
            f"wait for that process, or share one store between processes with a Chroma server: "
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


class StoreLock:
    """The lock on one embedded store folder. Not re-entrant: a second `StoreLock` on the
    same folder conflicts even in the same process (flock locks are per open file)."""

    def __init__(self, store: Path) -> None:
        self.store = Path(store)
        self._fd: int | None = None
        self._gate_fd: int | None = None
        self.mode: LockMode | None = None

    def acquire(self, mode: LockMode, wait_s: float = 0.0) -> None:
        """Take the lock or raise `StoreLockedError`. A writer waits up to `wait_s` seconds
        while the holder is a reader."""
        self.store.mkdir(parents=True, exist_ok=True)
        path = self.store / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _parse_holder(path)
                if mode == "write" and holder is not None and holder.mode == "read" and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                os.close(fd)
                raise StoreLockedError(self.store, holder) from None
        holder = LockHolder(pid=os.getpid(), host=socket.gethostname(), command=_command_line(), mode=mode,
                            since=datetime.now(UTC))
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.model_dump_json().encode(), 0)
        os.fsync(fd)
        self._fd, self.mode = fd, mode
        self._gate_fd = os.open(self.store / GATE_FILE, os.O_RDWR | os.O_CREAT, 0o644)

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
    fd = os.open(Path(store) / GATE_FILE, os.O_RDWR | os.O_CREAT, 0o644)
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
