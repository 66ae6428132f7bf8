"""What a run holds while it runs: the lock on its directory, its settings checked against
the journal, the value model it learns, and langgraph's per-expansion checkpoints."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from agentnas.journal.store import Journal
from agentnas.journal.tree import RunTree
from agentnas.records import ACCURACY, Metric
from agentnas.run.settings import RunError, RunOptions, effective_config, record_settings, settle
from agentnas.value.online import OnlineValueModel
from agentnas.value.zeroshot import ZeroShotPredictor


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir/run.lock` for the life of the run: one writer per run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "run.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text(encoding="utf-8", errors="replace").strip() or "another process"
            raise RunError(f"{run_dir} is in use by a running agentnas run ({holder}); wait for it to end, "
                           f"or use another --run-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        yield
    finally:
        os.close(fd)


def resolve(journal: Journal, options: RunOptions, allow_change: bool = False
            ) -> tuple[RunOptions, dict[str, list[Any]]]:
    """The options a (re)start runs with against the journal's settings, and their changes
    (agentnas.search.settings); every field of `options` counts as given."""
    settings, changed = settle(effective_config(journal), options.model_dump(mode="json"), None, allow_change,
                               options.run_dir)
    return RunOptions.model_validate({**settings, "run_dir": options.run_dir}), changed


def check_identity(journal: Journal, options: RunOptions, allow_change: bool = False) -> RunOptions:
    """Record the run's settings on its first start; on a resume refuse a different identity
    (or an experiment setting changed without `allow_change`) and record what changed."""
    resolved, changed = resolve(journal, options, allow_change)
    record_settings(journal, resolved.model_dump(mode="json"), changed)
    return resolved


class ValueService:
    """The run's value model: zero-shot prior + the per-task online GP. It learns and predicts
    the task metric's score (accuracy fractions, or a token task's loss), whose direction the
    caller reads from the `Metric`. The zero-shot prior predicts accuracy, so it is used on
    accuracy tasks only. `observe` ignores an experiment id it has seen, so rebuilding after a
    resume is safe."""

    def __init__(self, prior: ZeroShotPredictor | None, metric: Metric = ACCURACY) -> None:
        accuracy = metric.name == ACCURACY.name
        self.scale = 100.0 if accuracy else 1.0  # the model works in accuracy points, a loss as it is
        self.model = OnlineValueModel(prior=prior.predict if prior is not None and accuracy else None,
                                      prior_std=10.0 if accuracy else 1.0)
        self.seen: set[str] = set()

    def observe(self, experiment_id: str, task: str, features: list[float] | None, score: float | None) -> None:
        if experiment_id in self.seen or features is None or score is None:
            return
        self.seen.add(experiment_id)
        self.model.observe(task, np.asarray(features, np.float64), self.scale * score)

    def predict(self, task: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.model.predict(task, x)  # in the model's units (before any result: prior ranks)
        return mean / self.scale, std / self.scale

    def sync(self, tree: RunTree, task: str, before_iteration: int) -> None:
        """Learn every full-fidelity result of iterations before `before_iteration`, in journal
        order. Predictions in an iteration therefore depend only on earlier iterations, the
        same whether the run was interrupted or not."""
        for exp_id, exp in tree.experiments.items():
            node = tree.nodes.get(exp["node_id"])
            if node is not None and node.trained and int(exp["iteration"]) < before_iteration:
                self.observe(exp_id, task, node.features, node.val_score)


def checkpointer(run_dir: Path) -> Any:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(run_dir / "checkpoints.sqlite", check_same_thread=False)
    return SqliteSaver(conn)
