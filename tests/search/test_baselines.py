"""Random search, regularized evolution and local search: budget, no repeated query,
their published semantics, and determinism."""

from __future__ import annotations

import random

import pytest
from search_support import ALL_KEYS, ToyEvaluator, ToyGrammar, records, toy_val

from agentnas.run.search import run_search
from agentnas.search import (
    Budget,
    LocalSearch,
    RandomSearch,
    RegularizedEvolution,
    SearchNode,
    SearchResult,
    SearchTree,
    step_rng,
)

POLICIES = [RandomSearch(ToyGrammar()), RegularizedEvolution(ToyGrammar()), LocalSearch(ToyGrammar(), initial=3)]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_each_baseline_spends_exactly_its_budget_and_never_queries_twice(policy: object) -> None:
    evaluator = ToyEvaluator()
    tree = run_search(policy, evaluator, Budget(evals=30), seed=1)  # type: ignore[arg-type]
    keys = [r.key for r in tree.results]
    assert len(keys) == 30 and tree.cost() == 30
    assert len(set(keys)) == 30
    assert all(n == 1 for n in evaluator.calls.values())


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_a_budget_larger_than_the_space_stops_when_every_architecture_is_known(policy: object) -> None:
    tree = run_search(policy, ToyEvaluator(), Budget(evals=500), seed=2)  # type: ignore[arg-type]
    assert sorted(r.key for r in tree.results) == sorted(ALL_KEYS)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_same_seed_same_search_other_seed_other_search(policy: object) -> None:
    a = run_search(policy, ToyEvaluator(), Budget(evals=25), seed=7)  # type: ignore[arg-type]
    b = run_search(policy, ToyEvaluator(), Budget(evals=25), seed=7)  # type: ignore[arg-type]
    c = run_search(policy, ToyEvaluator(), Budget(evals=25), seed=8)  # type: ignore[arg-type]
    assert records(a) == records(b)
    assert [r.key for r in a.results] != [r.key for r in c.results]


def test_rea_starts_with_ten_random_samples_then_mutates_tournament_winners() -> None:
    grammar = ToyGrammar()
    tree = run_search(RegularizedEvolution(grammar), ToyEvaluator(), Budget(evals=40), seed=3)
    ops = [tree.nodes[r.node_id].operator for r in tree.results]
    assert ops[:10] == ["sample"] * 10
    for r in tree.results[10:]:
        node = tree.nodes[r.node_id]
        if node.operator == "mutate":
            parent = tree.nodes[node.parent_id]  # type: ignore[index]
            differ = sum(a != b for a, b in zip(parent.key, node.key, strict=True))
            assert differ == 1  # one position changed


def _tree_with_results(values: list[float]) -> SearchTree:
    tree = SearchTree()
    tree.add_node(SearchNode(id="h", kind="hypothesis", operator="hypothesis", text="rea"))
    for i, v in enumerate(values):
        key = ALL_KEYS[i]
        tree.add_node(SearchNode(id=f"n{i}", parent_id="h", kind="architecture", operator="sample", key=key,
                                 hypothesis_id="h", step=i))
        tree.add_result(SearchResult(node_id=f"n{i}", key=key, val_accuracy=v, step=i))
    return tree


def test_rea_population_is_the_last_ten_results_and_the_oldest_leave() -> None:
    rea = RegularizedEvolution(ToyGrammar())
    tree = _tree_with_results([float(v) for v in range(14)])
    assert [m[0] for m in rea.members(tree)] == [f"n{i}" for i in range(4, 14)]


def test_rea_tournament_parent_is_the_best_of_three_sampled_members() -> None:
    rea = RegularizedEvolution(ToyGrammar())
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 0.5, 3.3, 2.2]
    tree = _tree_with_results(values)
    for seed in range(20):
        rng = step_rng(seed, tree.next_step)
        replica = random.Random()
        replica.setstate(rng.getstate())
        expected = max(replica.sample(rea.members(tree), 3), key=lambda m: m[2])[0]
        step = rea.step(tree, rng)
        child = step.new_nodes[-1]
        assert child.parent_id == expected and child.operator == "mutate"


def test_local_search_restarts_only_at_a_local_optimum() -> None:
    grammar = ToyGrammar()
    tree = run_search(LocalSearch(grammar, initial=1), ToyEvaluator(), Budget(evals=60), seed=4)
    starts = [i for i, r in enumerate(tree.results) if tree.nodes[r.node_id].operator == "sample"]
    assert len(starts) >= 2, "the toy space is small enough that LS restarts within 60 queries"
    for i in starts[1:]:
        known = {r.key for r in tree.results[:i]}
        # climb from the last centre through neighbourhoods already fully known: the climb
        # must end at a local optimum, else LS had a neighbour left to evaluate or a move to make
        key = tree.nodes[tree.nodes[tree.results[i - 1].node_id].parent_id].key  # type: ignore[index]
        while True:
            neighbours = [p.key for p in grammar.neighbours(key)]
            assert all(k in known for k in neighbours)
            best = max(neighbours, key=toy_val)
            if toy_val(best) <= toy_val(key):
                break
            key = best


def test_local_search_moves_to_the_best_neighbour() -> None:
    grammar = ToyGrammar()
    tree = run_search(LocalSearch(grammar, initial=1), ToyEvaluator(), Budget(evals=60), seed=5)
    centres = []
    for r in tree.results:
        node = tree.nodes[r.node_id]
        if node.operator == "mutate" and (not centres or centres[-1] != node.parent_id):
            centres.append(node.parent_id)
    moves = [(a, b) for a, b in zip(centres, centres[1:], strict=False)
             if tree.nodes[b].operator == "mutate"]  # type: ignore[index]
    assert moves, "LS moved at least once"
    for a, b in moves:
        old, new = tree.nodes[a].key, tree.nodes[b].key  # type: ignore[index]
        assert new in {p.key for p in grammar.neighbours(old)}
        assert toy_val(new) == max(toy_val(p.key) for p in grammar.neighbours(old)) > toy_val(old)


def test_local_search_starts_from_the_best_of_its_initial_samples() -> None:
    tree = run_search(LocalSearch(ToyGrammar(), initial=5), ToyEvaluator(), Budget(evals=8), seed=6)
    first = tree.results[:5]
    best = max(first, key=lambda r: r.val_accuracy or 0.0)
    assert all(tree.nodes[r.node_id].parent_id == best.node_id for r in tree.results[5:])
