"""Deterministic, stratified index splits shared by the built-in and user tasks."""

from __future__ import annotations

import numpy as np


def stratified_split(y: np.ndarray, n_holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split the indices of `y` into (kept, held_out), `n_holdout` held out, by class.

    Each class gives up a share of the holdout proportional to its size (largest
    remainders fill the rounding gap), so a small validation split keeps the class
    balance of the whole. A private Generator makes the split depend on `seed` alone,
    never on global RNG state. Both index arrays come back sorted, so the kept rows
    keep their original order.
    """
    n = len(y)
    if not 0 < n_holdout < n:
        raise ValueError(f"cannot hold out {n_holdout} of {n} examples")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n_holdout / n
    take = np.floor(quota).astype(np.int64)
    # Largest remainders first; ties broken by class order, so the result is deterministic.
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: n_holdout - int(take.sum())]] += 1
    held: list[np.ndarray] = []
    for cls, k in zip(classes, take, strict=True):
        members = np.flatnonzero(y == cls)
        held.append(rng.permutation(members)[:k])
    held_out = np.sort(np.concatenate(held))
    kept = np.setdiff1d(np.arange(n), held_out, assume_unique=True)
    return kept, held_out
