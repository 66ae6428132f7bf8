"""What the report reads: one run's journal, turned into plain records in journal order.

Read-only and safe on a live run (the journal is SQLite in WAL mode, readers never block
the writer). The tree comes from `RunTree.from_journal`, as everywhere else; what the tree
does not keep (the analyst's lesson, check failures, the LLM ledger) is read from the
node and `llm_call` payloads directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentnas.journal import JOURNAL_FILE, JournalError, open_journal
from agentnas.journal.tree import ArchNode, RunTree
from agentnas.records import ExperimentEntry
from agentnas.run.settings import SETTINGS_PREFIX

# Operators whose node was drawn at random (the grammar's seeds and samples): the population
# the random-search baseline is estimated from.
RANDOM_OPERATORS = frozenset({"sample", "seed"})


class ReportError(RuntimeError):
    """The report cannot be made (not a run directory, an empty run); the message says why."""


@dataclass(frozen=True)
class Evaluation:
    """One real training, in the order the run did them (evaluation number = index + 1)."""

    key: str
    node_id: str
    status: str  # ok | failed
    fidelity: str  # full | low
    val_accuracy: float | None
    test_accuracy: float | None
    params: int | None
    train_seconds: float
    wall_seconds: float
    failure_kind: str | None
    operator: str | None  # None: the node row is not written yet (a killed expansion)
    # The task metric's scores (a token task's loss); None: the accuracies are the scores.
    val_score: float | None = None
    test_score: float | None = None

    @property
    def score(self) -> float | None:
        """The validation score the run ranks by (read through the run's Metric)."""
        return self.val_score if self.val_score is not None else self.val_accuracy

    @property
    def test(self) -> float | None:
        return self.test_score if self.test_score is not None else self.test_accuracy

    @property
    def full_ok(self) -> bool:
        return self.status == "ok" and self.fidelity == "full" and self.val_accuracy is not None


@dataclass
class RunData:
    """Everything the report shows, read once from the journal."""

    run_dir: Path
    config: dict[str, Any]
    run_id: str | None
    tree: RunTree
    payloads: dict[str, dict[str, Any]]  # node id -> its journal payload (lesson, failure kind ...)
    evaluations: list[Evaluation]
    llm_calls: list[dict[str, Any]]
    events: list[dict[str, Any]]
    first_at: float
    last_at: float
    entries: int
    low_val: dict[str, float] = field(default_factory=dict)  # node id -> its short-run validation accuracy
    settings_changes: list[dict[str, Any]] = field(default_factory=list)  # resumes that changed settings

    @property
    def task(self) -> str:
        return str(self.config.get("task", "?"))

    def lesson(self, node_id: str) -> str:
        return str(self.payloads.get(node_id, {}).get("lesson") or "")

    def best(self) -> ArchNode | None:
        return self.tree.best()


def load_run(run_dir: Path) -> RunData:
    """Read the run in `run_dir`; ReportError when it is not a run directory or holds nothing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a directory")
    if not (run_dir / JOURNAL_FILE).is_file():
        raise ReportError(f"{run_dir} holds no {JOURNAL_FILE}: not a run directory (make one with `agentnas run`)")
    try:
        journal = open_journal(run_dir, read_only=True)
    except JournalError as err:
        raise ReportError(f"{run_dir}: {err}") from err
    with journal:
        entries = list(journal.entries())
        if not entries:
            raise ReportError(f"{run_dir}: the run is empty (its journal holds no entries yet)")
        tree = RunTree.from_journal(journal)
    config: dict[str, Any] = {}
    run_id: str | None = None
    payloads: dict[str, dict[str, Any]] = {}
    calls: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for e in entries:
        if e.kind == "run" and e.key == "config":
            config = dict(e.payload)
        elif e.kind == "run" and e.key.startswith(SETTINGS_PREFIX):  # a resume changed settings: the last hold
            config = dict(e.payload["settings"])
            changes.append({"iteration": e.payload["iteration"], "changed": e.payload["changed"]})
        elif e.kind == "run" and e.key == "id":
            run_id = str(e.payload.get("id"))
        elif e.kind == "node":
            payloads[e.key] = e.payload
        elif e.kind == "llm_call":
            calls.append(e.payload)
        elif e.kind == "event":
            events.append({"key": e.key, **e.payload})
    evaluations, low_val = _evaluations(tree, payloads)
    return RunData(run_dir=run_dir, config=config, run_id=run_id, tree=tree, payloads=payloads,
                   evaluations=evaluations, llm_calls=calls, events=events, first_at=entries[0].at,
                   last_at=entries[-1].at, entries=len(entries), low_val=low_val, settings_changes=changes)


def _evaluations(tree: RunTree, payloads: dict[str, dict[str, Any]]) -> tuple[list[Evaluation], dict[str, float]]:
    out: list[Evaluation] = []
    low: dict[str, float] = {}
    for key, exp in tree.experiments.items():  # insertion order is journal order
        node_id = str(exp["node_id"])
        fidelity = str(exp.get("fidelity", "full"))
        val = exp.get("val_accuracy")
        score, test_score = ExperimentEntry.model_validate(exp).scores()
        if fidelity != "full" and score is not None and exp.get("status") == "ok":
            low[node_id] = float(score)
        payload = payloads.get(node_id)
        out.append(Evaluation(
            key=key, node_id=node_id, status=str(exp.get("status")), fidelity=fidelity,
            val_accuracy=None if val is None else float(val),
            test_accuracy=None if exp.get("test_accuracy") is None else float(exp["test_accuracy"]),
            params=exp.get("params"), train_seconds=float(exp.get("train_seconds") or 0.0),
            wall_seconds=float(exp.get("wall_seconds") or 0.0), failure_kind=exp.get("failure_kind"),
            operator=None if payload is None else str(payload.get("operator")),
            val_score=None if score is None else float(score),
            test_score=None if test_score is None else float(test_score)))
    return out, low
