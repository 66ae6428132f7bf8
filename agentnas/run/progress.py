"""What a run is doing now: the stage of the current iteration (for the live line) and one
line per event that matters (for logs, when there is no terminal).

The roles of an expansion are wrapped (`staged`) so that each call names its stage; the
wrappers only observe: they return what the role returned and write nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from agentnas.agents.services import Analyst, Checker, Engineer, Researcher, Scorer, Services, Trainer
from agentnas.agents.state import Candidate, Context, Draft
from agentnas.journal.tree import RunTree
from agentnas.words import clip


def best_line(tree: RunTree) -> str:
    best = tree.best()
    if best is None or best.val_score is None:
        return "no result yet"
    name = "" if tree.metric.name == "accuracy" else f" {tree.metric.name}"
    test = f" test {best.test_score:.4f}" if best.test_score is not None else ""
    return f"best val{name} {best.val_score:.4f}{test} ({best.id})"


class Progress:
    """The current stage and how long it has run; `log` (None: silent) gets event lines."""

    def __init__(self, log: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log, self.clock = log, clock
        self.iteration: int | None = None
        self.stage = "starting"
        self.since = clock()
        self.iteration_since = self.since
        self.on_result: Callable[[], None] | None = None  # e.g. the live view re-reads the journal

    def set(self, stage: str) -> None:
        self.stage, self.since = stage, self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.since

    def say(self, line: str) -> None:
        if self.log is not None:
            self.log(line)

    def started(self, iteration: int) -> None:
        self.iteration, self.iteration_since = iteration, self.clock()
        self.set("selecting")
        self.say(f"iteration {iteration}: started")

    def ended(self, tree: RunTree, budget: int | None) -> None:
        n = len(tree.experiments)
        took = self.clock() - self.iteration_since
        self.say(f"iteration {tree.iterations - 1} done in {took:.0f} s · evaluations {n}"
                 f"{f'/{budget}' if budget else ''} · {best_line(tree)}")
        self.set("between iterations")

    def result(self, c: Candidate, fidelity: str) -> None:
        tag = f"{c.id}{'' if fidelity == 'full' else f' ({fidelity} fidelity)'}"
        if c.status == "trained" and c.val_score is not None:
            test = f" test {c.test_score:.4f}" if c.test_score is not None else ""
            params = f" · {c.params:,} params" if c.params is not None else ""
            acc = f" (accuracy {c.val_accuracy:.4f})" if c.val_accuracy is not None and c.val_accuracy != c.val_score \
                else ""
            self.say(f"  {tag}: val {c.val_score:.4f}{test}{acc}{params}")
        else:
            self.say(f"  {tag}: failed ({c.failure_kind}): {clip(c.failure_message or '', 120)}")
        if self.on_result is not None:
            self.on_result()


class _Researcher:
    def __init__(self, inner: Researcher, progress: Progress) -> None:
        self.inner, self.progress = inner, progress

    def propose(self, ctx: Context) -> list[Draft]:
        self.progress.set(f"proposing under {ctx.hypothesis_id}" + (f" from {ctx.parent_id}" if ctx.parent_id else ""))
        return self.inner.propose(ctx)

    def refill(self, ctx: Context, failed: Candidate, reason: str, taken: set[str]) -> Draft | None:
        self.progress.set(f"refilling the slot of {failed.id}")
        return self.inner.refill(ctx, failed, reason, taken)


class _Checker:
    def __init__(self, inner: Checker, progress: Progress) -> None:
        self.inner, self.progress = inner, progress

    def check(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        self.progress.set(f"checking {len(candidates)} candidate{'s' if len(candidates) != 1 else ''}")
        return self.inner.check(ctx, candidates)


class _Engineer:
    def __init__(self, inner: Engineer, progress: Progress) -> None:
        self.inner, self.progress = inner, progress

    def repair(self, ctx: Context, candidate: Candidate) -> Draft | None:
        self.progress.set(f"repairing {candidate.id}")
        return self.inner.repair(ctx, candidate)


class _Scorer:
    def __init__(self, inner: Scorer, progress: Progress) -> None:
        self.inner, self.progress = inner, progress

    def score(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        self.progress.set("scoring with the value model")
        return self.inner.score(ctx, candidates)


class _Trainer:
    def __init__(self, inner: Trainer, progress: Progress) -> None:
        self.inner, self.progress = inner, progress

    def train(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        ids = ", ".join(c.id for c in candidates)
        self.progress.set(f"training {ids}")
        self.progress.say(f"iteration {ctx.iteration}: training {ids}")
        return self.inner.train(ctx, candidates)


class _Analyst:
    def __init__(self, inner: Analyst, progress: Progress) -> None:
        self.inner, self.progress = inner, progress

    def analyse(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        self.progress.set("writing the lessons")
        return self.inner.analyse(ctx, candidates)


class StagedHypothesiser:
    def __init__(self, inner: Any, progress: Progress) -> None:
        self.inner, self.progress = inner, progress

    def new_hypothesis(self, tree: RunTree, rng: random.Random) -> str:
        self.progress.set("writing a new hypothesis")
        text = str(self.inner.new_hypothesis(tree, rng))
        self.progress.say(f"iteration {tree.iterations}: new hypothesis: {clip(text, 100)}")
        return text


def staged(services: Services, progress: Progress) -> Services:
    """The same services, each role naming its stage in `progress` when called."""
    from dataclasses import replace

    return replace(services, researcher=_Researcher(services.researcher, progress),
                   checker=_Checker(services.checker, progress), scorer=_Scorer(services.scorer, progress),
                   trainer=_Trainer(services.trainer, progress), analyst=_Analyst(services.analyst, progress),
                   engineer=_Engineer(services.engineer, progress) if services.engineer is not None else None)
