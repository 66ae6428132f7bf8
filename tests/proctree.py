"""Host process-tree helpers for tests that check nothing outlives a sandbox."""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Callable, Iterator


def _stat_fields(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()  # state, ppid, ...


def descendants(root: int) -> set[int]:
    """Every live (non-zombie) process below `root` on the host, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        fields = _stat_fields(entry) if entry.isdigit() else None
        if fields is not None and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    fields = _stat_fields(str(pid))
    return fields is not None and fields[0] != "Z"


_PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def adopting_orphans() -> Iterator[Callable[[], set[int]]]:
    """Make this process a child subreaper while inside: a process orphaned below it (its
    parent died) is reparented here instead of to PID 1, so it stays in `descendants`.
    Yields `left()`: the live processes below this one that were not there on entry.
    On exit, the adopted processes that ended are reaped."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    me = os.getpid()
    before, children_before = descendants(me), _children(me, zombies=True)
    try:
        yield lambda: descendants(me) - before
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for pid in _children(me, zombies=True) - children_before:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def _children(parent: int, zombies: bool = False) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        fields = _stat_fields(entry) if entry.isdigit() else None
        if fields is not None and int(fields[1]) == parent and (zombies or fields[0] != "Z"):
            found.add(int(entry))
    return found


def argv(pid: int) -> list[str]:
    """The process's command line ([] once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []
