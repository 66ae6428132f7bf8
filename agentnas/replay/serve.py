"""Roles that serve a recorded run instead of computing: the sandbox check, the scorer and
the trainer answer from the original journal's rows, keyed by candidate id, and refuse
loudly (`ReplayDivergence`) when the replayed run asks for something the original never
did — a candidate it did not have, or the same id with other code."""

from __future__ import annotations

from typing import Any

from agentnas.agents.state import Candidate, Context
from agentnas.fingerprint import code_hash, text_hash
from agentnas.journal import Journal
from agentnas.records import Costs
from agentnas.run.record import Recorder


class ReplayDivergence(RuntimeError):
    """The replayed run left the recorded one; the message names the iteration and candidate."""


def _node(source: Journal, ctx: Context, c: Candidate) -> dict[str, Any]:
    entry = source.get("node", c.id)
    if entry is None:
        raise ReplayDivergence(f"iteration {ctx.iteration}: the recorded run has no candidate {c.id}")
    return entry.payload


class ReplayChecker:
    def __init__(self, source: Journal) -> None:
        self.source = source

    def check(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        out = []
        for c in candidates:
            node = _node(self.source, ctx, c)
            history = node.get("history") or []
            if c.attempts < len(history):  # this attempt failed and was repaired in the recorded run
                failed = history[c.attempts]
                # journals written before the normalised hash hold the sha256 of the text
                if failed["code_hash"] not in (code_hash(c.code), text_hash(c.code)):
                    raise ReplayDivergence(f"iteration {ctx.iteration}: {c.id} attempt {c.attempts} has other code")
                out.append(c.model_copy(update={"status": "failed", "failure_kind": failed["kind"],
                                                "failure_message": failed["message"]}))
                continue
            if code_hash(node["code"]) != code_hash(c.code):
                raise ReplayDivergence(f"iteration {ctx.iteration}: candidate {c.id} has other code than recorded")
            costs = Costs.model_validate(node["costs"]) if node.get("costs") else None  # measured at the check
            if node["status"] == "failed":
                out.append(c.model_copy(update={"status": "failed", "failure_kind": node["failure_kind"],
                                                "failure_message": node["failure_message"],
                                                "params": node.get("params"), "costs": costs}))  # over a budget
            else:
                out.append(c.model_copy(update={"status": "checked", "params": node["params"], "costs": costs}))
        return out


class ReplayScorer:
    def __init__(self, source: Journal) -> None:
        self.source = source

    def score(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        out = []
        for c in candidates:
            node = _node(self.source, ctx, c)
            if node["status"] == "failed":  # failed at scoring (an odd graph) in the recorded run
                out.append(c.model_copy(update={"status": "failed", "failure_kind": node["failure_kind"],
                                                "failure_message": node["failure_message"]}))
                continue
            out.append(c.model_copy(update={
                "status": "duplicate" if node["status"] == "duplicate" else "scored", "features": node["features"],
                "novelty": node["novelty"], "nearest_id": node["nearest_id"], "mean": node["mean"],
                "std": node["std"], "graph_hash": node.get("graph_hash")}))
        return out


class ReplayTrainer:
    """Copies each recorded experiment (every fidelity) of a candidate into the new journal."""

    def __init__(self, source: Journal, recorder: Recorder) -> None:
        self.source, self.recorder = source, recorder

    def train(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        out = []
        for c in candidates:
            found = None
            for fidelity in ("low", "full"):
                key = Recorder.key(c.id, fidelity)
                entry = self.source.get("experiment", key)
                if entry is not None:
                    self.recorder.copy_experiment(key, entry.payload)
                    found = self.recorder.lookup(c, fidelity)
            if found is None:
                raise ReplayDivergence(f"iteration {ctx.iteration}: {c.id} was granted training, but the recorded "
                                       "run never trained it")
            out.append(found)
        return out
