"""`agentnas run`: assemble a discovery run on a real task and drive the loop.

A run directory holds everything about one run: `journal.sqlite` (append-only, the truth),
`checkpoints.sqlite` (langgraph's per-expansion checkpoints), `candidates/<id>/model.py`
and `run.lock` (held by the one process that writes). Running again on the same
directory resumes; the run's identity (task, seed, proposer) must match, the budget may
grow.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agentnas.journal import Journal, JournalError, open_journal
from agentnas.search.runtree import RunTree
from agentnas.value.online import OnlineValueModel
from agentnas.value.zeroshot import ZeroShotPredictor

IDENTITY = ("task", "seed", "proposer")


class RunError(RuntimeError):
    """The run cannot start or go on; the message says why and what to do."""


class RunOptions(BaseModel):
    """What a run is asked to do (recorded in the journal's `run/config` entry)."""

    model_config = ConfigDict(frozen=True)

    task: str = "mnist1d"
    run_dir: Path
    budget_evals: int | None = Field(default=None, gt=0)
    budget_time_s: float | None = Field(default=None, gt=0)
    proposer: Literal["offline", "llm"] = "offline"
    seed: int = Field(default=0, ge=0)
    k: int = Field(default=6, gt=0, description="children proposed per expansion")
    train_per_expansion: int = Field(default=2, gt=0, description="children granted real training per expansion")
    beta: float = Field(default=1.0, ge=0, description="exploration weight on the value model's std")
    max_params: int | None = Field(default=None, gt=0)
    max_macs: int | None = Field(default=None, gt=0, description="offline proposer: multiply-adds bound (cost)")
    epochs: int | None = Field(default=None, gt=0, description="override the task recipe's epochs")
    fidelity_epochs: int | None = Field(default=None, gt=0, description="successive halving: short runs first")
    keep: float = Field(default=0.5, gt=0, le=1, description="fraction of short runs promoted to the full recipe")
    memory: str | None = None
    from_memory: bool = False  # warm-start the value model and hypotheses from the memory (agentnas.search.warmstart)
    approve: bool = False
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    value_model: str | None = None  # a pretrained head's path; None: the shipped one; "none": no prior
    llm_base_url: str | None = None  # the key is never part of the options (they go to the journal)
    llm_model: str | None = None


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


def check_identity(journal: Journal, options: RunOptions) -> None:
    """Record the run's options on first start; on resume refuse a different identity."""
    mine = options.model_dump(mode="json")
    entry = journal.get("run", "config")
    if entry is None:
        journal.append("run", "config", mine)
        return
    for name in IDENTITY:
        if entry.payload.get(name) != mine.get(name):
            raise RunError(f"{options.run_dir} holds a run with {name}={entry.payload.get(name)!r}, not "
                           f"{mine.get(name)!r}; resume with the same {name}, or start a new --run-dir")


class ValueService:
    """The run's value model: zero-shot prior + the per-task online GP, in accuracy fractions.
    `observe` ignores an experiment id it has seen, so rebuilding after a resume is safe."""

    def __init__(self, prior: ZeroShotPredictor | None) -> None:
        self.model = OnlineValueModel(prior=prior.predict if prior is not None else None, prior_std=10.0)
        self.seen: set[str] = set()

    def observe(self, experiment_id: str, task: str, features: list[float] | None, val_accuracy: float | None) -> None:
        if experiment_id in self.seen or features is None or val_accuracy is None:
            return
        self.seen.add(experiment_id)
        self.model.observe(task, np.asarray(features, np.float64), 100.0 * val_accuracy)

    def predict(self, task: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.model.predict(task, x)  # accuracy points (before any result: prior ranks)
        return mean / 100.0, std / 100.0

    def sync(self, tree: RunTree, task: str, before_iteration: int) -> None:
        """Learn every full-fidelity result of iterations before `before_iteration`, in journal
        order. Predictions in an iteration therefore depend only on earlier iterations, the
        same whether the run was interrupted or not."""
        for exp_id, exp in tree.experiments.items():
            node = tree.nodes.get(exp["node_id"])
            if node is not None and node.trained and int(exp["iteration"]) < before_iteration:
                self.observe(exp_id, task, node.features, node.val_accuracy)


def checkpointer(run_dir: Path) -> Any:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(run_dir / "checkpoints.sqlite", check_same_thread=False)
    return SqliteSaver(conn)


def leaderboard(tree: RunTree, n: int = 10) -> list[dict[str, Any]]:
    done = sorted(tree.trained_nodes(), key=lambda x: (-(x.val_accuracy or 0.0), x.params or 0, x.iteration))
    return [{"id": x.id, "val_accuracy": x.val_accuracy, "test_accuracy": x.test_accuracy, "params": x.params,
             "hypothesis": tree.hypotheses[x.hypothesis_id].text if x.hypothesis_id in tree.hypotheses else "",
             "description": x.description} for x in done[:n]]


def hypothesis_outcomes(tree: RunTree, run_dir: Path) -> list[dict[str, Any]]:
    """Every hypothesis (the researcher's, the user's, and the user's still waiting in the
    inbox) with what became of it: its architectures, how many were trained and failed, its
    best result. `nodes` (the architecture count) is kept for older readers."""
    from agentnas.steering.inbox import read_inbox

    rows = []
    for h in tree.hypotheses.values():
        nodes = [tree.nodes[i] for i in h.nodes]
        trained = [n for n in nodes if n.trained]
        best = max(trained, key=lambda n: (n.val_accuracy or 0.0, -(n.params or 0), -n.iteration), default=None)
        failed = sum(1 for n in nodes if n.experiment is not None and n.experiment["status"] != "ok")
        rows.append({"id": h.id, "text": h.text, "source": h.source, "nodes": len(nodes),
                     "status": "pruned" if h.id in tree.steering.pruned else "explored" if nodes else "waiting",
                     "children": [n.id for n in nodes], "trained": len(trained), "failed": failed,
                     "best": None if best is None else {"id": best.id, "val_accuracy": best.val_accuracy,
                                                        "test_accuracy": best.test_accuracy, "params": best.params}})
    taken = {h.id for h in tree.hypotheses.values()}
    for m in read_inbox(run_dir):  # sent by the chat, not taken by the run yet (it is not running)
        if m.kind == "hypothesis" and m.text.strip() and f"u{m.id}" not in taken:
            rows.append({"id": f"u{m.id}", "text": m.text.strip(), "source": "user", "nodes": 0, "status": "pending",
                         "children": [], "trained": 0, "failed": 0, "best": None})
    return rows


def summary(run_dir: Path) -> dict[str, Any]:
    """The `runs show --json` document, read from the journal only."""
    try:
        journal = open_journal(run_dir, read_only=True)
    except JournalError as e:
        raise RunError(f"{run_dir}: {e}") from e
    with journal:
        tree = RunTree.from_journal(journal)
        # replayed calls (a resumed session served from the journal) were paid for once, already counted
        calls = [e.payload for e in journal.entries("llm_call") if e.payload.get("status") != "replayed"]
        config = journal.get("run", "config")
        steering = [e.payload for e in journal.entries("steering")]
    experiments = []
    for exp_id, exp in tree.experiments.items():
        experiments.append({"id": exp_id, "status": exp["status"], "val_accuracy": exp["val_accuracy"],
                            "test_accuracy": exp["test_accuracy"], "code_hash": exp["code_hash"],
                            "hypothesis_id": exp["hypothesis_id"], "parent_id": exp["parent_id"],
                            "params": exp["params"], "fidelity": exp.get("fidelity", "full"),
                            "failure_kind": exp.get("failure_kind")})
    best = tree.best()
    best_doc = None
    if best is not None:
        best_doc = {"id": best.id, "val_accuracy": best.val_accuracy, "test_accuracy": best.test_accuracy,
                    "params": best.params, "hypothesis_id": best.hypothesis_id,
                    "path": str(Path(run_dir) / "candidates" / best.id / "model.py")}
    nodes = list(tree.nodes.values())
    proposals = {"total": len(nodes),
                 "valid_first_try": sum(1 for n in nodes if n.attempts == 0 and n.status != "failed"),
                 "valid_after_repair": sum(1 for n in nodes if n.status != "failed"),
                 "repaired": sum(1 for n in nodes if n.attempts > 0 and n.status != "failed"),
                 "duplicates": sum(1 for n in nodes if n.status == "duplicate")}
    failures: dict[str, int] = {}
    for exp in tree.experiments.values():
        if exp["status"] != "ok":
            failures[str(exp.get("failure_kind"))] = failures.get(str(exp.get("failure_kind")), 0) + 1
    return {
        "run_dir": str(run_dir), "config": config.payload if config else None,
        "iterations": tree.iterations, "experiments": experiments, "best": best_doc,
        "leaderboard": leaderboard(tree),
        "hypotheses": hypothesis_outcomes(tree, run_dir),
        "failures": failures,
        "proposals": proposals,
        "llm": {"calls": len(calls), "prompt_tokens": sum(int(c.get("prompt_tokens", 0)) for c in calls),
                "completion_tokens": sum(int(c.get("completion_tokens", 0)) for c in calls),
                "cost_usd": round(sum(float(c.get("cost_usd", 0.0)) for c in calls), 6)},
        "steering": steering,
    }


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, default=str)
