"""The random-search baseline (order statistics) and the run's best-so-far curve."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from agentnas.report import Evaluation, best_so_far, expected_best, random_baseline
from agentnas.report.baseline import improvements


def ev(val: float | None, test: float | None = None, operator: str = "sample", status: str = "ok",
       fidelity: str = "full", params: int = 100, node: str = "") -> Evaluation:
    return Evaluation(key=node or f"n{val}", node_id=node or f"n{val}", status=status, fidelity=fidelity,
                      val_accuracy=val, test_accuracy=val if test is None and val is not None else test,
                      params=params, train_seconds=1.0, wall_seconds=1.0,
                      failure_kind=None if status == "ok" else "crash", operator=operator)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expected_best_equals_the_mean_over_every_subset_of_draws(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = sorted(rng.uniform(0.3, 0.99, size=7).round(3).tolist() + [0.5, 0.5])  # ties included
    for n in range(1, len(values) + 1):
        subsets = list(itertools.combinations(values, n))
        brute = sum(max(s) for s in subsets) / len(subsets)
        assert expected_best(values, n) == pytest.approx(brute, abs=1e-12)


def test_expected_best_is_the_mean_for_one_draw_and_the_max_for_all() -> None:
    values = [0.1, 0.4, 0.7, 0.9]
    assert expected_best(values, 1) == pytest.approx(np.mean(values))
    assert expected_best(values, 4) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        expected_best(values, 5)


def test_expected_best_matches_the_closed_form_for_a_large_population() -> None:
    # values (k - 1) / (M - 1), k = 1..M: the max rank of n draws from 1..M has mean n (M + 1) / (n + 1)
    m, n = 600, 300
    values = [(k - 1) / (m - 1) for k in range(1, m + 1)]
    assert expected_best(values, n) == pytest.approx((n * (m + 1) / (n + 1) - 1) / (m - 1), rel=1e-12)


def test_baseline_uses_only_successful_full_fidelity_random_draws() -> None:
    evaluations = [ev(0.6), ev(0.7, operator="seed"), ev(0.95, operator="mutate"), ev(0.99, fidelity="low"),
                   ev(None, status="failed"), ev(0.8, operator="recombine"), ev(0.9)]
    b = random_baseline(evaluations)
    assert b.available and b.population == 3 and b.failed_random == 1
    assert b.val[-1] == pytest.approx(0.9)  # all three drawn: the population's best, not the mutant's 0.95
    assert b.val[0] == pytest.approx((0.6 + 0.7 + 0.9) / 3)


def test_baseline_is_unavailable_with_fewer_than_three_random_results() -> None:
    b = random_baseline([ev(0.6), ev(0.9, operator="mutate"), ev(0.7), ev(None, status="failed")])
    assert not b.available and b.population == 2
    assert "unavailable" in b.reason and "2" in b.reason
    assert improvements(best_so_far([ev(0.6)]), b) == []


def test_baseline_test_curve_follows_the_model_chosen_on_validation() -> None:
    # the best on validation has the worst test score: random search that selects on validation gets it
    population = [ev(0.5, 0.9, node="a"), ev(0.6, 0.8, node="b"), ev(0.9, 0.4, node="c")]
    b = random_baseline(population)
    assert b.test[-1] == pytest.approx(0.4)
    # n = 2: pairs ab -> b (0.8), ac -> c (0.4), bc -> c (0.4)
    assert b.test[1] == pytest.approx((0.8 + 0.4 + 0.4) / 3)


def test_best_so_far_tracks_validation_and_reports_that_models_test() -> None:
    curve = best_so_far([ev(None, status="failed", node="f"), ev(0.7, 0.9, node="a"), ev(0.8, 0.6, node="b"),
                         ev(0.75, 0.99, node="c"), ev(0.95, 0.5, fidelity="low", node="d")])
    assert curve.val == (None, 0.7, 0.8, 0.8, 0.8)
    assert curve.test == (None, 0.9, 0.6, 0.6, 0.6)  # never the 0.99 of a model worse on validation
    assert curve.best_key == (None, "a", "b", "b", "b")


def test_improvement_is_reported_at_the_same_budget_and_at_the_end() -> None:
    evaluations = [ev(0.6, node="a"), ev(0.7, node="b"), ev(0.8, node="c"), ev(0.9, operator="mutate", node="d")]
    curve, b = best_so_far(evaluations), random_baseline(evaluations)
    same, end = improvements(curve, b)
    assert (same.n, same.baseline_n) == (3, 3) and same.val == pytest.approx(0.0)
    assert (end.n, end.baseline_n) == (4, 3) and end.val == pytest.approx(0.1)
