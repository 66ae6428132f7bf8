"""Executors by name: one registry function, as `get_isolation` and `get_task` are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentnas.evaluator.evaluator import EvalOptions
from agentnas.evaluator.executor import EXECUTORS, Executor, ExecutorError, LocalExecutor, check_ray_address
from agentnas.tasks import Task


def open_executor(kind: str, task: Task, options: EvalOptions, *, cache_dir: Path, out_dir: Path | None = None,
                  ray_address: str | None = None, **ray_options: Any) -> Executor:
    """The executor called `kind`: "local" (an Evaluator on this machine) or "ray".

    For "ray", `ray_address` is None (start a private Ray instance in this process, sized to
    `options.slots` parallel evaluations), "auto" or HOST:PORT; `ray_options` go to
    `RayExecutor` (e.g. `max_retries`). Raises ExecutorUnavailable when Ray is not installed,
    ExecutorError for a bad kind or address or an unreachable cluster.
    """
    if kind == "local":
        if ray_address is not None:
            raise ExecutorError("--ray-address only applies to --executor ray")
        return LocalExecutor(task, options, cache_dir=cache_dir, out_dir=out_dir)
    if kind == "ray":
        address = check_ray_address(ray_address)
        from agentnas.evaluator.ray_executor import RayExecutor  # imports Ray only when asked for

        return RayExecutor(task, options, cache_dir=cache_dir, out_dir=out_dir, address=address, **ray_options)
    raise ExecutorError(f"unknown executor {kind!r}; expected one of: {', '.join(EXECUTORS)}")


get_executor = open_executor  # the registry's name in the house style (get_isolation, get_task)
