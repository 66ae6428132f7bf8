"""SIGTERM and SIGHUP stop a command the way Ctrl-C does.

Python's default for TERM and HUP is to die on the spot: no `finally`, no `__exit__`, so
the sandboxes a command had started (each in a session of its own, out of reach of the
signal) kept running under PID 1. `install()` makes either signal raise `Terminated`, a
`KeyboardInterrupt`, in the main thread: every path that already cleans up after Ctrl-C
(stopping evaluations, killing sandboxes, closing the journal, printing the resume
command) runs unchanged, and `exit_code` turns the command's "interrupted" status into the
conventional 128 + the signal's number (143 for TERM, 129 for HUP).

Sandboxes also die with the process that started them when it gets no chance to clean up
(SIGKILL): see `die_with_parent` in agentnas.evaluator.isolation.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

_received: int | None = None
_followers: list[subprocess.Popen[bytes]] = []
FOLLOWER_GRACE_S = 60.0  # for a follower's own clean-up, before it is killed
BURST_S = 2.0  # a TERM or HUP this soon after the first is the same request, not "stop now"
_first_at = 0.0


class Terminated(KeyboardInterrupt):
    """A TERM or HUP arrived: stop now, cleaning up as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    global _received, _first_at
    now = time.monotonic()
    if _received is not None and now - _first_at < BURST_S:
        # One request delivered twice (`timeout` and make signal the command and its process group):
        # raising again would break the clean-up the first one started, mid-way, with a traceback.
        return
    if _received is None:
        _first_at = now
    _received = signum
    for proc in _followers:
        with contextlib.suppress(OSError):
            proc.send_signal(signum)
    raise Terminated(signum)


def install() -> None:
    """Raise `Terminated` on TERM and HUP from now on (main thread only, where Python runs
    signal handlers). A HUP already ignored (`nohup`) stays ignored: that was asked for."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _raise_terminated)


def stop_with_me(proc: subprocess.Popen[bytes]) -> None:
    """Pass the TERM or HUP this process gets on to `proc` (e.g. a run started in a session
    of its own, which the signal does not reach), and wait for it in `wait_for_followers`."""
    _followers.append(proc)


def wait_for_followers(grace_s: float = FOLLOWER_GRACE_S) -> None:
    """After a TERM or HUP: give each follower `grace_s` to clean up and exit, then kill it,
    so that nothing this command started outlives it. Without one: nothing to do."""
    if _received is None:
        return
    for proc in _followers:
        if proc.poll() is None:
            with contextlib.suppress(OSError):  # a hung-up terminal
                sys.stderr.write(f"waiting for pid {proc.pid} to stop\n")
        try:
            proc.wait(timeout=grace_s)
        except (subprocess.TimeoutExpired, Terminated):  # too slow, or asked again: stop it now
            proc.kill()  # its sandboxes die with it (die_with_parent)
            proc.wait()


def describe(stop: KeyboardInterrupt) -> str:
    """How the command was stopped, for its last message."""
    return f"terminated ({signal.Signals(stop.signum).name})" if isinstance(stop, Terminated) else "interrupted"


def exit_code(code: object) -> object:
    """The exit status of a command that ended with `code` (a SystemExit's): 128 + the
    signal's number once a TERM or HUP stopped it, instead of the 130 (128 + SIGINT) that
    a command, or click for one that lets the interrupt through, gives after Ctrl-C."""
    if _received is not None and code not in (0, None):
        return 128 + _received
    return code
