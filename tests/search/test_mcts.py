"""Hierarchical MCTS: the tree's two levels, gating by the value model, backup of real
rewards, promotion of predicted-only nodes, determinism and resume from records."""

from __future__ import annotations

import random

import numpy as np
from search_support import ALL_KEYS, OPTIMUM, ToyEvaluator, records, toy_proposer, toy_val

from agentnas.run.search import run_search
from agentnas.search import (
    Budget,
    GpEstimator,
    MctsParams,
    MctsPolicy,
    PuctParams,
    SearchNode,
    SearchResult,
    SearchTree,
    TableEstimator,
    acquisition,
)

PERFECT = {k: toy_val(k) for k in ALL_KEYS}


def _mcts(estimator: object, **params: object) -> MctsPolicy:
    return MctsPolicy(toy_proposer(), estimator, MctsParams(samples_per_hypothesis=4, **params))  # type: ignore[arg-type]


def _one_hot(keys: list[str] | tuple[str, ...]) -> np.ndarray:
    return np.array([[float(c == o) for c in k for o in "abc"] for k in keys]).reshape(len(keys), -1)


def test_a_perfect_value_model_finds_the_optimum_within_a_few_queries() -> None:
    for seed in range(5):
        estimator = TableEstimator(PERFECT, std=0.0)
        tree = run_search(_mcts(estimator), ToyEvaluator(), Budget(evals=6), seed=seed, estimator=estimator)
        assert OPTIMUM in [r.key for r in tree.results], f"seed {seed}"


def test_a_random_value_model_runs_within_budget_without_repeating_a_query() -> None:
    rng = np.random.default_rng(0)
    noise = {k: float(v) for k, v in zip(ALL_KEYS, rng.normal(size=len(ALL_KEYS)), strict=True)}
    estimator = TableEstimator(noise, std=1.0)
    evaluator = ToyEvaluator()
    tree = run_search(_mcts(estimator), evaluator, Budget(evals=40), seed=1, estimator=estimator)
    assert tree.cost() == 40 == len({r.key for r in tree.results})
    assert all(n == 1 for n in evaluator.calls.values())


def test_the_tree_has_hypotheses_over_architectures_and_children_of_architectures() -> None:
    estimator = TableEstimator(PERFECT)
    tree = run_search(_mcts(estimator), ToyEvaluator(), Budget(evals=15), seed=2, estimator=estimator)
    assert {h.text for h in tree.hypotheses()} == {"uniform", "mostly a"}
    for node in tree.nodes.values():
        if node.kind == "architecture":
            parent = tree.nodes[node.parent_id]  # type: ignore[index]
            assert node.hypothesis_id in {h.id for h in tree.hypotheses()}
            assert (parent.kind == "hypothesis") == (node.operator == "sample")
    assert any(n.operator in ("mutate", "recombine") for n in tree.nodes.values())


def test_real_rewards_back_up_to_every_ancestor() -> None:
    estimator = TableEstimator(PERFECT, std=0.5)
    tree = run_search(_mcts(estimator), ToyEvaluator(), Budget(evals=20), seed=3, estimator=estimator)
    for nid in tree.nodes:
        below = [r for r in tree.results if nid in tree.lineage(r.node_id)]
        assert tree.visits(nid) == len(below)
        assert tree.best(nid) == max((r.val_accuracy for r in below), default=None)
    assert tree.best(None) == max(r.val_accuracy for r in tree.results)  # type: ignore[type-var]


def test_the_gate_sends_only_the_best_predicted_child_to_real_evaluation() -> None:
    rng = np.random.default_rng(1)
    table = {k: toy_val(k) + float(rng.normal(scale=0.5)) for k in ALL_KEYS}
    estimator = TableEstimator(table, std=1.0)
    policy = _mcts(estimator, puct=PuctParams(beta=0.5))
    tree = SearchTree()
    for index in range(12):
        step = policy.step(tree, random.Random(index))
        for node in step.new_nodes:
            tree.add_node(node)
        if step.evaluate:
            (request,) = step.evaluate
            chosen = tree.nodes[request.node_id]
            siblings = [c for c in tree.kids(chosen.parent_id) if tree.queried(c.key) is None]
            best = max(acquisition(np.array([table[c.key]]), np.array([1.0]), 0.5)[0] for c in siblings)
            assert table[chosen.key] + 0.5 == best
            tree.add_result(SearchResult(node_id=chosen.id, key=chosen.key, val_accuracy=toy_val(chosen.key),
                                         step=index))
    predicted_only = [n for n in tree.nodes.values() if tree.predicted_only(n.id)]
    assert predicted_only and all(n.prior_mean is not None for n in predicted_only)


def test_predicted_only_nodes_are_promoted_in_later_steps() -> None:
    estimator = TableEstimator(PERFECT, std=0.2)
    tree = run_search(_mcts(estimator), ToyEvaluator(), Budget(evals=25), seed=4, estimator=estimator)
    promoted = [r for r in tree.results if tree.nodes[r.node_id].step < r.step]
    assert promoted, "some evaluated nodes were created as predicted-only in an earlier step"


def test_same_seed_gives_the_same_tree() -> None:
    trees = []
    for _ in range(2):
        estimator = GpEstimator(_one_hot, prior=None)
        trees.append(run_search(_mcts(estimator), ToyEvaluator(), Budget(evals=20), seed=9,
                                estimator=estimator))
    assert records(trees[0]) == records(trees[1])


def test_resuming_from_the_records_ends_with_the_same_tree_as_an_uninterrupted_search() -> None:
    def fresh() -> GpEstimator:
        return GpEstimator(_one_hot, prior=None)

    whole_estimator = fresh()
    whole = run_search(_mcts(whole_estimator), ToyEvaluator(), Budget(evals=30), seed=5,
                       estimator=whole_estimator)
    first_estimator = fresh()
    first = run_search(_mcts(first_estimator), ToyEvaluator(), Budget(evals=12), seed=5,
                       estimator=first_estimator)
    nodes, results = list(first.nodes.values()), list(first.results)
    rebuilt = SearchTree.replay(nodes, results)  # what a journal replay gives back
    resumed_estimator = fresh()
    resumed = run_search(_mcts(resumed_estimator), ToyEvaluator(), Budget(evals=30), seed=5, tree=rebuilt,
                         estimator=resumed_estimator)
    assert records(resumed) == records(whole)


def test_an_online_gp_without_a_prior_still_finds_the_toy_optimum() -> None:
    found = 0
    for seed in range(5):
        estimator = GpEstimator(_one_hot, prior=None)
        tree = run_search(_mcts(estimator), ToyEvaluator(), Budget(evals=30), seed=seed, estimator=estimator)
        found += OPTIMUM in {r.key for r in tree.results}
    assert found >= 4


class _SplitEstimator(TableEstimator):
    """A sure, good-looking candidate ("aaaa": μ 1, σ 0) beside a doubtful one ("bbbb": μ 0, σ 1)."""

    def __init__(self) -> None:
        super().__init__({"aaaa": 1.0, "bbbb": 0.0})

    def predict(self, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[override]
        mean, _ = super().predict(keys)
        return mean, np.array([1.0 if k == "bbbb" else 0.0 for k in keys])


def _split_tree(evaluated: int) -> SearchTree:
    tree = SearchTree()
    tree.add_node(SearchNode(id="h", kind="hypothesis", operator="hypothesis", text="uniform"))
    tree.add_node(SearchNode(id="p", parent_id="h", kind="architecture", operator="sample", key="cccc",
                             hypothesis_id="h"))
    for key in ("aaaa", "bbbb"):
        tree.add_node(SearchNode(id=key, parent_id="p", kind="architecture", operator="mutate", key=key,
                                 hypothesis_id="h"))
    done = ["cccc", *(k for k in ALL_KEYS if k not in {"aaaa", "bbbb", "cccc"})][:evaluated]
    for i, key in enumerate(done):
        if key != "cccc":
            tree.add_node(SearchNode(id=f"x{i}", parent_id="h", kind="architecture", operator="sample", key=key,
                                     hypothesis_id="h"))
        tree.add_result(SearchResult(node_id="p" if key == "cccc" else f"x{i}", key=key, val_accuracy=-5.0,
                                     step=i))
    return tree


def test_the_exploration_bonus_is_wide_for_the_first_queries_then_narrows() -> None:
    params = {"puct": PuctParams(beta=0.5, beta_early=3.0, early_queries=4), "eager_top": 0, "min_frontier": 0}
    policy = _mcts(_SplitEstimator(), **params)
    early, late = _split_tree(evaluated=3), _split_tree(evaluated=4)
    assert policy.beta(early) == 3.0 and policy.beta(late) == 0.5
    (first,) = policy.step(early, random.Random(0)).evaluate
    (second,) = policy.step(late, random.Random(0)).evaluate
    assert early.nodes[first.node_id].key == "bbbb"  # 0 + 3·1 beats 1 + 3·0: the doubtful one is tried
    assert late.nodes[second.node_id].key == "aaaa"  # 1 + 0.5·0 beats 0 + 0.5·1: the sure one wins
