"""Multi-fidelity: successive halving over the candidates one expansion grants.

A bracket is the group of nodes an expansion sends to real training together: all are
first trained at the lowest fidelity (a fraction of the task's recipe, e.g. a quarter of
its epochs); of each level's results the best `1/eta` (at least one) are promoted to the
next fidelity, up to the full recipe. Brackets are read back from the results alone (the
members of a bracket got their first result in the same step), so pending promotions are
a pure function of the records and survive a resume.

Budget: an evaluation costs its fidelity, so a bracket of 3 at 1/3 plus one promotion to
the full recipe costs 2 full evaluations. Only full-fidelity results back up the tree as
rewards and teach the value model; the others are promotion evidence, recorded with their
fidelity.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentnas.journal.tree import FULL, SearchTree
from agentnas.records import ACCURACY, EvalRequest, Metric, SearchResult


class Halving(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fidelities: tuple[float, ...] = (FULL,)  # increasing; the last is the full recipe
    eta: int = Field(default=3, ge=1)  # 1: every result of a level is promoted

    @field_validator("fidelities")
    @classmethod
    def _increasing_to_full(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or v[-1] != FULL or any(not 0 < a < b for a, b in zip(v, v[1:], strict=False)) or v[0] <= 0:
            raise ValueError("fidelities must increase, each in (0, 1], and end at 1.0 (the full recipe)")
        return v

    @property
    def bracket_size(self) -> int:
        """How many candidates an expansion grants at the lowest fidelity."""
        return int(self.eta ** (len(self.fidelities) - 1))

    @property
    def first(self) -> float:
        return self.fidelities[0]

    def promoted(self, n: int) -> int:
        """How many of a level's `n` results go on to the next fidelity."""
        return max(1, n // self.eta)

    @classmethod
    def keeping(cls, fraction: float, keep: float) -> Halving:
        """Two levels: `fraction` of the recipe, then the full recipe for the best `keep` of them."""
        return cls(fidelities=(fraction, FULL), eta=max(1, round(1 / keep)))

    def best(self, scores: dict[str, float], metric: Metric = ACCURACY) -> list[str]:
        """The ids promoted from one level's results (`id -> score`, failures left out), best first."""
        ranked = sorted(scores, key=lambda i: metric.sort_key(scores[i]))
        return ranked[: self.promoted(len(ranked))] if ranked else []


def pending_promotions(tree: SearchTree, halving: Halving) -> list[EvalRequest]:
    """The evaluations successive halving still owes, oldest bracket first."""
    if len(halving.fidelities) == 1:
        return []
    brackets: dict[int, list[SearchResult]] = {}
    for r in tree.results:
        if r.fidelity == halving.first:
            brackets.setdefault(r.step, []).append(r)
    owed: list[EvalRequest] = []
    for step in sorted(brackets):
        level = [r for r in brackets[step] if r.ok]
        for low, high in zip(halving.fidelities, halving.fidelities[1:], strict=False):
            if low != halving.first:
                level = [r for r in (tree.queried(x.key, low) for x in level) if r is not None and r.ok]
            by_id = {r.node_id: r for r in level}
            ranked = [by_id[i] for i in halving.best({r.node_id: r.score for r in level
                                                      if r.score is not None}, tree.metric)]
            missing = [r for r in ranked if tree.queried(r.key, high) is None]
            if missing:
                owed.extend(EvalRequest(node_id=r.node_id, fidelity=high) for r in missing)
                break  # the next level waits for these
            level = ranked
    return owed
