"""The objectives a run may rank by (`--objectives`), each a `Metric` that knows its direction:
the task's validation score and the deployment costs of agentnas.records.costs."""

from __future__ import annotations

from collections.abc import Sequence

from agentnas.records.costs import Costs
from agentnas.records.evaluation import Metric, Metrics

# The costs as metrics: the one object that knows each direction (all lower is better).
LATENCY_MS = Metric(name="latency_ms", higher_is_better=False)
TORCH_LATENCY_MS = Metric(name="torch_latency_ms", higher_is_better=False)
PARAMS = Metric(name="params", higher_is_better=False)
MACS = Metric(name="macs", higher_is_better=False)
SIZE_MB = Metric(name="size_mb", higher_is_better=False)
PEAK_MEM_MB = Metric(name="peak_mem_mb", higher_is_better=False)
COST_METRICS: dict[str, Metric] = {
    m.name: m for m in (LATENCY_MS, TORCH_LATENCY_MS, PARAMS, MACS, SIZE_MB, PEAK_MEM_MB)}

# What a run may optimise: the validation score of the task (accuracy up, a token task's loss
# down) and the costs. Names are those of `--objectives`.
OBJECTIVES: dict[str, Metric] = {
    "val_accuracy": Metric(name="val_accuracy", higher_is_better=True),
    "val_loss": Metric(name="val_loss", higher_is_better=False),
    **COST_METRICS,
}


def parse_objectives(text: str | Sequence[str]) -> tuple[str, ...]:
    """`val_accuracy,latency_ms` (or a list of names) -> the names, checked: known, none twice,
    at least one. ValueError with a one-line message otherwise."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    if not names or any(not n for n in names):
        raise ValueError("give objectives as names separated by commas, e.g. val_accuracy,latency_ms")
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; known: {', '.join(OBJECTIVES)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"objective {twice[0]!r} is given twice")
    return tuple(names)


def objective_value(name: str, metrics: Metrics | None, costs: Costs | None) -> float | None:
    """The figure objective `name` ranks by, None where it was not measured (a failed
    training has no accuracy; latency is measured only when asked)."""
    if name not in OBJECTIVES:
        raise KeyError(f"unknown objective {name!r}; known: {', '.join(OBJECTIVES)}")
    if name in COST_METRICS:
        return costs.value(name) if costs is not None else None
    if metrics is None:
        return None
    return metrics.val_accuracy if name == "val_accuracy" else metrics.val_loss
