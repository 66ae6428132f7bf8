"""`agentnas bench llm`: does the LLM help? The same discovery run, same task, seed and recipe,
with the LLM proposer and with the offline grammar, each for N real evaluations.

Per run it reports, read from the run's journal: the proposer's own proposals, how many were
valid on the first try and after the engineer's repairs, duplicates caught before training,
grammar fallbacks, LLM calls / tokens / seconds per evaluated candidate, the best validation
accuracy and that model's test accuracy, and the run's wall time. Every run lives in its own
directory under `out_dir` and is resumable: running the same command again continues each
run from its journal (the wall time adds up over sessions), so an hours-long measurement
against a slow local model survives interruptions.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentnas.config import AgentnasConfig
from agentnas.journal import open_journal
from agentnas.journal.tree import RunTree
from agentnas.llm.ledger import summarise
from agentnas.records import LLMCall
from agentnas.run.settings import RunOptions
from agentnas.run.summary import checked_by_operator, proposal_counts

STATE = "bench-state.json"  # wall seconds per run, added up over sessions


def _state(out_dir: Path) -> dict[str, float]:
    path = out_dir / STATE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _add_seconds(out_dir: Path, name: str, seconds: float) -> None:
    state = _state(out_dir)
    state[name] = state.get(name, 0.0) + seconds
    tmp = out_dir / f"{STATE}.tmp"
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    tmp.replace(out_dir / STATE)


def run_stats(run_dir: Path, wall_s: float) -> dict[str, Any]:
    """The per-run figures, from the journal alone."""
    with open_journal(run_dir, read_only=True) as journal:
        tree = RunTree.from_journal(journal)
        calls = [LLMCall.model_validate(e.payload) for e in journal.entries("llm_call")]
        stop = [e.payload.get("reason") for e in journal.entries("event") if e.payload.get("kind") == "stopped"]
    llm = summarise(calls, live_only=True)  # the ledger's one summary: live calls, replayed ones paid once
    evals = len(tree.experiments)
    best = tree.best()
    per = max(evals, 1)
    counts = proposal_counts(list(tree.nodes.values()))
    codes = [exp.get("code_hash") for exp in tree.experiments.values() if exp.get("fidelity", "full") == "full"]
    return {
        "evaluations": evals, "iterations": tree.iterations, "proposals": counts,
        "checked_by_operator": checked_by_operator(list(tree.nodes.values())),
        "valid_first_try_rate": counts["valid_first_try"] / counts["checked"] if counts["checked"] else None,
        "valid_after_repairs_rate": counts["valid_after_repair"] / counts["checked"] if counts["checked"] else None,
        "duplicate_trainings": len(codes) - len(set(codes)),
        "llm_calls": llm.calls, "llm_calls_per_eval": llm.calls / per,
        "llm_calls_by_role": {role: t.calls for role, t in llm.by_role.items()},
        "llm_tokens_per_eval": (llm.prompt_tokens + llm.completion_tokens) / per,
        "llm_tokens_estimated": llm.estimated_calls > 0,
        "llm_seconds_per_eval": sum(t.latency_s for t in llm.by_role.values()) / per,
        "llm_failed_calls": llm.failed_calls,
        "best_val_accuracy": best.val_accuracy if best else None,
        "best_test_accuracy": best.test_accuracy if best else None,
        "best_params": best.params if best else None,
        "wall_s": wall_s, "stopped": stop[-1] if stop else None,
    }


def _spread(values: Sequence[float | None]) -> dict[str, float | None]:
    xs = [v for v in values if v is not None]
    if not xs:
        return {"mean": None, "sd": None, "se": None, "n": 0}
    sd = statistics.stdev(xs) if len(xs) > 1 else None
    return {"mean": statistics.fmean(xs), "sd": sd, "se": sd / len(xs) ** 0.5 if sd is not None else None,
            "n": len(xs)}


@contextmanager
def _timed(out_dir: Path, name: str) -> Iterator[None]:
    t0 = time.monotonic()
    try:
        yield
    finally:  # an interrupted session still counts the time it ran
        _add_seconds(out_dir, name, time.monotonic() - t0)


def compare(cfg: AgentnasConfig, *, task: str, evals: int, out_dir: Path, llm_seeds: Sequence[int],
            offline_seeds: Sequence[int], base_url: str | None, model: str | None, k_llm: int = 2,
            k_offline: int = 6, epochs: int | None = None, log: Callable[[str], None] | None = None,
            factories: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run (or resume) every run, then report. `factories` replaces the agents (tests)."""
    import functools

    from agentnas.run.assemble import llm_agents, offline_agents, open_run

    out_dir.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _m: None)
    report: dict[str, Any] = {"task": task, "evaluations": evals, "epochs": epochs or cfg.epochs,
                              "runs": {}, "endpoint": base_url, "model": model}
    plan = [("offline", s) for s in offline_seeds] + [("llm", s) for s in llm_seeds]
    for proposer, seed in plan:
        name = f"{proposer}-s{seed}"
        options = RunOptions(task=task, run_dir=out_dir / name, budget_evals=evals, proposer=proposer,  # type: ignore[arg-type]
                             seed=seed, k=k_llm if proposer == "llm" else k_offline, memory="none",
                             epochs=epochs, llm_base_url=base_url if proposer == "llm" else None,
                             llm_model=model if proposer == "llm" else None)
        factory = (factories or {}).get(proposer) or (
            functools.partial(llm_agents, settings=cfg.llm, notify=say) if proposer == "llm" else offline_agents)
        say(f"{name}: {evals} evaluations on {task} (resumes where it stopped)")
        with _timed(out_dir, name), open_run(options, cfg, factory, notify=say) as loop:
            loop.run()
        report["runs"][name] = run_stats(out_dir / name, _state(out_dir).get(name, 0.0))
        r = report["runs"][name]
        say(f"{name}: best val {r['best_val_accuracy']} test {r['best_test_accuracy']} · "
            f"{r['llm_calls_per_eval']:.2f} LLM calls/eval · {r['wall_s']:.0f} s")
    for proposer, seeds in (("offline", offline_seeds), ("llm", llm_seeds)):
        rows = [report["runs"][f"{proposer}-s{s}"] for s in seeds]
        report[proposer] = {"seeds": list(seeds), "best_val": _spread([r["best_val_accuracy"] for r in rows]),
                            "best_test": _spread([r["best_test_accuracy"] for r in rows])}
    return report
