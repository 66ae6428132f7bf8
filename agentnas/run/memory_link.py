"""The run's link to the experiment memory: novelty against every stored experiment of the
task, one `ExperimentRecord` per trained candidate (written at the end of its expansion,
lesson included; upserts by id, so a resumed expansion rewrites the same record), and
retrieval of similar experiments and seed insights for the LLM's prompts.

The store may be shared with other runs (memory/embedded.py). An expansion's records are
made durable at once (queued); at most every `SYNC_EVERY_S` seconds, and whenever retrieval
reads the store, one short hold of the store stores them, and the novelty index catches up
with the experiments other runs stored meanwhile."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from agentnas.agents.state import Candidate, Context
from agentnas.encode.costs import read_costs_beside
from agentnas.records import ExperimentRecord, ExperimentStatus, Failure, FailureKind, Metrics

SYNC_EVERY_S = 10.0  # a hold of the store costs ~0.5 s at 20,000 experiments: not at every fast expansion


class MemoryLink:
    def __init__(self, store: Any, task: str, run_id: str, cache_dir: Path) -> None:
        from agentnas.encode.embed import EncodingCache
        from agentnas.memory import NoveltyIndex

        self.store, self.task, self.run_id = store, task, run_id
        with store.session(read_only=True):
            self.novelty = NoveltyIndex.from_store(store, task)
        self.cache = EncodingCache(cache_dir / "encodings")
        self.described: dict[str, Any] = {}
        self.cache_dir = cache_dir
        self.seed: Any = None
        self.synced = time.monotonic()

    def record_id(self, candidate_id: str) -> str:
        return f"{self.run_id}/{candidate_id}"

    def judge(self, c: Candidate, x: np.ndarray) -> tuple[str, str | None]:
        """duplicate | near_duplicate | novel, with the nearest stored experiment's id."""
        from agentnas.encode.onnx_load import load_onnx
        from agentnas.memory import describe_onnx

        if c.onnx_path is None:
            return "novel", None
        description = describe_onnx(load_onnx(c.onnx_path), self.cache, code=c.code)
        self.described[c.id] = description
        verdict = self.novelty.check(description.code_hash, description.onnx_text_hash, description.arch_embedding)
        return str(verdict.verdict), verdict.neighbour_id

    def record(self, ctx: Context, candidates: list[Candidate]) -> None:
        records = []
        for c in candidates:
            if c.experiment_id is None:
                continue
            d = self.described.get(c.id)
            failed = c.status == "eval_failed"
            kind = c.failure_kind if c.failure_kind in {k.value for k in FailureKind} else "crash"
            record = ExperimentRecord(
                id=self.record_id(c.id), run_id=self.run_id, parent_id=self.record_id(ctx.parent_id)
                if ctx.parent_id else None, hypothesis_id=ctx.hypothesis_id, hypothesis=ctx.hypothesis,
                code=c.code, code_hash=d.code_hash if d else "", onnx_text_hash=d.onnx_text_hash if d else None,
                task=self.task, status=ExperimentStatus.FAILED if failed else ExperimentStatus.OK,
                metrics=None if failed or c.val_accuracy is None else _metrics(c, ctx.metric),
                failure=Failure(kind=FailureKind(kind), message=c.failure_message or "") if failed else None,
                lesson=c.lesson or "", params=c.params, flops=c.flops, costs=read_costs_beside(c.onnx_path),
                arch_embedding=d.arch_embedding if d else None)
            records.append(record)
        self.store.enqueue(records)  # durable from here on
        for record in records:
            self.novelty.add(record)
        if time.monotonic() - self.synced >= SYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        """Store what was queued, and learn the experiments other runs stored since; a busy
        store is left for the next time."""
        with self.store.session(best_effort=True) as held:
            if held:
                self.novelty.refresh(self.store)
                self.synced = time.monotonic()

    def retrieve(self, text: str, k: int = 4) -> Any:
        from agentnas.memory import load_seed_knowledge, retrieve_for_prompt

        if self.seed is None:
            self.seed = load_seed_knowledge(self.cache_dir)
        with self.store.session(read_only=True):
            return retrieve_for_prompt(self.store, self.task, text, k=k, seed=self.seed)


def _metrics(c: Candidate, metric: str) -> Metrics:
    """A trained candidate's metrics for the memory, its task metric's scores included."""
    data: dict[str, object] = {"val_accuracy": c.val_accuracy, "test_accuracy": c.test_accuracy or 0.0,
                               "metric": metric}
    if c.val_score is not None and c.test_score is not None:
        data |= {"val_score": c.val_score, "test_score": c.test_score}
    return Metrics.model_validate(data)
