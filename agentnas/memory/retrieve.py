"""What the memory hands the prompt builder: similar past experiments and seed insights, with ids.

`retrieve_for_prompt(store, task, text)` embeds the text once, finds the past experiments
of the task nearest to it (by hypothesis, and also by architecture when a vector is given:
the two rankings are merged by reciprocal-rank fusion) and the nearest seed insights. The
result is a pydantic record; `render()` writes it as a deterministic prompt section in
which every item carries its id, so agents can cite what they used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from agentnas.memory.base import Hit, MemoryFilter, MemoryStore
from agentnas.memory.seed import SeedKnowledge
from agentnas.memory.text import TextEmbedder, minilm_embedder
from agentnas.records import ExperimentRecord, metric_named

RRF_K = 60  # the usual reciprocal-rank-fusion constant: ranks, not raw distances, are merged


class RetrievedExperiment(BaseModel):
    """One past experiment as a prompt shows it. `score` is the validation score in `metric`'s
    units (a token task's loss); `val_accuracy` is always an accuracy, or None."""

    model_config = ConfigDict(frozen=True)

    id: str
    task: str
    status: str
    hypothesis: str
    metric: str = "accuracy"
    score: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    params: int | None = None
    failure_kind: str | None = None
    lesson: str = ""
    distance: float
    by: str

    @model_validator(mode="before")
    @classmethod
    def _journaled_before_scores(cls, data: Any) -> Any:
        """Retrievals journaled before `score` existed held the score in `val_accuracy`: a
        replay reads them as they were written, so its prompts stay byte-identical."""
        if isinstance(data, dict) and "score" not in data:
            return {**data, "score": data.get("val_accuracy")}
        return data

    @classmethod
    def of(cls, hit: Hit) -> RetrievedExperiment:
        r: ExperimentRecord = hit.record
        m = r.metrics
        return cls(id=r.id, task=r.task, status=str(r.status), hypothesis=r.hypothesis,
                   metric=m.metric if m else "accuracy", score=r.score, val_accuracy=m.val_accuracy if m else None,
                   test_accuracy=m.test_accuracy if m else None, params=r.params,
                   failure_kind=str(r.failure.kind) if r.failure else None, lesson=r.lesson, distance=hit.distance,
                   by=hit.by)

    def outcome(self) -> str:
        """The result in words: `val acc 0.8123`, or for another metric its name, value and
        direction with the accuracy beside it; a failure's status and kind."""
        if self.score is None:
            return self.status + (f" ({self.failure_kind})" if self.failure_kind else "")
        if self.metric == "accuracy":
            return f"val acc {self.score:.4f}"
        order = "higher" if metric_named(self.metric).higher_is_better else "lower"
        acc = f", val acc {self.val_accuracy:.4f}" if self.val_accuracy is not None else ""
        return f"val {self.metric} {self.score:.4f} ({order} is better){acc}"

    def prompt_outcome(self) -> str:
        """The result as the agents' prompts say it. Accuracy tasks keep the words their
        prompts always had (`val 0.8123`, `val None`): recorded LLM replies are looked up by
        the prompt's bytes, so a replay of an older run must build the same text."""
        return f"val {self.score}" if self.metric == "accuracy" else self.outcome()


class RetrievedInsight(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    insight: str
    applies_when: str
    expected_effect: str
    source: str
    distance: float


class PromptMemory(BaseModel):
    model_config = ConfigDict(frozen=True)

    task: str
    query: str
    experiments: list[RetrievedExperiment]
    insights: list[RetrievedInsight]

    def render(self) -> str:
        """The section as text, one item per paragraph, each led by its id."""
        lines = [f"Past experiments on {self.task} similar to this direction:"]
        if not self.experiments:
            lines.append("- (none yet)")
        for e in self.experiments:
            size = f", {e.params:,} params" if e.params is not None else ""
            lesson = f" Lesson: {e.lesson}" if e.lesson else ""
            lines.append(f"- [{e.id}] {e.hypothesis or '(no hypothesis)'} -> {e.outcome()}{size}.{lesson}")
        lines.append("Design insights from the literature:")
        if not self.insights:
            lines.append("- (none)")
        for i in self.insights:
            lines.append(f"- [{i.id}] {i.insight} When: {i.applies_when} Effect: {i.expected_effect} "
                         f"Source: {i.source}.")
        return "\n".join(lines)


def fuse(rankings: Sequence[Sequence[Hit]], k: int) -> list[Hit]:
    """Reciprocal-rank fusion of several nearest-first lists; a hit keeps its best distance."""
    score: dict[str, float] = {}
    best: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking):
            score[hit.record.id] = score.get(hit.record.id, 0.0) + 1.0 / (RRF_K + rank + 1)
            best.setdefault(hit.record.id, hit)
    order = sorted(score, key=lambda i: (-score[i], i))[:k]
    by = "both" if len(rankings) > 1 else (rankings[0][0].by if rankings and rankings[0] else "text")
    return [best[i].model_copy(update={"by": by}) for i in order]


def similar_experiments(store: MemoryStore, text_vector: np.ndarray | None, arch_vector: np.ndarray | None,
                        k: int = 5, where: MemoryFilter | None = None) -> list[Hit]:
    """Nearest experiments by hypothesis, by architecture, or by both (fused)."""
    rankings = []
    if text_vector is not None:
        rankings.append(store.similar(text_vector, "text", k if arch_vector is None else 2 * k, where))
    if arch_vector is not None:
        rankings.append(store.similar(arch_vector, "arch", k if text_vector is None else 2 * k, where))
    if len(rankings) == 1:
        return rankings[0][:k]
    return fuse(rankings, k) if rankings else []


def retrieve_for_prompt(store: MemoryStore, task: str, text: str, k: int = 5, k_insights: int = 3, *,
                        seed: SeedKnowledge | None = None, embedder: TextEmbedder | None = None,
                        arch_vector: Sequence[float] | np.ndarray | None = None) -> PromptMemory:
    """Past experiments of `task` near `text` (and `arch_vector`), and seed insights near `text`."""
    embed = embedder or minilm_embedder()
    vector = embed([text])[0]
    arch = np.asarray(arch_vector, dtype=np.float32) if arch_vector is not None else None
    hits = similar_experiments(store, vector, arch, k, MemoryFilter(task=task))
    experiments = [RetrievedExperiment.of(h) for h in hits]
    insights = [RetrievedInsight(id=i.id, insight=i.insight, applies_when=i.applies_when,
                                 expected_effect=i.expected_effect, source=i.source.cite(), distance=d)
                for i, d in (seed.search(vector, k_insights) if seed is not None else [])]
    return PromptMemory(task=task, query=text, experiments=experiments, insights=insights)
