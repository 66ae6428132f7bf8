"""A seccomp filter for the candidate's process. Runs inside the sandbox; stdlib only.

Once installed, the candidate cannot create processes (threads stay allowed), exec a
program, signal, trace or re-limit any process but itself, or change namespaces and
mounts. Any such attempt kills the process with SIGSYS, which the evaluator reports as
an isolation violation. This is what makes fork bombs, "kill the parent" and shell-outs
fail early and loudly instead of racing process limits (RLIMIT_NPROC is not enforced for
processes whose real uid is root, which is what a sandbox started by root runs as).
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

# BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
_LD_W_ABS, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
_KILL_PROCESS, _ALLOW, _ERRNO = 0x80000000, 0x7FFF0000, 0x00050000
_CLONE_THREAD = 0x00010000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16  # seccomp_data offsets; arg0's low 32 bits

# name -> number, per architecture; `None` where the call does not exist there.
_ARCHES: dict[str, tuple[int, dict[str, int | None]]] = {
    "x86_64": (0xC000003E, {
        "fork": 57, "vfork": 58, "clone": 56, "clone3": 435, "execve": 59, "execveat": 322,
        "kill": 62, "tkill": 200, "tgkill": 234, "pidfd_send_signal": 424, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "prlimit64": 302,
        "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
        "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
        "chroot": 161, "bpf": 321, "keyctl": 250, "add_key": 248, "request_key": 249,
    }),
    "aarch64": (0xC00000B7, {
        "fork": None, "vfork": None, "clone": 220, "clone3": 435, "execve": 221,
        "execveat": 281, "kill": 129, "tkill": 130, "tgkill": 131, "pidfd_send_signal": 424,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "prlimit64": 261,
        "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
        "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
        "chroot": 51, "bpf": 280, "keyctl": 219, "add_key": 217, "request_key": 218,
    }),
}
_ALWAYS_KILLED = ("fork", "vfork", "execve", "execveat", "tkill", "pidfd_send_signal", "ptrace",
                  "process_vm_readv", "process_vm_writev", "unshare", "setns", "mount",
                  "umount2", "pivot_root", "chroot", "bpf", "keyctl", "add_key", "request_key")


class _Program:
    """A tiny BPF assembler with forward labels, enough for one flat filter."""

    def __init__(self) -> None:
        self.ops: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        self.ops.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.ops)

    def assemble(self) -> bytes:
        out = b""
        for i, (code, jt, jf, k) in enumerate(self.ops):
            def rel(target: int | str, i: int = i) -> int:
                return target if isinstance(target, int) else self.labels[target] - i - 1
            out += struct.pack("HBBI", code, rel(jt), rel(jf), k)
        return out


def build_filter(own_pid: int, machine: str | None = None) -> bytes:
    """The filter for a process whose pid (in its namespace) is `own_pid`."""
    arch_id, nrs = _ARCHES[machine or platform.machine()]
    p = _Program()
    p.op(_LD_W_ABS, _OFF_ARCH)
    p.op(_JEQ, arch_id, 0, "kill")                      # foreign ABI: refuse outright
    p.op(_LD_W_ABS, _OFF_NR)
    p.op(_JGE, 0x40000000, "kill", 0)                   # x32 ABI on x86_64
    for name in _ALWAYS_KILLED:
        if (nr := nrs[name]) is not None:
            p.op(_JEQ, nr, "kill", 0)
    p.op(_JEQ, nrs["clone3"] or 0, "enosys", 0)         # glibc then falls back to clone
    p.op(_JEQ, nrs["clone"] or 0, "clone", 0)
    p.op(_JEQ, nrs["kill"] or 0, "self_only", 0)
    p.op(_JEQ, nrs["tgkill"] or 0, "self_only", 0)
    p.op(_JEQ, nrs["rt_sigqueueinfo"] or 0, "self_only", 0)    # signal with a payload: as kill
    p.op(_JEQ, nrs["rt_tgsigqueueinfo"] or 0, "self_only", 0)
    p.op(_JEQ, nrs["prlimit64"] or 0, "self_or_zero", 0)
    p.op(_RET, _ALLOW)
    p.label("clone")                                    # threads yes, processes no
    p.op(_LD_W_ABS, _OFF_ARG0)
    p.op(_JSET, _CLONE_THREAD, "allow", "kill")
    p.label("self_or_zero")
    p.op(_LD_W_ABS, _OFF_ARG0)
    p.op(_JEQ, 0, "allow", 0)
    p.op(_JEQ, own_pid, "allow", "kill")
    p.label("self_only")
    p.op(_LD_W_ABS, _OFF_ARG0)
    p.op(_JEQ, own_pid, "allow", "kill")
    p.label("enosys")
    p.op(_RET, _ERRNO | errno.ENOSYS)
    p.label("allow")
    p.op(_RET, _ALLOW)
    p.label("kill")
    p.op(_RET, _KILL_PROCESS)
    return p.assemble()


def install(own_pid: int) -> None:
    """Install the filter on the calling thread's process (irreversible)."""
    libc = ctypes.CDLL(None, use_errno=True)
    prog = build_filter(own_pid)
    buf = ctypes.create_string_buffer(prog, len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
