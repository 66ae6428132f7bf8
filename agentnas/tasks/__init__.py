"""Tasks: data + input/output spec + the fixed training recipe + the metric.

`get_task` is the one registry: a built-in name, or a path to a user's `.npz` file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agentnas.records import Metric
from agentnas.tasks.base import Baseline, Recipe, Task, TaskData, TaskError, TaskSpec
from agentnas.tasks.digits import DigitsTask
from agentnas.tasks.mnist1d import Mnist1dTask
from agentnas.tasks.npz import NpzTask
from agentnas.tasks.tabular import TABULAR_TASKS, TabularTask

_BUILTIN: dict[str, Callable[[], Task]] = {
    "mnist1d": Mnist1dTask,
    "digits": DigitsTask,
    **TABULAR_TASKS,  # benchmark tables: an evaluation is a lookup (tabular.py)
}
TASK_NAMES: tuple[str, ...] = tuple(_BUILTIN)


def get_task(name_or_path: str) -> Task:
    """The task called `name_or_path`: a built-in name, or a `.npz` file (an NpzTask).

    Raises TaskError for an unknown name (listing the known ones) or a malformed file.
    """
    if name_or_path in _BUILTIN:
        return _BUILTIN[name_or_path]()
    path = Path(name_or_path).expanduser()
    # A name that ends in .npz is meant as a file even when it is missing: NpzTask then
    # says "no such file", which helps more than "unknown task".
    if path.suffix.lower() == ".npz" or path.is_file():
        return NpzTask(path)
    raise TaskError(f"unknown task {name_or_path!r}; known tasks: {', '.join(TASK_NAMES)}, "
                    "or a path to an .npz file with x_train, y_train, x_test, y_test "
                    "(and optionally x_val, y_val)")


__all__ = [
    "TABULAR_TASKS",
    "TASK_NAMES",
    "Baseline",
    "DigitsTask",
    "Metric",
    "Mnist1dTask",
    "NpzTask",
    "Recipe",
    "Task",
    "TaskData",
    "TaskError",
    "TaskSpec",
    "TabularTask",
    "get_task",
]
