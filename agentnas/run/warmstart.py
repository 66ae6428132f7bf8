"""`agentnas run --from-memory`: a new run starts from what the experiment memory already
knows about its task.

At the run's first start, the memory's successful experiments of the same task (other
runs only) are read once and frozen into the journal (`run/warmstart`): up to
`max_experiments` of them, the best half by validation accuracy and the rest spread over
the whole range (a value model learns more from contrast than from the top alone). Their
code is untrusted, so each is re-checked and re-exported in the sandbox like any new
candidate, and encoded on the trusted side with today's features; the ones that no longer
build are skipped and counted. The best-scoring hypotheses become the run's first
hypotheses (source "memory"), expanded before the researcher's own.

From then on the run reads the snapshot from its journal, never from the memory: a resume
or a replay sees the same warm start even if the memory has grown since.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentnas.agents.state import Candidate, Context
from agentnas.journal import Journal
from agentnas.run.roles import Evaluates, SandboxChecker

KEY = "warmstart"


class WarmExperiment(BaseModel):
    id: str
    val_accuracy: float  # the task metric's validation score (the name predates token tasks' loss)
    features: list[float]
    params: int | None = None
    hypothesis: str = ""


class WarmStart(BaseModel):
    """The frozen snapshot a run warm-starts from."""

    experiments: list[WarmExperiment] = []
    hypotheses: list[str] = []
    considered: int = 0   # stored experiments of the task, from other runs, with code and a score
    skipped: int = 0      # of the chosen ones, those that no longer check or encode


def choose(records: list[Any], n: int) -> list[Any]:
    """The best n/2 by score, then n - n/2 spread evenly over the rest (deterministic)."""
    ranked = sorted(records, key=lambda r: (r.metric.sort_key(r.score), r.id))
    if len(ranked) <= n:
        return ranked
    top, rest = ranked[: n // 2], ranked[n // 2:]
    want = n - len(top)
    step = len(rest) / want
    return top + [rest[int(i * step)] for i in range(want)]


def best_hypotheses(records: list[Any], k: int) -> list[str]:
    best: dict[str, float] = {}  # the best utility of each hypothesis (higher is better, whatever the metric)
    for r in records:
        text = r.hypothesis.strip()
        if text and r.score is not None:
            best[text] = max(best.get(text, float("-inf")), r.metric.utility(r.score))
    return [t for t, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def snapshot(store: Any, task: str, run_id: str, checker: Evaluates, root: Path, *,
             max_experiments: int = 48, max_hypotheses: int = 3,
             notify: Callable[[str], None] | None = None) -> WarmStart:
    from agentnas.encode.embed import encode_graph
    from agentnas.encode.onnx_load import load_onnx
    from agentnas.evaluator.proxies import read_proxies_beside
    from agentnas.memory import MemoryFilter
    from agentnas.records import ExperimentStatus

    seen: set[str] = set()
    usable = []
    for r in store.records(MemoryFilter(task=task, status=ExperimentStatus.OK)):
        key = r.code_hash or r.code
        if r.run_id != run_id and r.code.strip() and r.score is not None and key not in seen:
            seen.add(key)
            usable.append(r)
    chosen = choose(usable, max_experiments)
    if notify is not None and chosen:
        notify(f"warm start: checking {len(chosen)} stored experiments of {task} in the sandbox")
    candidates = [Candidate(id=f"memory-{i:03d}", code=r.code, operator="memory") for i, r in enumerate(chosen)]
    ctx = Context(iteration=0, seed=0, task=task, hypothesis_id="memory", hypothesis="warm start")
    checked = SandboxChecker(checker, root).check(ctx, candidates) if candidates else []
    out = WarmStart(considered=len(usable), hypotheses=best_hypotheses(usable, max_hypotheses))
    for r, c in zip(chosen, checked, strict=True):
        if c.status != "checked" or c.onnx_path is None:
            out.skipped += 1
            continue
        try:
            encoding = encode_graph(load_onnx(c.onnx_path), "features", proxies=read_proxies_beside(Path(c.onnx_path)))
        except Exception:  # a graph today's encoder cannot read: skip it, as a candidate would fail
            out.skipped += 1
            continue
        out.experiments.append(WarmExperiment(id=r.id, val_accuracy=float(r.score), params=c.params,
                                              features=[float(v) for v in encoding.array()], hypothesis=r.hypothesis))
    return out


def warm_start(journal: Journal, make: Callable[[], WarmStart]) -> WarmStart:
    """The run's snapshot: read from the journal, or made (once, before the first iteration)
    and written there with its hypotheses."""
    entry = journal.get("run", KEY)
    if entry is None:
        if journal.count("iteration"):
            from agentnas.run.settings import RunError

            raise RunError("--from-memory warm-starts a new run; this run has already started without it "
                           "(start a new --run-dir)")
        entry = journal.append("run", KEY, make().model_dump(mode="json"))
    warm = WarmStart.model_validate(entry.payload)
    for i, text in enumerate(warm.hypotheses):  # idempotent: a kill between these appends loses nothing
        journal.append("hypothesis", f"m{i:03d}", {"text": text, "source": "memory", "priority": 1, "iteration": 0})
    return warm
