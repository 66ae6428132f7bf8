"""The value model as the search uses it: predictions for architecture keys.

`GpEstimator` is the zero-shot prior plus the per-task online GP (agentnas.value), over
encodings looked up by key. Its state is only the results it observed, so a resumed search
rebuilds it by observing the journal's results again (`observe_all`).

Two choices the raw GP does not make for a search:
- Cold start: the online model fits the prior's scale (a·prior + b) only from 3 results on,
  so with 0-2 results this estimator ranks by the prior itself (scaled by `cold_scale`
  accuracy points per prior unit) with a shared std, instead of by distance to the first
  result.
- `latent`: the std is the doubt about the mean, without the noise of one training (the
  search for a front measures improvement over it: noise is not an improvement one can keep).
- The target is winsorised from below at the `floor_quantile` of the observed accuracies:
  benchmark spaces hold many broken architectures (10 % on CIFAR-10) whose huge residuals
  would otherwise set the GP's variance and hide the differences that matter at the top.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the value package loads torch: the search imports it only when a GP is fitted
    from agentnas.value.online import OnlineValueModel

Features = Callable[[Sequence[str]], np.ndarray]
Prior = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class ValueEstimator(ABC):
    """Contract: `predict(keys)` returns (mean, std) arrays, one entry per key, in the units
    of the task's validation accuracy (higher mean is better; std is the doubt); the same
    observations give the same predictions. `observe(key, val)` adds one real full-fidelity
    result. Implementations learn only from what they observe (one task's results)."""

    @abstractmethod
    def predict(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def observe(self, key: str, value: float) -> None: ...

    def observe_all(self, pairs: Sequence[tuple[str, float]]) -> None:
        for key, value in pairs:
            self.observe(key, value)


def _cached_prior(prior: Prior) -> Prior:
    """The zero-shot prior never changes: remember its answer per encoding row."""
    memo: dict[bytes, tuple[float, float]] = {}

    def cached(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.atleast_2d(np.asarray(x, np.float64))
        rows = [r.tobytes() for r in x]
        todo = [i for i, r in enumerate(rows) if r not in memo]
        if todo:
            mean, std = prior(x[todo].astype(np.float32))
            for i, m, s in zip(todo, mean, std, strict=True):
                memo[rows[i]] = (float(m), float(s))
        return (np.array([memo[r][0] for r in rows]), np.array([memo[r][1] for r in rows]))

    return cached


class GpEstimator(ValueEstimator):
    def __init__(self, features: Features, prior: Prior | None = None, cold_scale: float = 1.0,
                 floor_quantile: float = 0.25, task: str = "search", latent: bool = False) -> None:
        self.features = features
        self.prior = _cached_prior(prior) if prior is not None else None
        self.cold_scale = cold_scale
        self.floor_quantile = floor_quantile
        self.task = task
        self.latent = latent
        self._keys: list[str] = []
        self._values: list[float] = []
        self._model: OnlineValueModel | None = None

    def observe(self, key: str, value: float) -> None:
        self._keys.append(key)
        self._values.append(float(value))
        self._model = None  # refit lazily: the floor moves with the observations

    def _fitted(self) -> OnlineValueModel:
        if self._model is None:
            from agentnas.value.online import OnlineValueModel

            model = OnlineValueModel(prior=self.prior)
            values = np.asarray(self._values)
            floor = float(np.quantile(values, self.floor_quantile)) if len(values) >= 4 else -np.inf
            x = self.features(self._keys)
            for xi, yi in zip(x, values, strict=True):
                model.observe(self.task, xi, max(float(yi), floor))
            self._model = model
        return self._model

    def predict(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if not keys:
            return np.zeros(0), np.zeros(0)
        x = self.features(keys)
        if len(self._values) < 3:
            z = self.prior(x)[0] if self.prior is not None else np.zeros(len(keys))
            base = float(np.mean(self._values)) if self._values else 0.0
            spread = float(np.std(self._values)) if len(self._values) > 1 else 0.0
            return base + self.cold_scale * z, np.full(len(keys), max(spread, self.cold_scale))
        mean, std = self._fitted().predict(self.task, x, noise=not self.latent)
        return np.asarray(mean, np.float64), np.asarray(std, np.float64)


class TableEstimator(ValueEstimator):
    """Predictions from a fixed table with fixed noise (for tests and oracle studies):
    a perfect value model when the table holds the true accuracies."""

    def __init__(self, table: dict[str, float], std: float = 0.0, default: float = 0.0) -> None:
        self.table, self.std, self.default = table, std, default

    def observe(self, key: str, value: float) -> None:
        return None

    def predict(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        mean = np.array([self.table.get(k, self.default) for k in keys], np.float64)
        return mean, np.full(len(keys), self.std)
