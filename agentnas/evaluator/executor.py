"""Executors: where evaluations run. `local` (this machine's sandbox slots, the default) or
`ray` (one Ray task per evaluation, on whichever node of a cluster takes it).

The run loop only sees the `Executor` contract, so it does not care where a candidate was
trained: it hands over candidate files and gets one `EvalResult` per file back, and it alone
writes anything that lasts (the journal, the kept ONNX files under `out_dir`).
`open_executor` is the one registry function (like `get_isolation`).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from agentnas.evaluator.evaluator import EvalOptions, Evaluator
from agentnas.records import EvalResult
from agentnas.tasks import Task

ExecutorKind = Literal["local", "ray"]
EXECUTORS: tuple[str, ...] = ("local", "ray")
OnResult = Callable[[EvalResult], None]

# HOST:PORT where HOST is a name, an IPv4 address or a bracketed IPv6 address.
_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-]*):(\d{1,5})$")


class ExecutorError(RuntimeError):
    """An executor cannot serve (bad address, unreachable cluster, a node that cannot start
    a sandbox ...): a problem of the set-up, not of a candidate; the message says what to fix."""


class ExecutorUnavailable(ExecutorError):
    """The executor asked for cannot be used here (e.g. Ray is not installed)."""


class Executor(ABC):
    """Runs evaluations and hands their results back to the caller.

    Contract, for every backend (tests/executor/test_contract.py):
    - `evaluate(paths)` returns exactly one `EvalResult` per path, in the order of `paths`,
      with `result.path == str(path)`; `on_result` is called once per result as each one
      finishes (in any order). A candidate's failure is a failed result, never an exception.
    - A worker or node lost mid-evaluation is rescheduled; its evaluation is returned once,
      never twice, and never silently dropped.
    - Only the caller's process writes lasting files: ONNX kept under `out_dir` exactly as
      `Evaluator` keeps them (`result.onnx_path` points there).
    - Set-up problems raise `ExecutorError` (or the evaluator's own `SandboxStartError`,
      `IsolationUnavailable`); `close()` releases every process the executor started.
    """

    name: str = ""

    @abstractmethod
    def evaluate(self, paths: Sequence[Path], on_result: OnResult | None = None) -> list[EvalResult]: ...

    @abstractmethod
    def close(self) -> None: ...

    def warm_up(self) -> None:  # noqa: B027  (nothing to start ahead of time by default)
        """Start what the first evaluation would otherwise wait for."""

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name}

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """This machine's sandbox slots: an `Evaluator`, as before executors existed."""

    name = "local"

    def __init__(self, task: Task, options: EvalOptions, *, cache_dir: Path, out_dir: Path | None = None) -> None:
        self.evaluator = Evaluator(task, options, cache_dir=cache_dir, out_dir=out_dir)

    def evaluate(self, paths: Sequence[Path], on_result: OnResult | None = None) -> list[EvalResult]:
        return self.evaluator.evaluate(paths, on_result=on_result)

    def warm_up(self) -> None:
        self.evaluator.warm_up()

    def close(self) -> None:
        self.evaluator.close()

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "slots": len(self.evaluator.sandboxes),
                "isolation": self.evaluator.isolation.name, "device": self.evaluator.device}


def check_ray_address(address: str | None) -> str | None:
    """`None` (start a Ray instance in this process), "auto" (the cluster this machine is part
    of) or HOST:PORT of a cluster's head; anything else raises ExecutorError."""
    if address is None or address == "auto":
        return address
    text = address.strip()
    match = _ADDRESS.match(text)
    if match is None or not 0 < int(match.group(1)) < 65536:
        raise ExecutorError(f"--ray-address {address!r}: expected 'auto' or HOST:PORT of the cluster's head "
                            "(e.g. 10.0.0.5:6379)")
    return text
