"""How good a predictor is: rank correlation and calibration."""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau


def kendall_tau(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Kendall's τ-b between two score vectors (1 = same order, 0 = unrelated)."""
    tau = kendalltau(np.asarray(predicted), np.asarray(actual)).statistic
    return float(0.0 if np.isnan(tau) else tau)


def calibration(mean: np.ndarray, std: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Share of actual values inside mean ± 1σ and mean ± 2σ (ideal: 0.683 and 0.954)."""
    mean, std, actual = (np.asarray(a, np.float64) for a in (mean, std, actual))
    z = np.abs(actual - mean) / np.maximum(std, 1e-12)
    return {"within_1sigma": float((z <= 1).mean()), "within_2sigma": float((z <= 2).mean()), "n": float(len(z))}
