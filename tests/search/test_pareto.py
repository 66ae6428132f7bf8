"""Fronts, hypervolume and EHVI (search.pareto), and the searches for a front: NSGA-II and
MCTS by expected hypervolume improvement (search.multi, search.pareto_mcts)."""

from __future__ import annotations

import numpy as np
import pytest

from agentnas.run.search import run_search
from agentnas.search import Budget, ParetoMctsPolicy, ParetoSpec, TableEstimator, make_policy
from agentnas.search.multi import pareto_order
from agentnas.search.pareto import (
    contributions_2d,
    crowding_distance,
    dominates,
    ehvi_2d,
    front_2d,
    hypervolume_2d,
    nondominated_sort,
)
from tests.search.search_support import ALL_KEYS, ToyEvaluator, ToyGrammar, toy_proposer, toy_val

# A toy cost: each "c" is expensive, each "b" a little; "a" is free.
COST = {k: float(3 * k.count("c") + k.count("b")) for k in ALL_KEYS}
SPEC = ParetoSpec(cost_name="macs", cost=lambda keys: np.array([COST[k] for k in keys]), cost_ref=13.0)


def _toy_hv(keys: list[str]) -> float:
    pts = np.array([[toy_val(k) - 80.0, 13.0 - COST[k]] for k in keys])
    return hypervolume_2d(pts, (0.0, 0.0))


def test_hypervolume_is_the_area_of_the_staircase_and_ignores_dominated_points() -> None:
    pts = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0]])
    assert hypervolume_2d(pts, (0.0, 0.0)) == pytest.approx(3 + 1 * 2 + 1 * 1)  # 6
    with_dominated = np.vstack([pts, [[1.0, 1.0], [2.0, 2.0]]])
    assert hypervolume_2d(with_dominated, (0.0, 0.0)) == pytest.approx(6.0)
    assert hypervolume_2d(np.array([[-1.0, 5.0]]), (0.0, 0.0)) == 0.0  # below the reference: nothing
    assert hypervolume_2d(np.zeros((0, 2)), (0.0, 0.0)) == 0.0


def test_hypervolume_agrees_with_counting_a_grid() -> None:
    rng = np.random.default_rng(3)
    pts = rng.uniform(0, 1, size=(12, 2))
    g = (np.arange(400) + 0.5) / 400
    xx, yy = np.meshgrid(g, g)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    covered = (grid[:, None, :] <= pts[None, :, :]).all(-1).any(1).mean()
    assert hypervolume_2d(pts, (0.0, 0.0)) == pytest.approx(covered, abs=5e-3)


def test_a_certain_candidate_gets_exactly_its_improvement() -> None:
    front = np.array([[3.0, 1.0], [1.0, 3.0]])
    base = hypervolume_2d(front, (0.0, 0.0))
    cands = np.array([[2.0, 2.0], [0.5, 0.5], [4.0, 4.0], [1.0, 5.0]])
    gain = ehvi_2d(cands[:, 0], np.zeros(4), cands[:, 1], front, (0.0, 0.0))
    exact = [hypervolume_2d(np.vstack([front, c]), (0.0, 0.0)) - base for c in cands]
    assert gain == pytest.approx(exact)
    assert gain[1] == 0.0  # dominated


def test_ehvi_is_the_mean_improvement_over_the_score_distribution() -> None:
    rng = np.random.default_rng(0)
    front = rng.normal(size=(8, 2))
    ref = (-3.0, -3.0)
    base = hypervolume_2d(front, ref)
    mean, std, cost = np.array([0.4, -1.0]), np.array([0.5, 1.5]), np.array([0.3, 1.8])
    gain = ehvi_2d(mean, std, cost, front, ref)
    for i in range(2):
        draws = rng.normal(mean[i], std[i], size=6000)
        mc = np.mean([hypervolume_2d(np.vstack([front, [y, cost[i]]]), ref) - base for y in draws])
        assert gain[i] == pytest.approx(mc, rel=0.05)
    assert ehvi_2d(mean, std, cost, np.zeros((0, 2)), ref).min() > 0  # an empty front: anything above ref gains


def test_nondominated_sort_peels_fronts_and_crowding_favours_the_extremes() -> None:
    pts = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    assert nondominated_sort(pts) == [[0, 1, 2, 5], [3], [4]]
    assert dominates(pts[2], pts[3]) and not dominates(pts[2], pts[5])
    crowd = crowding_distance(np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.5], [3.0, 0.0]]))
    assert np.isinf(crowd[[0, 3]]).all() and np.isfinite(crowd[[1, 2]]).all()
    assert sorted(front_2d(pts)) in ([0, 1, 2], [0, 1, 5])


def test_pareto_order_puts_the_front_first_largest_contribution_first() -> None:
    pts = np.array([[1.0, 1.0], [3.0, 1.0], [1.0, 3.0], [2.5, 2.5]])
    order = pareto_order(pts, (0.0, 0.0))
    contrib = contributions_2d(pts[[1, 2, 3]], (0.0, 0.0))
    assert order[-1] == 0 and order[0] == [1, 2, 3][int(np.argmax(contrib))]


@pytest.mark.parametrize("method", ["nsga2", "mcts"])
def test_front_searches_never_query_twice_and_are_replayable(method: str) -> None:
    def run(seed: int) -> list[str]:
        estimator = TableEstimator({k: toy_val(k) for k in ALL_KEYS}, std=0.5) if method == "mcts" else None
        policy = make_policy(method, ToyGrammar(), estimator=estimator, proposer=toy_proposer(), pareto=SPEC)
        tree = run_search(policy, ToyEvaluator(), Budget(evals=40), seed=seed, estimator=estimator)
        return [r.key for r in tree.full_results()]

    keys = run(1)
    assert len(keys) == 40 and len(set(keys)) == 40
    assert run(1) == keys


def test_mcts_by_ehvi_with_a_perfect_value_model_finds_more_of_the_front_than_random() -> None:
    oracle = TableEstimator({k: toy_val(k) for k in ALL_KEYS}, std=0.0)
    truth = _toy_hv(ALL_KEYS)
    hv = {}
    for method in ("random", "nsga2", "mcts"):
        got = []
        for seed in range(5):
            est = oracle if method == "mcts" else None
            policy = make_policy(method, ToyGrammar(), estimator=est, proposer=toy_proposer(), pareto=SPEC)
            tree = run_search(policy, ToyEvaluator(), Budget(evals=15), seed=seed, estimator=est)
            got.append(_toy_hv([r.key for r in tree.full_results()]))
        hv[method] = float(np.mean(got))
    assert hv["mcts"] > hv["random"] and hv["mcts"] > 0.97 * truth


def test_single_objective_policies_refuse_a_front_and_nsga2_needs_one() -> None:
    with pytest.raises(ValueError, match="optimises one objective"):
        make_policy("rea", ToyGrammar(), pareto=SPEC)
    with pytest.raises(ValueError, match="second objective"):
        make_policy("nsga2", ToyGrammar())
    with pytest.raises(ValueError, match="widen must be positive"):
        ParetoMctsPolicy(toy_proposer(), TableEstimator({}), SPEC, widen=0.0)
    with pytest.raises(ValueError, match="positive"):
        ParetoSpec(cost_name="macs", cost=lambda keys: np.zeros(len(keys)), cost_ref=1.0, cost_scale=0.0)


def test_nsga2_starts_from_a_random_population_then_breeds_from_it() -> None:
    policy = make_policy("nsga2", ToyGrammar(), pareto=SPEC)
    tree = run_search(policy, ToyEvaluator(), Budget(evals=30), seed=0)
    ops = [tree.nodes[r.node_id].operator for r in tree.full_results()]
    assert ops[:20] == ["sample"] * 20 and "recombine" in ops[20:]
