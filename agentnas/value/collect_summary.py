"""What a labelled set holds: counts per family and task, cost per architecture, label noise.

Label noise is measured on the architectures trained with every seed of the collection
(0 and the replicate seeds) on a task: per architecture the standard deviation of its
accuracy across seeds (in points), and over them the Kendall τ between the orders two
seeds give, which bounds how well any predictor can rank by a single seed's accuracy.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import numpy as np

from agentnas.value.labelled import CollectSettings, LabelledArch
from agentnas.value.metrics import kendall_tau


def _noise(rows: list[LabelledArch], task: str, seeds: tuple[int, ...], metric: str) -> dict[str, Any]:
    table = []
    for row in rows:
        entry = row.tasks.get(task)
        runs = [entry.run(s) for s in seeds] if entry is not None else []
        values = [getattr(r, metric) for r in runs if r is not None and r.status == "ok"]
        if len(values) == len(seeds):
            table.append(values)
    if len(seeds) < 2 or not table:
        return {"architectures": len(table)}
    acc = 100.0 * np.asarray(table, np.float64)  # (archs, seeds), in points
    std = acc.std(axis=1, ddof=1)
    out: dict[str, Any] = {"architectures": len(table), "std_mean": round(float(std.mean()), 3),
                           "std_median": round(float(np.median(std)), 3),
                           "std_max": round(float(std.max()), 3)}
    if len(table) >= 3:
        taus = [kendall_tau(acc[:, a], acc[:, b]) for a, b in itertools.combinations(range(len(seeds)), 2)]
        out["seed_to_seed_tau"] = round(float(np.mean(taus)), 4)
    return out


def summarize(rows: list[LabelledArch], settings: CollectSettings) -> dict[str, Any]:
    seeds = settings.all_seeds()
    per_task: dict[str, Any] = {}
    arch_seconds: dict[int, float] = {}
    for task in settings.tasks:
        runs = [(row, r) for row in rows if task in row.tasks for r in row.tasks[task].runs]
        ok = [r for _, r in runs if r.status == "ok"]
        first = [r for _, r in runs if r.seed == 0]
        for row, r in runs:
            if r.seed == 0:
                arch_seconds[row.index] = arch_seconds.get(row.index, 0.0) + r.wall_seconds
        failures = Counter(r.failure or "unknown" for _, r in runs if r.status != "ok")
        test = [100.0 * r.test for r in ok if r.seed == 0 and r.test is not None]
        per_task[task] = {
            "evaluations": len(runs), "ok": len(ok), "failed": dict(sorted(failures.items())),
            "seconds_per_evaluation": round(float(np.mean([r.wall_seconds for r in first])), 2) if first else None,
            "test_accuracy": ({"min": round(min(test), 2), "median": round(float(np.median(test)), 2),
                               "max": round(max(test), 2)} if test else None),
            "label_noise": {"val": _noise(rows, task, seeds, "val"), "test": _noise(rows, task, seeds, "test")},
        }
    complete = sum(1 for row in rows if all(t in row.tasks and row.tasks[t].run(0) is not None
                                            for t in settings.tasks))
    return {
        "architectures": len(rows), "complete": complete,
        "families": dict(sorted(Counter(row.family for row in rows).items())),
        "tags": dict(sorted(Counter(t for row in rows for t in row.tags).items())),
        "seconds_per_architecture": (round(float(np.mean(list(arch_seconds.values()))), 2)
                                     if arch_seconds else None),
        "tasks": per_task,
    }
