"""Successive halving: brackets at a low fidelity, the best fraction promoted, every result
recording its fidelity, costs counted by fidelity, only full results as rewards."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from search_support import ALL_KEYS, ToyEvaluator, toy_proposer, toy_val

from agentnas.run.search import run_search
from agentnas.search import (
    FULL,
    Budget,
    Halving,
    MctsParams,
    MctsPolicy,
    SearchNode,
    SearchResult,
    SearchTree,
    TableEstimator,
    pending_promotions,
)

THIRD = 1 / 3


def _bracket_tree(values: dict[str, float], fidelity: float, step: int = 1) -> SearchTree:
    tree = SearchTree()
    tree.add_node(SearchNode(id="h", kind="hypothesis", operator="hypothesis", text="x"))
    for i, (key, v) in enumerate(values.items()):
        tree.add_node(SearchNode(id=f"n{i}", parent_id="h", kind="architecture", operator="sample", key=key,
                                 hypothesis_id="h"))
        tree.add_result(SearchResult(node_id=f"n{i}", key=key, fidelity=fidelity, val_accuracy=v, cost=fidelity,
                                     step=step))
    return tree


def test_halving_options_must_rise_to_the_full_recipe() -> None:
    assert Halving(fidelities=(0.1, 0.3, 1.0), eta=3).bracket_size == 9
    for bad in ((0.5,), (0.5, 0.2, 1.0), (0.0, 1.0), ()):
        with pytest.raises(ValidationError):
            Halving(fidelities=bad)


def test_the_best_third_of_a_bracket_is_promoted_to_the_next_fidelity() -> None:
    halving = Halving(fidelities=(THIRD, FULL), eta=3)
    tree = _bracket_tree({"aaaa": 10.0, "bbbb": 30.0, "cccc": 20.0}, THIRD)
    owed = pending_promotions(tree, halving)
    assert [(r.node_id, r.fidelity) for r in owed] == [("n1", FULL)]
    tree.add_result(SearchResult(node_id="n1", key="bbbb", val_accuracy=80.0, step=2))
    assert pending_promotions(tree, halving) == []


def test_three_levels_promote_level_by_level() -> None:
    halving = Halving(fidelities=(0.1, 0.3, FULL), eta=3)
    values = {k: float(i) for i, k in enumerate(ALL_KEYS[:9])}
    tree = _bracket_tree(values, 0.1)
    owed = pending_promotions(tree, halving)
    assert sorted(r.node_id for r in owed) == ["n6", "n7", "n8"] and {r.fidelity for r in owed} == {0.3}
    for r, v in zip(sorted(owed, key=lambda r: r.node_id), (5.0, 1.0, 3.0), strict=True):
        key = tree.nodes[r.node_id].key
        tree.add_result(SearchResult(node_id=r.node_id, key=key, fidelity=0.3, val_accuracy=v, step=2))
    assert [(r.node_id, r.fidelity) for r in pending_promotions(tree, halving)] == [("n6", FULL)]


def test_mcts_with_halving_records_fidelities_and_charges_by_fidelity() -> None:
    halving = Halving(fidelities=(THIRD, FULL), eta=3)
    estimator = TableEstimator({k: toy_val(k) for k in ALL_KEYS}, std=0.5)
    policy = MctsPolicy(toy_proposer(), estimator, MctsParams(samples_per_hypothesis=6, halving=halving))
    evaluator = ToyEvaluator()
    tree = run_search(policy, evaluator, Budget(evals=8), seed=0, estimator=estimator)
    fidelities = [r.fidelity for r in tree.results]
    assert set(fidelities) == {THIRD, FULL}
    assert fidelities.count(THIRD) == 3 * fidelities.count(FULL)  # every bracket of 3 promoted exactly one
    assert tree.cost() == pytest.approx(sum(fidelities)) and tree.cost() <= 8
    for r in tree.results:
        if r.fidelity == FULL:
            low = [x for x in tree.results if x.fidelity == THIRD and x.step == tree.queried(r.key, THIRD).step]
            assert r.key == max(low, key=lambda x: x.val_accuracy).key  # type: ignore[union-attr]
    # only full-fidelity results are rewards: the best backed-up value is a full one
    assert tree.best(None) == max(r.val_accuracy for r in tree.results if r.fidelity == FULL)  # type: ignore[type-var]
