"""The ranking head learns orders, not values, and round-trips through bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agentnas.value.metrics import calibration, kendall_tau
from agentnas.value.ranking import RankHead, RankTraining, train_ranker

FAST = RankTraining(steps=300, pairs_per_step=128)


def _toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = np.tanh(x[:, 0]) + 0.5 * x[:, 1] ** 2 - 0.3 * x[:, 2] + 0.05 * rng.normal(size=n)
    return x, y


def test_head_learns_a_nonlinear_order_it_was_not_shown() -> None:
    x, y = _toy(400, 0)
    head = train_ranker(x[:200], y[:200], FAST)
    assert kendall_tau(head.score(x[200:]), y[200:]) > 0.6
    assert abs(kendall_tau(np.random.default_rng(1).normal(size=200), y[200:])) < 0.15  # chance level


def test_only_the_order_of_targets_matters() -> None:
    x, y = _toy(300, 2)
    a = train_ranker(x, y, FAST).score(x)
    b = train_ranker(x, 100 * y - 7, FAST).score(x)  # same order, other scale
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_groups_keep_pairs_within_their_group() -> None:
    x, y = _toy(300, 3)
    groups = np.repeat([0, 1], 150)
    shifted = y + 10 * groups  # group 1 is "better" only by an incomparable offset
    head = train_ranker(x, shifted, FAST, groups=groups)
    tau_within = kendall_tau(head.score(x[150:]), y[150:])
    assert tau_within > 0.5


def test_saved_head_scores_identically(tmp_path: Path) -> None:
    x, y = _toy(200, 4)
    head = train_ranker(x, y, FAST)
    head.save(tmp_path / "head.pt")
    np.testing.assert_array_equal(RankHead.load(tmp_path / "head.pt").score(x), head.score(x))


def test_calibration_counts_shares_inside_the_intervals() -> None:
    rng = np.random.default_rng(5)
    actual = rng.normal(size=20_000)
    report = calibration(np.zeros_like(actual), np.ones_like(actual), actual)
    assert abs(report["within_1sigma"] - 0.683) < 0.02 and abs(report["within_2sigma"] - 0.954) < 0.01
