"""The report's pictures, drawn with matplotlib's Agg canvas into PNG bytes.

`Figure` + `FigureCanvasAgg` directly, never pyplot: no global figure state and no backend
selection, so the report works headless and inside other programs that use matplotlib.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from agentnas.records import ACCURACY, Metric
from agentnas.report.baseline import Baseline, Curve
from agentnas.report.data import Evaluation
from agentnas.tasks.base import Baseline as Published

RUN_COLOUR = "#1f5fa8"
RANDOM_COLOUR = "#d9731a"
FAIL_COLOUR = "#c62828"
NO_RESULTS = "no results yet"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # no date in the metadata: the same journal gives the same bytes
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def best_so_far_png(evaluations: Sequence[Evaluation], curve: Curve, baseline: Baseline,
                    published: Sequence[Published], metric: Metric = ACCURACY) -> bytes:
    """Two panels, validation and test: the run's best-so-far, random search's expected
    best-so-far, each evaluation as a dot (failures as red crosses), published test results."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    xs = list(range(1, len(evaluations) + 1))
    for ax, split in zip(axes, ("validation", "test"), strict=True):
        ax.set_title(f"best-so-far {split} {metric.name}")
        ax.set_xlabel("evaluation")
        ax.set_ylabel(f"{split} {metric.name}")
        ax.grid(alpha=0.3)
        if not any(v is not None for v in curve.val):
            ax.text(0.5, 0.5, NO_RESULTS, ha="center", va="center", transform=ax.transAxes, fontsize=14,
                    color="#666666")
            ax.set_xlim(0, max(len(xs), 1) + 1)
            if metric.name == "accuracy":
                ax.set_ylim(0, 1)
            continue
        ys = curve.val if split == "validation" else curve.test
        points = [(x, e.score if split == "validation" else e.test)
                  for x, e in zip(xs, evaluations, strict=True) if e.full_ok]
        lows = [(x, e.score) for x, e in zip(xs, evaluations, strict=True)
                if split == "validation" and e.status == "ok" and e.fidelity != "full"]
        fails = [x for x, e in zip(xs, evaluations, strict=True) if e.status != "ok"]
        if points:
            ax.scatter([p[0] for p in points], [p[1] for p in points], s=14, color="#9e9e9e", zorder=2,
                       label="each evaluation")
        if lows:
            ax.scatter([p[0] for p in lows], [p[1] for p in lows], s=14, facecolors="none", edgecolors="#9e9e9e",
                       zorder=2, label="short run (low fidelity)")
        if fails:  # at the bottom edge, whatever the y range
            ax.plot(fails, [0.02] * len(fails), "x", color=FAIL_COLOUR, transform=ax.get_xaxis_transform(),
                    label="failed evaluation")
        ax.step(xs, [float("nan") if y is None else y for y in ys], where="post", color=RUN_COLOUR, lw=2.2,
                label="this run", zorder=3)
        if baseline.available:
            bys = baseline.val if split == "validation" else baseline.test
            n = min(len(bys), len(xs))
            ax.plot(range(1, n + 1), bys[:n], "--", color=RANDOM_COLOUR, lw=1.8, zorder=3,
                    label=f"random search (expected, {baseline.population} random draws)")
        if split == "test" and metric.name == "accuracy":  # published results are test accuracies
            for b in published:
                ax.axhline(b.test_accuracy, color="#555555", lw=0.9, ls=":", zorder=1)
                # labels on the left: the legend sits bottom right
                ax.annotate(f"{b.name} {b.test_accuracy:.0%}", (0.0, b.test_accuracy),
                            xycoords=("axes fraction", "data"), xytext=(4, 2), textcoords="offset points",
                            ha="left", va="bottom", fontsize=8, color="#555555")
        ax.set_xlim(0.5, len(xs) + 0.5)
    handles: dict[str, Any] = {}
    for ax in axes:  # one legend under both panels: it never hides a point
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=min(len(handles), 5),
                   fontsize=8, frameon=False)
    return _png(fig)


def accuracy_params_png(evaluations: Sequence[Evaluation], best_node: str | None,
                        metric: Metric = ACCURACY) -> bytes:
    """The validation score (accuracy, or a token task's loss) against parameter count (log
    scale), one dot per full evaluation."""
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.set_title(f"validation {metric.name} vs parameters")
    ax.set_xlabel("parameters")
    ax.set_ylabel(f"validation {metric.name}")
    ax.grid(alpha=0.3)
    done = [e for e in evaluations if e.full_ok and e.params]
    if not done:
        ax.text(0.5, 0.5, NO_RESULTS, ha="center", va="center", transform=ax.transAxes, fontsize=14, color="#666666")
        return _png(fig)
    ax.set_xscale("log")
    groups: dict[str, list[Evaluation]] = {}
    for e in done:
        groups.setdefault(e.operator or "?", []).append(e)
    for op, group in sorted(groups.items()):
        ax.scatter([e.params or 1 for e in group], [e.score or 0.0 for e in group], s=22, label=op,
                   alpha=0.85)
    best = [e for e in done if e.node_id == best_node]
    if best:
        ax.scatter([best[0].params or 1], [best[0].score or 0.0], s=160, facecolors="none", edgecolors="#d4a017",
                   linewidths=2, label=f"best ({best_node})")
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def front_png(points: Sequence[tuple[float, float]], front: Sequence[tuple[float, float]], score_name: str,
              cost_name: str, cost_log: bool = True, published: Sequence[Published] = ()) -> bytes:
    """Every trained model as a dot (score against a cost), the Pareto front as a staircase
    through its members, ringed; the task's published results as dotted lines at their test
    accuracy when the score is an accuracy (papers give no cost measured on this machine, so
    a line, not a point: a model above it beats that result at any cost)."""
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.set_title(f"{score_name} vs {cost_name}: trained models and the Pareto front")
    ax.set_xlabel(cost_name)
    ax.set_ylabel(score_name)
    ax.grid(alpha=0.3)
    if not points:
        ax.text(0.5, 0.5, NO_RESULTS, ha="center", va="center", transform=ax.transAxes, fontsize=14, color="#666666")
        return _png(fig)
    if cost_log and min(c for c, _ in points) > 0:
        ax.set_xscale("log")
    ax.scatter([c for c, _ in points], [s for _, s in points], s=18, color="#8a8a8a", alpha=0.8, label="trained")
    ordered = sorted(front)
    ax.step([c for c, _ in ordered], [s for _, s in ordered], where="post", color=RUN_COLOUR, linewidth=1.5)
    ax.scatter([c for c, _ in ordered], [s for _, s in ordered], s=60, facecolors="none", edgecolors=RUN_COLOUR,
               linewidths=1.8, label="Pareto front")
    if score_name.endswith("accuracy"):
        low = min(s for _, s in points)
        for b in published:
            ax.axhline(b.test_accuracy, color="#555555", lw=0.9, ls=":", zorder=1)
            ax.annotate(f"{b.name} {b.test_accuracy:.0%} (published, test)", (0.0, b.test_accuracy),
                        xycoords=("axes fraction", "data"), xytext=(4, 2), textcoords="offset points",
                        ha="left", va="bottom", fontsize=8, color="#555555")
            low = min(low, b.test_accuracy)
        if published:  # every line in view, however far below the run's models
            top = max(s for _, s in points)
            ax.set_ylim(low - 0.03 * (top - low + 1e-9), top + 0.05 * (top - low + 1e-9))
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)
