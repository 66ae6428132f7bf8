"""The trusted side of evaluation: isolation backends, sandboxed zygotes, scoring."""

from agentnas.evaluator.evaluator import EvalOptions, Evaluator, resolve_device, sandbox_data_file
from agentnas.evaluator.executor import (
    EXECUTORS,
    Executor,
    ExecutorError,
    ExecutorUnavailable,
    LocalExecutor,
    check_ray_address,
)
from agentnas.evaluator.isolation import (
    BACKENDS,
    Isolation,
    IsolationUnavailable,
    SandboxSpec,
    get_isolation,
)
from agentnas.evaluator.registry import get_executor, open_executor
from agentnas.evaluator.sandbox import SandboxDied, SandboxProcess, SandboxStartError, sandbox_env

__all__ = [
    "BACKENDS", "EXECUTORS", "EvalOptions", "Evaluator", "Executor", "ExecutorError", "ExecutorUnavailable",
    "Isolation", "IsolationUnavailable", "LocalExecutor", "SandboxDied", "check_ray_address", "get_executor",
    "open_executor",
    "SandboxProcess", "SandboxSpec", "SandboxStartError", "get_isolation", "resolve_device",
    "sandbox_data_file", "sandbox_env",
]
