"""Tasks: kind + data + input/output contract + the fixed training recipe + the metric.

`get_task` is the one registry: a built-in name, or a path to a user's `.npz` file
(classification, or causal token modelling when it holds `tokens_train`) or `.bin` token stream.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agentnas.records import Metric
from agentnas.tasks.base import (
    CONTRACTS,
    IGNORE,
    Baseline,
    Contract,
    Recipe,
    Task,
    TaskData,
    TaskError,
    TaskKind,
    TaskSpec,
)
from agentnas.tasks.digits import DigitsTask
from agentnas.tasks.mnist1d import Mnist1dTask
from agentnas.tasks.mqar import SETTINGS as MQAR_SETTINGS
from agentnas.tasks.mqar import MqarTask
from agentnas.tasks.npz import NpzTask
from agentnas.tasks.stdlib_chars import StdlibCharsTask
from agentnas.tasks.tabular import TABULAR_TASKS, TabularTask
from agentnas.tasks.tokens import TokenFileTask

_BUILTIN: dict[str, Callable[[], Task]] = {
    "mnist1d": Mnist1dTask,
    "digits": DigitsTask,
    # Causal token modelling (tokens.py): recall at three difficulties, and characters of Python.
    **{name: (lambda name=name: MqarTask(name)) for name in MQAR_SETTINGS},  # type: ignore[misc]
    "stdlib-chars": StdlibCharsTask,
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
    if path.suffix.lower() == ".bin":
        return TokenFileTask(path)
    # A name that ends in .npz is meant as a file even when it is missing: NpzTask then
    # says "no such file", which helps more than "unknown task".
    if path.suffix.lower() == ".npz" or path.is_file():
        return TokenFileTask(path) if _holds_tokens(path) else NpzTask(path)
    raise TaskError(f"unknown task {name_or_path!r}; known tasks: {', '.join(TASK_NAMES)}, "
                    "or a path to an .npz file with x_train, y_train, x_test, y_test "
                    "(and optionally x_val, y_val), an .npz token file with tokens_train, tokens_test "
                    "(and optionally tokens_val), or a train.bin token stream")


def _holds_tokens(path: Path) -> bool:
    """Whether an .npz file is a token file (it names tokens_train); unreadable: let NpzTask say why."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return "tokens_train.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


__all__ = [
    "CONTRACTS",
    "IGNORE",
    "MQAR_SETTINGS",
    "TABULAR_TASKS",
    "TASK_NAMES",
    "Baseline",
    "Contract",
    "DigitsTask",
    "Metric",
    "Mnist1dTask",
    "MqarTask",
    "NpzTask",
    "Recipe",
    "StdlibCharsTask",
    "Task",
    "TaskData",
    "TaskError",
    "TaskKind",
    "TaskSpec",
    "TabularTask",
    "TokenFileTask",
    "get_task",
]
