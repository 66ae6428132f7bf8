"""The researcher without an LLM: the grammar proposer (agentnas.space.proposer) behind the
`Researcher` and `Hypothesiser` roles. Deterministic: its RNG comes from (seed, iteration)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from agentnas.agents.state import Candidate, Context, Draft
from agentnas.fingerprint import code_hash
from agentnas.journal.tree import RunTree
from agentnas.records import metric_named
from agentnas.space.grammar import Arch
from agentnas.space.proposer import OfflineProposer, ProposerConfig, as_arch


class OfflineResearcher:
    def __init__(self, input_shape: Sequence[int], num_classes: int, max_params: int | None = None,
                 max_macs: int | None = None, *, tokens: bool = False) -> None:
        config = ProposerConfig()
        if max_params:
            config = config.model_copy(update={"max_params": max_params})
        if max_macs:
            config = config.model_copy(update={"max_macs": max_macs})
        self.proposer = OfflineProposer(input_shape, num_classes, config, tokens=tokens)

    @staticmethod
    def _arch(arch: dict[str, object] | None, code: str | None) -> Arch | None:
        for source in (arch, code):
            if source:
                try:
                    return as_arch(source)
                except ValueError:  # code not written by the grammar (e.g. a user's edit)
                    continue
        return None

    def propose(self, ctx: Context) -> list[Draft]:
        rng = np.random.default_rng([ctx.seed, ctx.iteration, 1])
        parent = self._arch(ctx.parent_arch, ctx.parent_code)
        other = self._arch(ctx.other_arch, ctx.other_code)
        drafts: list[Draft] = []
        if parent is None and ctx.iteration == 0:  # the first expansion starts from known baselines
            drafts += [Draft(code=p.code, operator="seed", description=p.description, arch=p.arch_dict())
                       for p in self.proposer.seeds()[: max(ctx.k // 2, 1)]]
        proposals = self.proposer.propose(parent, ctx.hypothesis, ctx.k - len(drafts), rng,
                                          partners=[other] if other is not None else [])
        drafts += [Draft(code=p.code, operator=p.operator, description=p.description, rationale=p.rationale,
                         arch=p.arch_dict()) for p in proposals]
        return drafts[: ctx.k]

    def refill(self, ctx: Context, failed: Candidate, reason: str, taken: set[str]) -> Draft | None:
        """The grammar's draft for a slot: a mutation of the parent (a fresh sample when the parent
        is not grammar code) that is not in `taken`."""
        return self.fallback(ctx, failed.slot, reason, taken)

    def recombination(self, ctx: Context, slot: int, reason: str, taken: set[str]) -> Draft | None:
        """The grammar's child of the parent and `ctx.other_code` for a slot (a fallback, noted with
        `reason`); a mutation of the parent (`fallback`) when either is not grammar code or every child
        it tries is in `taken`."""
        parent = self._arch(ctx.parent_arch, ctx.parent_code)
        other = self._arch(ctx.other_arch, ctx.other_code)
        if parent is not None and other is not None:
            rng = np.random.default_rng([ctx.seed, ctx.iteration, 3, slot])
            for _ in range(4):
                p = self.proposer.recombine(parent, other, ctx.hypothesis, rng)
                if code_hash(p.code) not in taken:
                    return Draft(code=p.code, operator=p.operator, description=p.description,
                                 rationale=p.rationale, arch=p.arch_dict(), fallback=reason)
        return self.fallback(ctx, slot, reason, taken)

    def fallback(self, ctx: Context, slot: int, reason: str, taken: set[str], tries: int = 12) -> Draft | None:
        rng = np.random.default_rng([ctx.seed, ctx.iteration, 2, slot])
        parent = self._arch(ctx.parent_arch, ctx.parent_code)
        for p in self.proposer.propose(parent, ctx.hypothesis, tries, rng):
            if code_hash(p.code) not in taken:
                return Draft(code=p.code, operator=p.operator, description=p.description, rationale=p.rationale,
                             arch=p.arch_dict(), fallback=reason)
        return None

    def new_hypothesis(self, tree: RunTree, rng: random.Random) -> str:
        taken = [h.text for h in tree.hypotheses.values()]
        found = self.proposer.hypotheses(1, rng, exclude=taken)
        return found[0].text if found else f"explore freely (direction {len(taken) + 1})"


class OfflineAnalyst:
    """The lesson of a result without an LLM: what changed, against the parent, and what it did."""

    def analyse(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        out = []
        if ctx.metric != "accuracy":
            return [c.model_copy(update={"lesson": _score_lesson(ctx, c)}) for c in candidates]
        for c in candidates:
            change = c.description or c.operator
            if c.val_accuracy is None:
                lesson = f"{change}: did not train ({c.failure_kind})."
            elif ctx.parent_val_accuracy is None:
                lesson = f"{change}: {c.val_accuracy:.2%} validation accuracy with {c.params or 0:,} parameters."
            else:
                delta = (c.val_accuracy - ctx.parent_val_accuracy) * 100
                verdict = "helped" if delta > 0.5 else "hurt" if delta < -0.5 else "made no clear difference"
                lesson = (f"{change}: {verdict} under '{ctx.hypothesis}' ({delta:+.1f} points vs parent, "
                          f"{c.val_accuracy:.2%} with {c.params or 0:,} parameters).")
            out.append(c.model_copy(update={"lesson": lesson}))
        return out


def _score_lesson(ctx: Context, c: Candidate) -> str:
    """The lesson on a task whose metric is not accuracy (a token task's loss): deltas in the
    metric's units, judged through its direction."""
    metric = metric_named(ctx.metric)
    change = c.description or c.operator
    if c.val_score is None:
        return f"{change}: did not train ({c.failure_kind})."
    acc = f", accuracy {c.val_accuracy:.2%}" if c.val_accuracy is not None else ""
    if ctx.parent_val_score is None:
        return f"{change}: validation {metric.name} {c.val_score:.4f}{acc} with {c.params or 0:,} parameters."
    delta = metric.delta(c.val_score, ctx.parent_val_score)  # > 0: better, whichever the direction
    tol = 0.01 * abs(ctx.parent_val_score)
    verdict = "helped" if delta > tol else "hurt" if delta < -tol else "made no clear difference"
    return (f"{change}: {verdict} under '{ctx.hypothesis}' (validation {metric.name} {c.val_score:.4f} vs parent "
            f"{ctx.parent_val_score:.4f}{acc}, {c.params or 0:,} parameters).")
