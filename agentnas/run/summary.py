"""`agentnas run`: assemble a discovery run on a real task and drive the loop.

A run directory holds everything about one run: `journal.sqlite` (append-only, the truth),
`checkpoints.sqlite` (langgraph's per-expansion checkpoints), `candidates/<id>/model.py`
and `run.lock` (held by the one process that writes). Running again on the same
directory resumes with the settings recorded in the journal (agentnas.search.settings).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentnas.agents.shape_mends import MENDS
from agentnas.journal import JournalError, open_journal
from agentnas.journal.tree import RunTree
from agentnas.llm.ledger import summarise
from agentnas.records import ExperimentEntry, LLMCall
from agentnas.run.settings import RunError as RunError  # raised by the settings checks too
from agentnas.run.settings import RunOptions as RunOptions  # the settings a run is started with
from agentnas.run.settings import changes_of, effective_config


def leaderboard(tree: RunTree, n: int = 10) -> list[dict[str, Any]]:
    """The best `n` trained models by the task metric, in its direction (`val_score`: the metric's
    validation score, the accuracy on accuracy tasks)."""
    return [{"id": x.id, "val_score": x.val_score, "test_score": x.test_score,
             "val_accuracy": x.val_accuracy, "test_accuracy": x.test_accuracy, "params": x.params,
             "hypothesis": tree.hypotheses[x.hypothesis_id].text if x.hypothesis_id in tree.hypotheses else "",
             "description": x.description} for x in tree.ranked()[:n]]


def hypothesis_outcomes(tree: RunTree, run_dir: Path) -> list[dict[str, Any]]:
    """Every hypothesis (the researcher's, the user's, and the user's still waiting in the
    inbox) with what became of it: its architectures, how many were trained and failed, its
    best result. `nodes` (the architecture count) is kept for older readers."""
    from agentnas.steering.inbox import read_inbox

    rows = []
    for h in tree.hypotheses.values():
        nodes = [tree.nodes[i] for i in h.nodes]
        trained = [n for n in nodes if n.trained]
        best = min(trained, key=lambda n: (tree.metric.sort_key(n.val_score), n.params or 0, n.iteration),
                   default=None)
        failed = sum(1 for n in nodes if n.experiment is not None and n.experiment["status"] != "ok")
        rows.append({"id": h.id, "text": h.text, "source": h.source, "nodes": len(nodes),
                     "status": "pruned" if h.id in tree.steering.pruned else "explored" if nodes else "waiting",
                     "children": [n.id for n in nodes], "trained": len(trained), "failed": failed,
                     "best": None if best is None else {"id": best.id, "val_score": best.val_score,
                                                        "test_score": best.test_score,
                                                        "val_accuracy": best.val_accuracy,
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
        calls = [LLMCall.model_validate(e.payload) for e in journal.entries("llm_call")]
        config = effective_config(journal)
        changes = [{k: v for k, v in c.items() if k != "settings"} for c in changes_of(journal)]
        steering = [e.payload for e in journal.entries("steering")]
    experiments = []
    for exp_id, exp in tree.experiments.items():
        val, test = ExperimentEntry.model_validate(exp).scores()
        experiments.append({"id": exp_id, "status": exp["status"], "val_score": val, "test_score": test,
                            "val_accuracy": exp["val_accuracy"],
                            "test_accuracy": exp["test_accuracy"], "code_hash": exp["code_hash"],
                            "hypothesis_id": exp["hypothesis_id"], "parent_id": exp["parent_id"],
                            "params": exp["params"], "fidelity": exp.get("fidelity", "full"),
                            "failure_kind": exp.get("failure_kind")})
    best = tree.best()
    best_doc = None
    if best is not None:
        best_doc = {"id": best.id, "val_score": best.val_score, "test_score": best.test_score,
                    "val_accuracy": best.val_accuracy, "test_accuracy": best.test_accuracy,
                    "params": best.params, "hypothesis_id": best.hypothesis_id,
                    "path": str(Path(run_dir) / "candidates" / best.id / "model.py")}
    proposals = proposal_counts(list(tree.nodes.values()))
    failures: dict[str, int] = {}
    for exp in tree.experiments.values():
        if exp["status"] != "ok":
            failures[str(exp.get("failure_kind"))] = failures.get(str(exp.get("failure_kind")), 0) + 1
    return {
        "run_dir": str(run_dir), "config": config, "settings_changes": changes,
        "metric": {"name": tree.metric.name, "higher_is_better": tree.metric.higher_is_better},
        "iterations": tree.iterations, "experiments": experiments, "best": best_doc,
        "leaderboard": leaderboard(tree),
        "hypotheses": hypothesis_outcomes(tree, run_dir),
        "failures": failures,
        "proposals": proposals,
        "llm": llm_totals(calls),
        "steering": steering,
    }


def proposal_counts(nodes: list[Any]) -> dict[str, int]:
    """What became of the proposer's drafts. `own` are the proposer's (the LLM's, with --proposer llm);
    `fallbacks` were written by the grammar in their place. `checked` own drafts reached the sandbox
    check (code-level duplicates are caught before it); `valid_first_try` / `valid_after_repair` of
    those built, passed the shape check and exported (a graph-level duplicate did too); `mended` of
    those passed after the trusted side mended a shape failure (layers' input sizes inferred, paddings that keep
    lengths: no call, not first try)."""
    own = [n for n in nodes if not n.fallback]
    checked = _checked(own)
    ok = [n for n in checked if n.status != "failed"]
    mended = [n for n in ok if any(m in (getattr(n, "autofix", None) or "") for m in MENDS)]
    return {"total": len(nodes), "own": len(own), "checked": len(checked),
            "valid_first_try": sum(1 for n in ok if n.attempts == 0 and n not in mended),
            "mended": len(mended),
            "valid_after_repair": len(ok), "repaired": sum(1 for n in ok if n.attempts > 0),
            "duplicates": sum(1 for n in nodes if n.status == "duplicate"),
            "fallbacks": sum(1 for n in nodes if n.fallback),
            "autofixed": sum(1 for n in own if getattr(n, "autofix", None))}


def _checked(own: list[Any]) -> list[Any]:
    """The drafts that reached the sandbox check (a code-level duplicate is caught before it)."""
    return [n for n in own if not (n.status == "duplicate" and n.mean is None and n.params is None)]


def checked_by_operator(nodes: list[Any]) -> dict[str, dict[str, int]]:
    """The proposer's own checked drafts by operator (mutate, recombine, ...): how many, how many valid
    (after repairs): where a model's proposals fail."""
    out: dict[str, dict[str, int]] = {}
    for n in _checked([n for n in nodes if not n.fallback]):
        row = out.setdefault(n.operator, {"checked": 0, "valid": 0})
        row["checked"] += 1
        row["valid"] += n.status != "failed"
    return dict(sorted(out.items()))


def llm_totals(calls: list[LLMCall]) -> dict[str, Any]:
    """The run's LLM use for `runs show`: live calls only (replayed ones were paid for once, when live);
    estimated token counts and unpriced models are said so, never shown as exact or free."""
    s = summarise(calls, live_only=True)
    return {"calls": s.calls, "prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
            "tokens_estimated": s.estimated_calls > 0, "estimated_calls": s.estimated_calls,
            "cost_usd": None if s.unpriced_models and not s.cost_usd else round(s.cost_usd, 6),
            "unpriced_models": list(s.unpriced_models), "failed_calls": s.failed_calls,
            "replayed_calls": s.replayed_calls, "text": f"LLM calls {s.calls}, tokens {s.tokens_text()}, "
                                                        f"cost {s.cost_text()}"}


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, default=str)
