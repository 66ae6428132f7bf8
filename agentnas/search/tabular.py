"""Searching a tabular benchmark: its evaluator, encodings and cross-space value model.

The value model for a space may learn only from that space's queried results, so its
zero-shot prior is pretrained on the OTHER space (NB201 tasks: a Macro-only predictor;
Macro: an NB201-only one), and the online GP learns from the run's own results.
Encodings are the graph features of each architecture's ONNX export with its zero-cost
proxies (SpaceEncoder, cached on disk as JSONL); they are computed lazily, only for
architectures a search considers, in parallel worker processes with progress through the
log, so the cache fills across seeds and runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentnas.records import Observation
from agentnas.search.base import Evaluate
from agentnas.search.estimate import GpEstimator
from agentnas.tasks.tabular import TabularSpace, TabularTask
from agentnas.value.pretrain import PretrainOptions, fit, labelled_sets
from agentnas.value.spaces import EncodeProgress, SpaceEncoder
from agentnas.value.zeroshot import ZeroShotPredictor

Log = Callable[[str], Any]


def table_evaluator(task: TabularTask) -> Evaluate:
    """What a search may call: the validation accuracy only, as an Observation."""

    def evaluate(key: str, fidelity: float) -> Observation:
        return Observation(val_accuracy=task.evaluate(key, fidelity))

    return evaluate


def encodings_dir(cache_dir: Path) -> Path:
    """Where the search keeps encodings and priors: one folder per definition of the
    features, so vectors of two definitions are never mixed."""
    from agentnas.encode import features

    version = getattr(features, "FEATURES_VERSION", 1)
    return Path(cache_dir) / "search" / f"features-v{version}-d{len(features.FEATURE_NAMES)}"


class SpaceFeatures:
    """keys -> feature rows, from the on-disk encoding cache; misses are encoded (and cached)."""

    def __init__(self, space: TabularSpace, cache_dir: Path, log: Log | None = None,
                 workers: int | None = None) -> None:
        self.space = space
        self.encoder = SpaceEncoder(encodings_dir(cache_dir), "features", workers=workers)
        self.log = log
        # The whole cache file is read once; later misses are encoded in batches. A row of
        # another length (a cache written by another version) is dropped and re-encoded.
        rows = {k: e.array() for k, e in self.encoder.load(space).items()}
        dims = [len(r) for r in rows.values()]
        common = max(set(dims), key=dims.count) if dims else 0
        self.rows: dict[str, np.ndarray] = {k: r for k, r in rows.items() if len(r) == common}
        self.encoded = 0  # new architectures this object paid for (NB201 cells of one network count once each)

    def __call__(self, keys: Sequence[str]) -> np.ndarray:
        missing = sorted({k for k in keys if k not in self.rows})
        if missing:
            progress = None
            if self.log is not None:
                progress = EncodeProgress(self.space, self.log, before=self.encoder.computed)
            found = self.encoder.compute(self.space, missing, progress)
            self.rows.update({k: e.array() for k, e in found.items()})
            self.encoded += len(missing)
        if not keys:
            return np.zeros((0, 0))
        return np.stack([self.rows[k] for k in keys])


def other_space(space: TabularSpace) -> TabularSpace:
    return "macro" if space == "nb201" else "nb201"


def cross_space_predictor(space: TabularSpace, cache_dir: Path, per_space: int = 400, seed: int = 0,
                          log: Log | None = None) -> ZeroShotPredictor:
    """A zero-shot predictor for `space` pretrained on the other space only, cached on disk."""
    source = other_space(space)
    folder = encodings_dir(cache_dir)
    path = folder / f"zeroshot-{source}-n{per_space}-s{seed}.pt"
    if path.is_file():
        return ZeroShotPredictor.load(path)
    if log is not None:
        log(f"pretraining the zero-shot value model on {source} only ({per_space} architectures), for {space}")
    options = PretrainOptions(spaces=(source,), per_space=per_space, mode="features", seed=seed)
    predictor = fit(labelled_sets(options, folder, log), options)
    predictor.save(path)
    return predictor


def tabular_estimator(features: SpaceFeatures, prior: ZeroShotPredictor | None, **options: Any) -> GpEstimator:
    """A fresh online value model for one search on a tabular task."""
    return GpEstimator(features, prior.predict if prior is not None else None, task=features.space, **options)
