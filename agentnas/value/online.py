"""The online value model: what a run learns from its own results, on top of the prior.

Per task, a Gaussian process over architecture encodings:

    y(x) = a·prior(x) + b + f(x),   f ~ GP(0, σ_f² · exp(-|x - x'|² / 2ℓ²)),   noise σ_n²

`prior(x)` is the zero-shot score (or 0 without one); a and b are refitted by least
squares on the task's results, so the prior's arbitrary scale becomes accuracy units; f
learns what the prior gets wrong. ℓ (around the median distance between observed
encodings) and the split of the residual variance into σ_f² and σ_n² are chosen on a small
grid by the log marginal likelihood. The predictive std combines the GP's
posterior variance and the noise, so it is wide far from what was observed and narrow
near it. Updating refactors an n×n matrix: for the few hundred results a run has, this
takes milliseconds.

Task-aware by construction: observations are kept per task, and a task without results
answers from the prior alone with a wide std — results on one task never pose as
knowledge about another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Prior = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class _TaskData:
    x: list[np.ndarray] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    prior: list[float] = field(default_factory=list)


@dataclass
class _Fit:
    a: float
    b: float
    length: float
    signal: float
    noise: float
    x: np.ndarray
    chol: np.ndarray
    alpha: np.ndarray


class OnlineValueModel:
    def __init__(self, prior: Prior | None = None, prior_std: float = 10.0) -> None:
        self.prior = prior
        self.prior_std = prior_std  # accuracy points of doubt before a task has any result
        self._tasks: dict[str, _TaskData] = {}
        self._fits: dict[str, _Fit | None] = {}

    def _prior_scores(self, x: np.ndarray) -> np.ndarray:
        return self.prior(x)[0] if self.prior is not None else np.zeros(len(x))

    def observe(self, task: str, x: np.ndarray, y: float) -> None:
        """Add one real result (accuracy) for `task`; the next prediction uses it."""
        x = np.asarray(x, np.float64).ravel()
        data = self._tasks.setdefault(task, _TaskData())
        data.x.append(x)
        data.y.append(float(y))
        data.prior.append(float(self._prior_scores(x[None])[0]))
        self._fits[task] = None  # refit lazily, once per batch of observations

    def count(self, task: str) -> int:
        return len(self._tasks.get(task, _TaskData()).y)

    def _fit(self, task: str) -> _Fit | None:
        data = self._tasks.get(task)
        if data is None or not data.y:
            return None
        cached = self._fits.get(task)
        if cached is not None:
            return cached
        x, y, p = np.stack(data.x), np.asarray(data.y), np.asarray(data.prior)
        if len(y) >= 3 and np.ptp(p) > 0:
            a, b = np.linalg.lstsq(np.stack([p, np.ones_like(p)], 1), y, rcond=None)[0]
            a = max(float(a), 0.0)  # the prior may be useless for a task, never trusted backwards
            b = float(np.mean(y - a * p))
        else:
            a, b = 0.0, float(np.mean(y))
        residual = y - (a * p + b)
        var = float(np.var(residual)) if len(y) > 1 else self.prior_std ** 2
        var = max(var, 1e-4)
        dists = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        median = float(np.median(dists[np.triu_indices(len(y), 1)])) if len(y) > 1 else 1.0
        best: tuple[float, float, float, float, np.ndarray, np.ndarray] | None = None
        # A small grid, scored by the log marginal likelihood: a few factorisations of an
        # n x n matrix, milliseconds for a run's few hundred results.
        for noise_share in (0.01, 0.05, 0.2, 0.5):
            for length in (0.5 * median, median, 2.0 * median):
                length = max(length, 1e-6)
                signal, noise = (1 - noise_share) * var, noise_share * var
                k = signal * np.exp(-(dists ** 2) / (2 * length ** 2)) + noise * np.eye(len(y))
                try:
                    chol = np.linalg.cholesky(k + 1e-9 * np.eye(len(y)))
                except np.linalg.LinAlgError:
                    continue
                alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, residual))
                evidence = -0.5 * float(residual @ alpha) - float(np.log(np.diag(chol)).sum())
                if best is None or evidence > best[0]:
                    best = (evidence, length, signal, noise, chol, alpha)
        assert best is not None
        _, length, signal, noise, chol, alpha = best
        fit = _Fit(a, b, length, signal, noise, x, chol, alpha)
        self._fits[task] = fit
        return fit

    def predict(self, task: str, x: np.ndarray, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) in accuracy units for each row of `x`, for `task`. With `noise` False the
        std is the GP's doubt about the mean alone, without the training noise of one result
        (what an expected improvement over the noise-free front needs)."""
        x = np.atleast_2d(np.asarray(x, np.float64))
        fit = self._fit(task)
        p = self._prior_scores(x)
        if fit is None:
            return p, np.full(len(x), self.prior_std)
        d2 = ((x[:, None, :] - fit.x[None, :, :]) ** 2).sum(-1)
        ks = fit.signal * np.exp(-d2 / (2 * fit.length ** 2))         # (m, n)
        mean = fit.a * p + fit.b + ks @ fit.alpha
        v = np.linalg.solve(fit.chol, ks.T)                            # (n, m)
        var = np.maximum(fit.signal - (v ** 2).sum(0), 0.0) + (fit.noise if noise else 0.0)
        return mean, np.sqrt(var)
