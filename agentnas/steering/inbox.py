"""Steering messages: how a user talks to a live run without blocking it.

`agentnas chat` appends messages to `RUN_DIR/steering.jsonl` (one JSON object a line,
appended under an exclusive lock, so concurrent writers never interleave). The run loop,
the only writer of the journal, ingests new lines at each iteration boundary as `steering`
entries (idempotent by message id) and applies them; so steering never blocks the run,
survives a restart, and replays exactly.

Kinds and what the loop does with them:
    hypothesis  {text}                         queued as a user hypothesis, expanded first
    constrain   {max_params?, max_train_seconds?, banned_ops?, required_ops?}   applied to every
                later candidate (max_train_seconds: the wall-clock limit of one training evaluation)
    focus       {target}  (hypothesis or node id)  selection stays inside that subtree
    prune       {target}                       selection never enters that subtree again
    unfocus     {}                             back to the whole tree
    stop        {}                             the run ends after the current iteration

A run holds `RUN_DIR/run.lock` (an exclusive flock, rewritten with its pid at each start)
while it runs, so the chat can tell a live run from a finished one (`run_holder`). A stop
only means something to the run it was sent to: `read_inbox` drops a stop written before
the run's current start (the lock's mtime), so a stop that arrived after a run ended never
ends the next resume at once. Every other kind waits in the inbox for the next start.

`said` keeps the user's own words when an LLM interpreted free text into the message, so
the journal shows both what was said and what the run was asked to do.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from pydantic import ValidationError

from agentnas.records import SteeringMessage

INBOX = "steering.jsonl"
LOCK = "run.lock"  # held by the running run (agentnas.run.service.run_lock)


def send(run_dir: Path, message: SteeringMessage) -> None:
    """Append one message to the run's inbox (creating it), under an exclusive lock."""
    path = Path(run_dir) / INBOX
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (message.model_dump_json() + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_inbox(run_dir: Path, stale_stops: bool = False) -> list[SteeringMessage]:
    """Every well-formed message in the inbox, in order; a torn or foreign line is skipped, and
    so is a stop written before the run's current start unless `stale_stops`."""
    path = Path(run_dir) / INBOX
    if not path.is_file():
        return []
    started = None if stale_stops else run_started(run_dir)
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            message = SteeringMessage.model_validate(json.loads(line))
        except (ValueError, ValidationError):
            continue
        if message.kind == "stop" and started is not None and message.at < started:
            continue
        out.append(message)
    return out


def run_started(run_dir: Path) -> float | None:
    """When the run in `run_dir` last started (its lock was rewritten), None if it never did."""
    try:
        return (Path(run_dir) / LOCK).stat().st_mtime_ns / 1e9
    except OSError:
        return None


def run_holder(run_dir: Path) -> str | None:
    """Who holds `run_dir`'s run lock now ("pid N"), None when no run is running there.

    The probe takes a shared lock for an instant; the run's exclusive lock refuses it while
    the run is alive, and the kernel drops that lock however the run ends."""
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # no run ever started here
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return path.read_text(encoding="utf-8", errors="replace").strip() or "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
