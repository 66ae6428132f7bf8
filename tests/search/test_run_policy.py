"""The code-level run's policy reads the same kind of tree and applies the same selection
formula, exploration schedule and metric direction as the tabular search."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from agentnas.journal import open_journal
from agentnas.journal.tree import RunTree
from agentnas.records import Metric, SteeringMessage
from agentnas.search.policy import RunPolicy
from agentnas.search.selection import PuctParams

LOSS = Metric(name="loss", higher_is_better=False)


class Runs:
    """A journal written the way the run loop writes it, and the tree read back from it."""

    def __init__(self, tmp_path: Path, metric: Metric = Metric()) -> None:
        self.journal = open_journal(tmp_path)
        self.metric = metric
        self.n = 0

    def directions(self, n: int = 3) -> None:
        """`n` hypotheses, the first holding what the test adds: enough that no new one is opened
        (fewer than 1 + √N trained architectures per hypothesis), the empty ones never chosen."""
        for i in range(n):
            self.hypothesis(f"h{i:03d}")

    def hypothesis(self, hid: str, priority: int = 0) -> None:
        self.journal.append("hypothesis", hid, {"text": f"idea {hid}", "source": "researcher", "iteration": 0,
                                                "priority": priority})

    def node(self, nid: str, hid: str, *, val: float | None = None, mean: float | None = None, std: float = 0.01,
             parent: str | None = None, params: int = 100) -> None:
        self.n += 1
        self.journal.append("node", nid, {"hypothesis_id": hid, "parent_id": parent, "iteration": self.n,
                                          "code": f"# {nid}\nx = {self.n}\n", "status": "scored", "operator": "mutate",
                                          "mean": mean, "std": std, "params": params, "code_hash": f"hash-{nid}"})
        if val is not None:
            self.journal.append("experiment", nid, {"node_id": nid, "status": "ok", "val_accuracy": val,
                                                    "test_accuracy": val, "iteration": self.n})

    def steer(self, **kw: Any) -> None:
        m = SteeringMessage(**kw)
        self.journal.append("steering", m.id, {**m.model_dump(mode="json"), "iteration": self.n})

    def tree(self) -> RunTree:
        return RunTree.from_journal(self.journal, self.metric)


def step(tree: RunTree, **kw: Any) -> Any:
    return RunPolicy(**kw).step(tree, random.Random(0))


def test_the_run_tree_keeps_a_search_tree_with_every_training_backed_up(tmp_path: Path) -> None:
    runs = Runs(tmp_path)
    runs.hypothesis("h000")
    runs.node("a", "h000", val=0.8)
    runs.node("b", "h000", val=0.9, parent="a")
    tree = runs.tree()
    assert tree.search.visits("h000") == 2 and tree.search.visits("a") == 2 and tree.search.best("a") == 0.9
    assert tree.best() is not None and tree.best().id == "b"  # type: ignore[union-attr]


def test_a_queued_hypothesis_comes_first_then_widening_opens_new_ones(tmp_path: Path) -> None:
    runs = Runs(tmp_path)
    assert step(runs.tree()).expand.hypothesis_id is None  # nothing yet: a new hypothesis
    runs.hypothesis("h000")
    runs.node("a", "h000", val=0.8)
    runs.hypothesis("u1", priority=1)
    assert step(runs.tree()).expand.hypothesis_id == "u1"


def test_early_on_a_doubtful_candidate_is_promoted_later_the_sure_one_is_expanded(tmp_path: Path) -> None:
    runs = Runs(tmp_path)
    runs.directions()
    runs.node("sure", "h000", val=0.90, std=0.01)
    runs.node("doubt", "h000", mean=0.85, std=0.05)  # a(x) = 0.85 + 3·0.05 early, + 1·0.05 later
    early = step(runs.tree(), puct=PuctParams(c_puct=0.0, beta=1.0, beta_early=3.0, early_queries=4))
    late = step(runs.tree(), puct=PuctParams(c_puct=0.0, beta=1.0, beta_early=3.0, early_queries=1))
    assert [r.node_id for r in early.evaluate] == ["doubt"]
    assert late.expand is not None and late.expand.parent_id == "sure"


def test_pruned_and_unfocused_subtrees_are_never_chosen(tmp_path: Path) -> None:
    runs = Runs(tmp_path)
    runs.directions()
    runs.node("best", "h000", val=0.95)
    runs.node("other", "h000", val=0.70)
    runs.steer(kind="prune", target="best")
    assert step(runs.tree(), recombine_p=0.0).expand.parent_id == "other"
    runs.steer(kind="focus", target="other")
    chosen = step(runs.tree(), recombine_p=0.0)
    assert chosen.expand.parent_id == "other"


def test_with_a_lower_is_better_metric_the_lowest_loss_is_expanded(tmp_path: Path) -> None:
    runs = Runs(tmp_path, LOSS)
    runs.directions()
    runs.node("low", "h000", val=0.5)
    runs.node("high", "h000", val=2.5)
    tree = runs.tree()
    assert tree.best().id == "low"  # type: ignore[union-attr]
    assert step(tree, puct=PuctParams(c_puct=0.0), recombine_p=0.0).expand.parent_id == "low"


def test_candidates_over_the_users_parameter_limit_are_not_promoted(tmp_path: Path) -> None:
    runs = Runs(tmp_path)
    runs.directions()
    runs.node("done", "h000", val=0.5)
    runs.node("big", "h000", mean=0.99, std=0.01, params=10**6)
    assert step(runs.tree()).evaluate[0].node_id == "big"
    runs.steer(kind="constrain", max_params=1000)
    chosen = step(runs.tree(), recombine_p=0.0)
    assert not chosen.evaluate and chosen.expand.parent_id == "done"
