"""The online value model learns a task from its results, stays honest about its doubt,
and keeps tasks apart."""

from __future__ import annotations

import numpy as np

from agentnas.value.metrics import calibration, kendall_tau
from agentnas.value.online import OnlineValueModel


def _task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    y = 80 + 5 * np.sin(x[:, 0]) + 3 * x[:, 1] + rng.normal(scale=0.5, size=n)
    return x, y


def _prior(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return 0.01 * x[:, 1], np.zeros(len(x))  # right direction on one feature, wrong scale


def test_results_improve_the_ranking_beyond_the_prior_and_std_is_calibrated() -> None:
    x, y = _task(400, 0)
    model = OnlineValueModel(prior=_prior)
    for xi, yi in zip(x[:150], y[:150], strict=True):
        model.observe("t", xi, yi)
    mean, std = model.predict("t", x[150:])
    assert kendall_tau(mean, y[150:]) > kendall_tau(_prior(x[150:])[0], y[150:]) + 0.1
    cal = calibration(mean, std, y[150:])
    assert 0.5 < cal["within_1sigma"] < 0.9 and cal["within_2sigma"] > 0.85


def test_a_task_without_results_answers_from_the_prior_with_wide_doubt() -> None:
    x, y = _task(60, 1)
    model = OnlineValueModel(prior=_prior, prior_std=10.0)
    for xi, yi in zip(x[:50], y[:50], strict=True):
        model.observe("mnist1d", xi, yi)
    other_mean, other_std = model.predict("digits", x[50:])
    np.testing.assert_allclose(other_mean, _prior(x[50:])[0])
    assert (other_std == 10.0).all()
    _, own_std = model.predict("mnist1d", x[50:])
    assert (own_std < other_std).all()


def test_std_is_small_near_observations_and_grows_away_from_them() -> None:
    x, y = _task(40, 2)
    model = OnlineValueModel()
    for xi, yi in zip(x, y, strict=True):
        model.observe("t", xi, yi)
    _, near = model.predict("t", x[:5])
    _, far = model.predict("t", x[:5] + 25.0)
    assert (far > 1.5 * near).all()


def test_an_update_after_300_results_still_learns_the_new_one() -> None:
    # How long an update takes is a benchmark (benchmarks/online_update.py, BENCHMARKS.md), not a unit test.
    x, y = _task(301, 3)
    model = OnlineValueModel(prior=_prior)
    for xi, yi in zip(x[:300], y[:300], strict=True):
        model.observe("t", xi, yi)
    before, _ = model.predict("t", x[300:301])
    model.observe("t", x[300], y[300])
    after, _ = model.predict("t", x[300:301])
    assert abs(after[0] - y[300]) < abs(before[0] - y[300]) or abs(after[0] - y[300]) < 1e-6


def test_the_latent_std_leaves_out_the_noise_of_one_result() -> None:
    x, y = _task(80, 4)  # noise 0.5 on every result
    model = OnlineValueModel()
    for xi, yi in zip(x, y, strict=True):
        model.observe("t", xi, yi)
    mean, full = model.predict("t", x[:10])
    same, latent = model.predict("t", x[:10], noise=False)
    np.testing.assert_allclose(mean, same)
    assert (latent < full).all()
    noise = full**2 - latent**2
    np.testing.assert_allclose(noise, noise[0])  # one noise variance, added to every point
    assert 0.05 < float(np.sqrt(noise[0])) < 2.0
