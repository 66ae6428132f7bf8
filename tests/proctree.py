"""Host process-tree helpers for tests that check nothing outlives a sandbox."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Callable, Iterator

_DEFAULT_SIGNALS = ("import os, signal, sys\n"
                    "for s in (signal.SIGINT, signal.SIGHUP):\n"
                    "    signal.signal(s, signal.SIG_DFL)\n"
                    "os.execv(sys.argv[1], sys.argv[1:])")


def with_default_signals(argv: list[str]) -> list[str]:
    """`argv` (its first item a full path) started with SIGINT and SIGHUP at their defaults, same pid.

    A harness started in the background or under nohup hands its children these signals ignored,
    and a command rightly keeps an ignored signal ignored: the tests that send them must not
    depend on how the suite was started."""
    return [sys.executable, "-c", _DEFAULT_SIGNALS, *argv]


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
