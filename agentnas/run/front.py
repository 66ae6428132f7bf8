"""A run's trade-offs, read from its journal: each trained model's objectives (the task's
validation score and the deployment costs measured at its check), the Pareto front over the
objectives asked, and the model a user's constraints pick.

Objectives are the names of agentnas.records.objectives (each a `Metric` with its direction).
A model enters the front only with every objective measured: latency exists only where the
run measured it (a latency limit or objective; `[costs] latency = "always"`). Only full
trainings count (a short trial's score is not the model's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentnas.journal.tree import ArchNode, RunTree
from agentnas.records import OBJECTIVES, CostLimits, Costs, parse_objectives
from agentnas.search.pareto import nondominated_sort


class FrontError(ValueError):
    """Objectives or constraints that cannot be read (the message says which)."""


@dataclass(frozen=True)
class Trained:
    """One fully trained model with its measured objectives."""

    node: ArchNode
    costs: Costs | None
    values: dict[str, float]  # objective -> figure, only those measured

    def doc(self, run_dir: Path) -> dict[str, Any]:
        return {"id": self.node.id, **self.values, "test_score": self.node.test_score,
                "test_accuracy": self.node.test_accuracy,
                "path": str(Path(run_dir) / "candidates" / self.node.id / "model.py")}


def _costs(node: ArchNode) -> Costs | None:
    """Its costs as measured at the check (the node row; the experiment's in older journals)."""
    if node.costs is not None:
        return node.costs
    raw = (node.experiment or {}).get("costs")
    if not raw:
        return None
    try:
        return Costs.model_validate(raw)
    except ValueError:
        return None


def trained(tree: RunTree, objectives: Sequence[str]) -> list[Trained]:
    """Every fully trained model, with the figures of `objectives` it has."""
    out = []
    for node in tree.trained_nodes():
        if (node.experiment or {}).get("fidelity", "full") != "full":
            continue
        costs = _costs(node)
        values: dict[str, float] = {}
        for name in objectives:
            value: float | None
            if name == "val_accuracy":
                value = node.val_accuracy
            elif name == "val_loss":
                value = node.val_score if tree.metric.name == "loss" else None
            else:
                value = costs.value(name) if costs is not None else None
            if value is not None:
                values[name] = float(value)
        out.append(Trained(node, costs, values))
    return out


def score_objective(tree: RunTree) -> str:
    """The objective of the run's own validation score."""
    return "val_loss" if tree.metric.name == "loss" else "val_accuracy"


def default_objectives(tree: RunTree, config: dict[str, Any]) -> tuple[str, ...]:
    """The run's recorded objectives; else its score beside latency where measured, else MACs."""
    recorded = config.get("objectives")
    if recorded:
        return parse_objectives(recorded)
    timed = any(c is not None and c.latency_ms is not None for c in map(_costs, tree.trained_nodes()))
    return (score_objective(tree), "latency_ms" if timed else "macs")


def front_of(tree: RunTree, objectives: Sequence[str]) -> tuple[list[Trained], list[Trained], int]:
    """(every trained model, the front, how many have every figure) over `objectives`."""
    models = trained(tree, objectives)
    measured = sum(all(o in m.values for o in objectives) for m in models)
    return models, pareto_front(models, objectives), measured


def figure_text(name: str, value: float | None) -> str:
    """An objective's figure as the CLI and the report print it."""
    if value is None:
        return "-"
    if name in ("params", "macs"):
        return f"{value:,.0f}"
    return f"{value:.4g}" if name.endswith(("_ms", "_mb")) else f"{value:.4f}"


def pareto_front(models: Sequence[Trained], objectives: Sequence[str]) -> list[Trained]:
    """The models no other beats on every objective (each in its direction), best score first."""
    if len(objectives) < 2:
        raise FrontError("a front needs two objectives or more, e.g. val_accuracy,latency_ms")
    full = [m for m in models if all(o in m.values for o in objectives)]
    if not full:
        return []
    utilities = np.array([[OBJECTIVES[o].utility(m.values[o]) for o in objectives] for m in full])
    front = [full[i] for i in nondominated_sort(utilities)[0]]
    first = OBJECTIVES[objectives[0]]
    return sorted(front, key=lambda m: (first.sort_key(m.values[objectives[0]]), m.node.id))


def pick(models: Sequence[Trained], limits: CostLimits, by: str) -> Trained | None:
    """The best model by objective `by` among those whose measured costs keep every limit (a
    limit on a figure that was not measured for a model rules the model out)."""
    metric = OBJECTIVES[by]
    fits = []
    for m in models:
        if by not in m.values:
            continue
        if limits != CostLimits():
            if m.costs is None or (limits.max_latency_ms is not None and m.costs.latency_ms is None):
                continue
            if limits.exceeded(m.costs) is not None:
                continue
        fits.append(m)
    return min(fits, key=lambda m: (metric.sort_key(m.values[by]), m.node.id), default=None)
