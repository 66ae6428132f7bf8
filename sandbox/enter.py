"""Build the sandbox's filesystem view with plain Linux namespaces, then exec the zygote.

Used when bubblewrap is not installed. The evaluator starts it as
`unshare --user --map-root-user --mount --net --pid --ipc --uts --fork --kill-child
python -I -S enter.py SPEC_JSON`, so it runs as root of a fresh user namespace, in its own
mount/network/pid namespaces. It mounts a tmpfs as the new root, binds in only the listed
paths (read-only unless marked writable), mounts /proc and a few device nodes, pivots into
it, detaches the old root, remounts / read-only, drops every capability from the bounding
set and sets no_new_privs, then execs the zygote (which thus starts with no capabilities).
Stdlib only.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MNT_DETACH = 0x2
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
ST_FLAGS_TO_MS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC}

libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {src} -> {dst}")


def _make_target(target: str, like: str) -> None:
    if os.path.isdir(like):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()


def bind(src: str, target: str, writable: bool) -> None:
    _make_target(target, src)
    mount(src, target, None, MS_BIND | MS_REC)
    if not writable:
        # Flags the parent namespace locked (nosuid, nodev, noexec) must be kept on remount.
        st = os.statvfs(src)
        kept = sum(ms for st_flag, ms in ST_FLAGS_TO_MS.items() if st.f_flag & st_flag)
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def build_root(spec: dict) -> None:
    root = spec["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m")
    hidden = []
    for src, dst, writable in spec["binds"]:
        if src is None:  # an empty tmpfs hiding what is below, read-only once filled
            os.makedirs(root + dst, exist_ok=True)
            mount("tmpfs", root + dst, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
            hidden.append(root + dst)
        else:
            bind(src, root + dst, writable)
    for target in hidden:
        mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for target, link in spec["symlinks"]:
        os.symlink(target, root + link)
    for dev in spec["devices"]:
        bind(dev, root + dev, True)
    os.makedirs(root + "/proc", exist_ok=True)
    # Read-only: started by root, the sandbox is uid 0, which may write host-wide sysctls
    # (/proc/sys/kernel/core_pattern runs a program on the host) without any capability.
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
    os.chdir(root)
    os.makedirs(".oldroot", exist_ok=True)
    _check(libc.syscall(155 if os.uname().machine == "x86_64" else 41, b".", b".oldroot"),
           "pivot_root")
    os.chdir("/")
    _check(libc.umount2(b"/.oldroot", MNT_DETACH), "umount old root")
    os.rmdir("/.oldroot")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def drop_privileges() -> None:
    cap = 0
    while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    # Root's inheritable set survives exec into the permitted set: clear it too (capset v3).
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(libc.capget(header, data), "capget")
    data[2] = data[5] = 0
    _check(libc.capset(header, data), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def main() -> None:
    spec = json.loads(sys.argv[1])
    build_root(spec)
    drop_privileges()
    os.chdir(spec["chdir"])
    os.execve(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    main()
