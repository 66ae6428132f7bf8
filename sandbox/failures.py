"""Typed failures of one evaluation inside the sandbox (the trusted side maps `kind` to
its FailureKind). Imports only the standard library."""

from __future__ import annotations

import errno


class Failure(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


def limit_hit(e: BaseException) -> Failure | None:
    """The failure for a resource limit reached, the same in import, build, forward or training."""
    text = f"{type(e).__name__}: {e}"
    if isinstance(e, MemoryError) or "can't allocate memory" in text or "out of memory" in text.lower():
        return Failure("memory", f"out of memory ({text})"[:500])
    if isinstance(e, OSError) and e.errno == errno.EFBIG:
        return Failure("crash", f"a file exceeded the file size limit ({text})"[:500])
    return None
