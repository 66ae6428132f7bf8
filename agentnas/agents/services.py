"""The roles an expansion calls, each a small protocol with one method.

The graph (graph.py) only routes; every side effect sits behind one of these, injected
by the run loop: the researcher (LLM or offline grammar), the engineer (LLM repair), the
sandbox check, the scorer (encode, novelty, value model), the gate (the search decides
which children earn real training), the trainer, the analyst and the recorder (the only
writer of the journal and the memory).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from agentnas.agents.state import Candidate, Context, Draft


class Researcher(Protocol):
    def propose(self, ctx: Context) -> list[Draft]:
        """Up to `ctx.k` drafts for the node in `ctx`, one per slot. May raise nothing but return fewer."""
        ...

    def refill(self, ctx: Context, failed: Candidate, reason: str, taken: set[str]) -> Draft | None:
        """A new draft for the slot of `failed` (a duplicate, or broken after repairs; `reason` says
        which), avoiding the code hashes in `taken`. A draft the grammar wrote carries `fallback`;
        None leaves the slot empty."""
        ...


class Engineer(Protocol):
    def repair(self, ctx: Context, candidate: Candidate) -> Draft | None:
        """A corrected draft for a candidate whose check failed, or None to give it up."""
        ...


class Checker(Protocol):
    def check(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        """Import, build, shape, params and ONNX export in the sandbox: each candidate comes
        back `checked` (params, onnx_path set) or `failed` (failure kind and message set)."""
        ...


class Scorer(Protocol):
    def score(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        """Encode checked candidates, judge novelty against memory, predict mean and std.
        Duplicates come back with status `duplicate`, the others `scored`."""
        ...


class Gate(Protocol):
    def grant(self, ctx: Context, candidates: list[Candidate]) -> list[str]:
        """The ids of scored candidates that get real training now (the rest stay
        predicted-only and can be promoted later)."""
        ...


class Trainer(Protocol):
    def train(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        """Train the given candidates under the task's recipe; each comes back `trained`
        with metrics or `eval_failed`. Must be idempotent per candidate id: a candidate
        whose experiment is already recorded is returned from the record, not retrained."""
        ...


class Analyst(Protocol):
    def analyse(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        """Write the lesson of each trained candidate (others are returned unchanged)."""
        ...


class Recorder(Protocol):
    def record(self, ctx: Context, candidates: list[Candidate]) -> None:
        """Persist the expansion's outcome (journal and memory). Idempotent."""
        ...


@dataclass(frozen=True)
class Services:
    researcher: Researcher
    checker: Checker
    scorer: Scorer
    gate: Gate
    trainer: Trainer
    analyst: Analyst
    recorder: Recorder
    engineer: Engineer | None = None
    max_repairs: int = 2
    approval: bool = False
    known: Callable[[], Mapping[str, str]] | None = None  # code hash -> node id of every node the run has
    refill: bool = True  # refill slots whose candidate is a duplicate or stays broken
