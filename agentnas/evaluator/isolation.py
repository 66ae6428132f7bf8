"""Isolation backends: how the sandboxed zygote is started.

Each backend turns a `SandboxSpec` (what to mount where, the environment, the command)
into an argv. `bwrap` is used when installed; else `unshare` (util-linux) with
`sandbox/enter.py` building the same view; `none` runs unconfined and is only allowed
with an explicit unsafe flag.

Inside either real backend the process has: its own network (no route out), pid, ipc,
uts and mount namespaces; a tmpfs root, read-only, holding only the system libraries, the
Python installation, the sandbox code and the label-free task data (all read-only) and
the scratch folder (the only writable place); no capabilities; no_new_privs.

Every backend's sandbox dies with the thread that started it, even when the host process
is SIGKILLed and cleans nothing up: bwrap through `--die-with-parent`, the others through
`die_with_parent` (then `unshare --kill-child` and the pid namespace take the rest).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from agentnas.paths import shipped_dir


@dataclass(frozen=True)
class Mount:
    """`src` bound at `dst`; with `src=None`, an empty tmpfs that hides what is below `dst`
    (made read-only once the mounts placed inside it are in)."""

    src: Path | None
    dst: str
    writable: bool = False


@dataclass(frozen=True)
class SandboxSpec:
    mounts: tuple[Mount, ...]
    env: dict[str, str]
    argv: tuple[str, ...]
    chdir: str
    private_dir: Path  # trusted, empty folder per sandbox (a mount point for `unshare`)
    devices: tuple[str, ...] = field(default=())


class IsolationUnavailable(RuntimeError):
    """The requested isolation cannot work on this machine; the message says why."""


class Isolation(ABC):
    """Contract: `command(spec)` returns the argv that starts `spec.argv` confined as described
    in this module's docstring; `probe()` returns None when the backend works here, else why not.
    """

    name: str = ""
    relocates = True  # mounts appear at `Mount.dst`; False means host paths are used as-is

    @abstractmethod
    def command(self, spec: SandboxSpec) -> list[str]: ...

    @abstractmethod
    def probe(self) -> str | None: ...


def _system_roots() -> list[tuple[str, str | None]]:
    """Top-level system folders: (path, symlink target or None for a real folder)."""
    out: list[tuple[str, str | None]] = []
    for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / name
        if p.is_symlink():
            out.append((str(p), os.readlink(p)))
        elif p.is_dir():
            out.append((str(p), None))
    return out


_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/nsswitch.conf")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


# Run by the host's Python, isolated (-I -S: no site, no user paths), before it execs the
# backend: PR_SET_PDEATHSIG (1) = SIGKILL, kept across that exec. When the parent is
# already gone, prctl came too late to catch its death, so give up instead.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)\n"
    "os.getppid() == int(sys.argv[1]) or os._exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n")


def die_with_parent(argv: list[str]) -> list[str]:
    """`argv`, started so that it gets SIGKILL when the thread that starts it ends (this
    process's spawner thread: at the latest when this process dies, however it dies)."""
    return [_host_python(), "-I", "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), *argv]


def _run_probe(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if proc.returncode != 0:
        return (proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}")[-300:]
    return None


class BwrapIsolation(Isolation):
    name = "bwrap"

    def command(self, spec: SandboxSpec) -> list[str]:
        # --as-pid-1: without it bwrap's reaper is PID 1, holding the protocol pipes and the
        # log on fds 0-2, where a candidate could open them through /proc/1/fd (forging
        # replies, injecting jobs) or signal it. The zygote is PID 1 instead: non-dumpable,
        # and as a namespace's init it ignores signals sent from inside.
        argv = ["bwrap", "--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--clearenv", "--tmpfs", "/"]
        for key, value in spec.env.items():
            argv += ["--setenv", key, value]
        for path, target in _system_roots():
            argv += ["--symlink", target, path] if target else ["--ro-bind", path, path]
        for f in _ETC_FILES:
            if os.path.exists(f):
                argv += ["--ro-bind", f, f]
        for m in spec.mounts:
            if m.src is None:
                argv += ["--tmpfs", m.dst]
            else:
                argv += ["--bind" if m.writable else "--ro-bind", str(m.src), m.dst]
        for m in spec.mounts:
            if m.src is None:
                argv += ["--remount-ro", m.dst]
        argv += ["--proc", "/proc", "--dev", "/dev"]
        for dev in spec.devices:
            argv += ["--dev-bind", dev, dev]
        # /proc read-only too: run by root, the sandbox is uid 0, which may write host-wide
        # sysctls (/proc/sys/kernel/core_pattern runs a program on the host) without any capability.
        argv += ["--remount-ro", "/dev", "--remount-ro", "/proc", "--chdir", spec.chdir,
                 "--remount-ro", "/", "--", *spec.argv]
        return argv

    @functools.cache  # noqa: B019 - one probe per process is the point
    def probe(self) -> str | None:
        if shutil.which("bwrap") is None:
            return "bubblewrap (bwrap) is not installed"
        return _run_probe(["bwrap", "--unshare-all", "--as-pid-1", "--die-with-parent", "--cap-drop", "ALL",
                           "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"])


class UnshareIsolation(Isolation):
    name = "unshare"
    _NAMESPACES = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]

    def command(self, spec: SandboxSpec) -> list[str]:
        root = spec.private_dir / "root"
        root.mkdir(parents=True, exist_ok=True)
        binds = [[p, p, False] for p, target in _system_roots() if target is None]
        binds += [[f, f, False] for f in _ETC_FILES if os.path.exists(f)]
        binds += [[None if m.src is None else str(m.src), m.dst, m.writable] for m in spec.mounts]
        enter_spec = {
            "root": str(root), "binds": binds,
            "symlinks": [[target, p] for p, target in _system_roots() if target is not None],
            "devices": list(_DEVICES) + list(spec.devices),
            "chdir": spec.chdir, "argv": list(spec.argv), "env": spec.env,
        }
        enter = str(shipped_dir("sandbox") / "enter.py")
        return die_with_parent(["unshare", *self._user_flags(), *self._NAMESPACES, "--",
                                _host_python(), "-I", "-S", enter, json.dumps(enter_spec)])

    @functools.cache  # noqa: B019
    def _user_flags(self) -> tuple[str, ...]:
        # A user namespace lets an unprivileged user mount; root may lack one (userns off).
        probe = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "true"]
        if _run_probe(probe) is None or os.geteuid() != 0:
            return ("--user", "--map-root-user")
        return ()

    @functools.cache  # noqa: B019
    def probe(self) -> str | None:
        if shutil.which("unshare") is None:
            return "unshare (util-linux) is not installed"
        return _run_probe(["unshare", *self._user_flags(), *self._NAMESPACES, "true"])


class NoIsolation(Isolation):
    """Runs the zygote unconfined (limits and seccomp still apply). Unsafe."""

    name = "none"
    relocates = False

    def command(self, spec: SandboxSpec) -> list[str]:
        return die_with_parent(list(spec.argv))  # the zygote's children die with it (zygote.py)

    def probe(self) -> str | None:
        return None


def _host_python() -> str:
    return os.path.realpath(sys.executable)


BACKENDS: dict[str, type[Isolation]] = {
    "bwrap": BwrapIsolation, "unshare": UnshareIsolation, "none": NoIsolation,
}


@functools.cache
def _instance(name: str) -> Isolation:
    return BACKENDS[name]()


def get_isolation(name: str = "auto", allow_unsafe: bool = False) -> Isolation:
    """The backend by name; `auto` prefers bwrap, then unshare. Raises IsolationUnavailable."""
    if name == "none":
        if not allow_unsafe:
            raise IsolationUnavailable("isolation 'none' requires --unsafe-no-isolation")
        return _instance("none")
    if name not in ("auto", *BACKENDS):
        raise IsolationUnavailable(f"unknown isolation {name!r}; expected auto, bwrap, unshare or none")
    reasons = []
    for candidate in (["bwrap", "unshare"] if name == "auto" else [name]):
        backend = _instance(candidate)
        reason = backend.probe()
        if reason is None:
            return backend
        reasons.append(f"{candidate}: {reason}")
    if allow_unsafe:
        return _instance("none")
    raise IsolationUnavailable(
        "no working isolation (" + "; ".join(reasons) + "). Install bubblewrap, enable user "
        "namespaces, or pass --unsafe-no-isolation to run candidates UNCONFINED.")
