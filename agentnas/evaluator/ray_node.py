"""The node side of the Ray executor: what a Ray worker process runs for one evaluation.

`evaluate_on_node` is the Ray task. It keeps one `Evaluator` per executor (and GPU set) in
the worker process, so the sandbox's zygote stays warm between evaluations; every file it
writes lives in this worker's folder under the node's temp folder, swept when the worker is
gone. It returns the result as JSON plus the exported ONNX bytes: the caller keeps them.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentnas import __version__
from agentnas.evaluator.evaluator import EvalOptions, Evaluator
from agentnas.evaluator.latency import TORCHSCRIPT_FILE
from agentnas.tasks import TASK_NAMES, Task, TaskData, TaskSpec, get_task


class ShippedTask(Task):
    """A task whose arrays came with the job: a node needs neither the dataset nor the user's file."""

    def __init__(self, spec: TaskSpec, data: TaskData) -> None:
        self.spec, self._data = spec, data

    def load(self, cache_dir: Path) -> TaskData:
        return self._data

    def hidden_paths(self) -> tuple[str, ...]:
        # Where this node keeps a built-in task's evaluation text (stdlib-chars) is the node's own business.
        return get_task(self.spec.name).hidden_paths() if self.spec.name in TASK_NAMES else ()


@dataclass(frozen=True)
class Bundle:
    """What every evaluation of one executor needs on a node; put in the object store once."""

    key: str  # names the executor, so a worker reuses its Evaluator (and warm zygote) for it
    spec: TaskSpec
    data: TaskData
    options: EvalOptions  # one slot, device resolved
    keep_outputs: bool
    version: str
    attempt_log: str | None


class NodeMismatch(RuntimeError):
    """The node runs another agentnas version than the caller (not retried)."""


_NODE_EVALUATORS: OrderedDict[tuple[str, str], Evaluator] = OrderedDict()
_NODE_KEEP = 3  # a run's check, train and short-fidelity executors


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@functools.cache
def _node_root() -> Path:
    """This worker process's folder on the node (candidate sources, ONNX on their way back).
    Folders of workers that died (killed with their node, say) are swept on the way in."""
    shared = Path(tempfile.gettempdir()) / f"agentnas-ray-{os.getuid()}"
    shared.mkdir(mode=0o700, exist_ok=True)
    for entry in shared.glob("p[0-9]*"):
        if entry.name[1:].isdigit() and not _pid_alive(int(entry.name[1:])):
            shutil.rmtree(entry, ignore_errors=True)
    mine = shared / f"p{os.getpid()}"
    mine.mkdir(exist_ok=True)
    return mine


def _close_node_evaluators() -> None:
    while _NODE_EVALUATORS:
        _NODE_EVALUATORS.popitem()[1].close()
    if _node_root.cache_info().currsize:
        shutil.rmtree(_node_root(), ignore_errors=True)


atexit.register(_close_node_evaluators)


def _node_evaluator(bundle: Bundle) -> Evaluator:
    # Ray sets CUDA_VISIBLE_DEVICES to this task's GPUs and the sandbox inherits it at start:
    # a zygote started for other GPUs must not serve this task.
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "") if bundle.options.device == "cuda" else ""
    key = (bundle.key, gpus)
    if key in _NODE_EVALUATORS:
        _NODE_EVALUATORS.move_to_end(key)
        return _NODE_EVALUATORS[key]
    while len(_NODE_EVALUATORS) >= _NODE_KEEP:
        _NODE_EVALUATORS.popitem(last=False)[1].close()
    root = _node_root()
    out = Path(tempfile.mkdtemp(prefix="out-", dir=root)) if bundle.keep_outputs else None
    # The Evaluator's work folder (sandbox scratch) goes inside this worker's folder too, so
    # that it is swept with it if the worker is killed; the data cache is shared by the node's
    # workers (its file is named by its content).
    saved, tempfile.tempdir = tempfile.tempdir, str(root)
    try:
        evaluator = Evaluator(ShippedTask(bundle.spec, bundle.data), bundle.options,
                              cache_dir=root.parent / "cache", out_dir=out)
    finally:
        tempfile.tempdir = saved
    _NODE_EVALUATORS[key] = evaluator
    return evaluator


def _log_attempt(bundle: Bundle, event: str, key: str, path: str) -> None:
    """One JSON line per attempt event, appended to a file on a shared filesystem (audits, tests)."""
    if bundle.attempt_log is None:
        return
    ray = importlib.import_module("ray")
    line = json.dumps({"event": event, "key": key, "path": path, "pid": os.getpid(), "time": time.time(),
                       "node": ray.get_runtime_context().get_node_id()}) + "\n"
    with open(bundle.attempt_log, "a", encoding="utf-8") as f:  # O_APPEND: whole lines, any number of writers
        f.write(line)


def evaluate_on_node(bundle: Bundle, name: str, source: bytes, key: str, path: str) -> dict[str, Any]:
    """The Ray task: evaluate one candidate in this node's sandbox. Returns the result as
    JSON and the kept ONNX bytes; the node keeps nothing of the candidate's."""
    if bundle.version != __version__:
        raise NodeMismatch(f"this node runs agentnas {__version__}, the caller {bundle.version}: "
                           "install the same version on every node")
    evaluator = _node_evaluator(bundle)
    if not evaluator.sandboxes[0].alive:
        evaluator.warm_up()
    folder = Path(tempfile.mkdtemp(prefix="candidate-", dir=_node_root()))
    try:
        candidate = folder / Path(name).name
        candidate.write_bytes(source)
        _log_attempt(bundle, "start", key, path)
        result = evaluator.evaluate_one(candidate)
        reply: dict[str, Any] = {"result": result.model_dump(mode="json"), "onnx": None, "kept": None}
        if result.onnx_path is not None:
            onnx = Path(result.onnx_path)
            reply["onnx"], reply["kept"] = onnx.read_bytes(), onnx.parent.name
            traced = onnx.with_name(TORCHSCRIPT_FILE)  # the check's trace, when asked for
            reply["traced"] = traced.read_bytes() if traced.is_file() else None
            shutil.rmtree(onnx.parent, ignore_errors=True)
        _log_attempt(bundle, "end", key, path)
        return reply
    finally:
        shutil.rmtree(folder, ignore_errors=True)
