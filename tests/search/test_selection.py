"""The PUCT formula, the priors and the gate, checked against hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agentnas.search import PuctParams, acquisition, gate, priors, puct_scores


def test_acquisition_is_mean_plus_beta_std() -> None:
    assert acquisition(np.array([90.0, 91.0]), np.array([2.0, 0.0]), 0.5).tolist() == [91.0, 91.0]


def test_priors_are_a_softmax_of_values_over_temperature_times_scale() -> None:
    p = priors(np.array([1.0, 0.0, float("-inf")]), scale=2.0, temperature=0.5)
    e = math.exp(-1.0)  # (0 - 1) / (0.5 * 2)
    assert p == pytest.approx([1 / (1 + e), e / (1 + e), 0.0])


def test_puct_score_matches_the_docstring_formula() -> None:
    params = PuctParams(c_puct=2.0, temperature=1.0)
    v, n = np.array([91.0, 90.0]), np.array([3, 0])
    scores = puct_scores(v, n, parent_visits=3, scale=1.0, params=params)
    p = priors(v, 1.0, 1.0)
    expected = [0.0 + 2.0 * p[0] * math.sqrt(4) / 4, -1.0 + 2.0 * p[1] * math.sqrt(4) / 1]
    assert scores == pytest.approx(expected)


def test_exploration_can_pick_an_unvisited_child_over_a_slightly_better_visited_one() -> None:
    v, n = np.array([91.0, 90.8]), np.array([20, 0])
    explore = puct_scores(v, n, 20, scale=1.0, params=PuctParams(c_puct=1.0))
    greedy = puct_scores(v, n, 20, scale=1.0, params=PuctParams(c_puct=0.0))
    assert int(np.argmax(explore)) == 1 and int(np.argmax(greedy)) == 0


def test_a_subtree_with_no_value_is_chosen_last() -> None:
    scores = puct_scores(np.array([float("-inf"), 50.0]), np.array([0, 5]), 5, 1.0, PuctParams(c_puct=10.0))
    assert int(np.argmax(scores)) == 1


def test_gate_keeps_the_n_best_by_optimism_with_ties_to_the_earlier() -> None:
    mean, std = np.array([90.0, 91.0, 89.0, 91.0]), np.array([0.0, 0.0, 3.0, 0.0])
    assert gate(mean, std, beta=0.5, n=2) == [1, 3]
    assert gate(mean, std, beta=1.0, n=1) == [2]
    assert gate(mean, std, beta=1.0, n=0) == []
