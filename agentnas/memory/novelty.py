"""Is a new candidate worth training? duplicate, near-duplicate or novel, against the memory.

- duplicate: an experiment of the same task has the same code hash (the same syntax tree:
  only comments or formatting differ) or the same graph hash (the same canonical ONNX
  text: e.g. only variable or module names differ);
- near-duplicate: the nearest architecture vector (arch.py) of the task is closer than
  `NEAR_DUPLICATE_THRESHOLD`; the verdict names it;
- novel otherwise.

The threshold was calibrated on real variants of examples/mnist1d_mlp.py exported by the
sandbox (figures in /work/notes/memory-bench.md, variants in calibration.py): refactors
that keep the function (operands of the residual Add swapped: 0.002; `flatten(1)` written
as `view`/`reshape`: 0.14) fall below it; every real change falls above it, the smallest
being width 256 -> 248 (-3 %: 0.43) and 256 -> 264 (0.45), then a sigmoid gate instead of
ReLU (0.70), GELU or Tanh (0.95), LayerNorm (0.98), removing the residual (1.11). 0.25 is
near the geometric middle of 0.14 and 0.43. In these units a uniform width change of about
2 % or more is novel. Known miss: `h @ W.t() + b` instead of `nn.Linear` (MatMul + Add
instead of Gemm, 1.07) reads as novel, so such a rewrite costs one training run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from agentnas.fingerprint import code_hash
from agentnas.memory.arch import ARCH_DIM
from agentnas.memory.base import MemoryFilter, MemoryStore
from agentnas.memory.hot import HotIndex
from agentnas.records import ExperimentRecord

NEAR_DUPLICATE_THRESHOLD = 0.25
Verdict = Literal["duplicate", "near_duplicate", "novel"]


class NoveltyVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    neighbour_id: str | None = None
    distance: float | None = None
    reason: str


def _verdict(task: str, code_key: str | None, graph_hash: str | None, by_code: str | None, by_graph: str | None,
             nearest: tuple[str, float] | None, threshold: float) -> NoveltyVerdict:
    if by_code is not None:
        return NoveltyVerdict(verdict="duplicate", neighbour_id=by_code, distance=0.0,
                              reason=f"same code as {by_code} (code hash {str(code_key)[:12]})")
    if by_graph is not None:
        return NoveltyVerdict(verdict="duplicate", neighbour_id=by_graph, distance=0.0,
                              reason=f"same graph as {by_graph} (ONNX text hash {str(graph_hash)[:12]})")
    if nearest is None:
        return NoveltyVerdict(verdict="novel", reason=f"no architecture of task {task} in memory yet")
    neighbour, distance = nearest
    if distance < threshold:
        return NoveltyVerdict(verdict="near_duplicate", neighbour_id=neighbour, distance=distance,
                              reason=f"architecture distance {distance:.3f} to {neighbour} is under {threshold}")
    return NoveltyVerdict(verdict="novel", neighbour_id=neighbour, distance=distance,
                          reason=f"nearest architecture {neighbour} is at {distance:.3f} (threshold {threshold})")


class NoveltyIndex:
    """The hot-path novelty judge of one task: duplicate keys in dicts, architecture vectors
    in a `HotIndex`. Build it once per run with `from_store`, then `add` each new record."""

    def __init__(self, task: str, threshold: float = NEAR_DUPLICATE_THRESHOLD, hot: HotIndex | None = None) -> None:
        self.task, self.threshold = task, threshold
        self.hot = hot or HotIndex(ARCH_DIM, "l2")
        self.by_code: dict[str, str] = {}
        self.by_graph: dict[str, str] = {}
        self.seen: set[str] = set()  # every experiment id judged against, with or without a vector

    @classmethod
    def from_store(cls, store: MemoryStore, task: str, threshold: float = NEAR_DUPLICATE_THRESHOLD,
                   folder: Path | None = None) -> NoveltyIndex:
        """Every experiment of `task` in the store; with `folder`, the architecture index is
        loaded from there (and saved back) instead of rebuilt."""
        where = MemoryFilter(task=task)
        hot = HotIndex.open(folder, store, "arch", where) if folder is not None else None
        index = cls(task, threshold, hot)
        for record in store.records(where):
            index._keys(record)
            if folder is None and record.arch_embedding:
                index.hot.add([record.id], np.asarray([record.arch_embedding], dtype=np.float32))
        return index

    def _keys(self, record: ExperimentRecord) -> None:
        self.seen.add(record.id)
        # recomputed from the code: records stored before the normalised hash carry an older one
        key = code_hash(record.code) if record.code else record.code_hash
        if key:
            self.by_code.setdefault(key, record.id)
        if record.onnx_text_hash:
            self.by_graph.setdefault(record.onnx_text_hash, record.id)

    def add(self, record: ExperimentRecord) -> None:
        if record.task != self.task:
            return
        self._keys(record)
        if record.arch_embedding:
            self.hot.add([record.id], np.asarray([record.arch_embedding], dtype=np.float32))

    def refresh(self, store: MemoryStore) -> int:
        """Add the experiments of the task that reached the store since (another run's, on a
        shared store); returns how many."""
        new = [i for i in store.ids(MemoryFilter(task=self.task)) if i not in self.seen]
        records = store.get_many(new) if new else []
        for record in records:
            self.add(record)
        return len(records)

    def check(self, code_key: str | None, onnx_text_hash: str | None,
              arch_embedding: Sequence[float] | np.ndarray | None) -> NoveltyVerdict:
        """The verdict for a candidate with this code hash (`code_hash(code)`), graph hash
        (`GraphEncoding.text_sha256`) and architecture vector (`arch_vector`); any may be None."""
        nearest = None
        if arch_embedding is not None:
            found = self.hot.query(arch_embedding, k=1)
            nearest = found[0] if found else None
        return _verdict(self.task, code_key, onnx_text_hash, self.by_code.get(code_key or ""),
                        self.by_graph.get(onnx_text_hash or ""), nearest, self.threshold)


def judge(store: MemoryStore, task: str, code_key: str | None, onnx_text_hash: str | None,
          arch_embedding: Sequence[float] | np.ndarray | None,
          threshold: float = NEAR_DUPLICATE_THRESHOLD) -> NoveltyVerdict:
    """The same verdict asked of the store directly (one-off checks, the CLI)."""
    def first(where: MemoryFilter) -> str | None:
        ids = store.ids(where)
        return ids[0] if ids else None

    by_code = first(MemoryFilter(task=task, code_hash=code_key)) if code_key else None
    by_graph = first(MemoryFilter(task=task, onnx_text_hash=onnx_text_hash)) if onnx_text_hash else None
    nearest = None
    if arch_embedding is not None and by_code is None and by_graph is None:
        hits = store.similar(arch_embedding, "arch", 1, MemoryFilter(task=task))
        nearest = (hits[0].record.id, hits[0].distance) if hits else None
    return _verdict(task, code_key, onnx_text_hash, by_code, by_graph, nearest, threshold)
