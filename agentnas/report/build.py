"""`agentnas report DIR`: read a run's journal, write the HTML page and its PNGs.

The page goes to `DIR/report/index.html` unless told otherwise; each picture is written as
a PNG beside it and embedded in it, so the HTML alone is the whole report. Files are
written to a temporary name and renamed, so a reader never sees half a page.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentnas.report.baseline import best_so_far, improvements, random_baseline
from agentnas.report.cost import CostSection
from agentnas.report.data import RunData, load_run
from agentnas.report.front import FrontSection
from agentnas.report.leaderboard import LeaderboardSection, ranked
from agentnas.report.page import render_page
from agentnas.report.plots import accuracy_params_png, best_so_far_png, front_png
from agentnas.report.sections import CurvesSection, SummarySection, TreeSection
from agentnas.report.view import Front, Picture, ReportView, Section
from agentnas.tasks.base import Baseline as Published

DEFAULT_TOP = 25
SECTIONS: tuple[Section, ...] = (SummarySection(), CurvesSection(), TreeSection(), LeaderboardSection(),
                                 FrontSection(), CostSection())


class ReportResult(BaseModel):
    """What `--json` prints: where the files are, and the headline numbers."""

    html: str
    pngs: list[str]
    experiments: int
    nodes: int
    hypotheses: int
    trained: int
    best: dict[str, Any] | None
    baseline: dict[str, Any]
    improvement: list[dict[str, Any]]


def published_for(task: str) -> tuple[tuple[Published, ...], str]:
    """The task's published test results, or none and why (an .npz task, a task not installed)."""
    from agentnas.tasks import TaskError, get_task

    if task.lower().endswith(".npz"):  # a user's data file: no published results, and no need to open it
        return (), f"No published results for a user's data file ({task})."
    try:
        found = tuple(get_task(task).spec.baselines)
    except (TaskError, OSError, ValueError) as e:
        return (), f"No published results shown: task {task!r} could not be loaded ({e})."
    return found, "" if found else f"No published results are recorded for task {task!r}."


def make_view(data: RunData, top: int = DEFAULT_TOP) -> ReportView:
    metric = data.tree.metric
    curve = best_so_far(data.evaluations, metric)
    baseline = random_baseline(data.evaluations, metric)
    published, note = published_for(data.task)
    board = ranked(data.tree)
    best = data.best()
    pictures = {
        "best_so_far": Picture("best_so_far.png", best_so_far_png(data.evaluations, curve, baseline, published,
                                                                  metric),
                               f"best-so-far validation and test {metric.name} against evaluations, with the "
                               "random-search baseline"),
        "accuracy_params": Picture("accuracy_params.png",
                                   accuracy_params_png(data.evaluations, best.id if best else None, metric),
                                   f"validation {metric.name} against parameter count"),
    }
    front = run_front(data)
    if front is not None:
        names, models, members = front
        cost = names[1]
        pictures["front"] = Picture("front.png", front_png(
            [(m.values[cost], m.values[names[0]]) for m in models if all(n in m.values for n in names[:2])],
            [(m.values[cost], m.values[names[0]]) for m in members], names[0], cost, published=published),
            f"{names[0]} against {cost}: the trained models and their Pareto front")
    return ReportView(data=data, curve=curve, baseline=baseline, improvements=improvements(curve, baseline, metric),
                      published=published, published_note=note, pictures=pictures, board=board[:top],
                      trained_total=len(board), front=front)


def run_front(data: RunData) -> Front | None:
    """(objectives, trained models, front) over the run's score and first cost objective (the
    run's own, else latency where measured, else MACs); None when no model has both figures."""
    from agentnas.run.front import default_objectives, front_of

    names = default_objectives(data.tree, data.config)
    if len(names) < 2:
        return None
    names = (names[0], names[1])
    models, members, _ = front_of(data.tree, names)
    return (names, models, members) if members else None


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # plain open(): the user's umask applies
    try:
        tmp.write_bytes(content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def build_report(run_dir: Path, out: Path | None = None, top: int = DEFAULT_TOP) -> ReportResult:
    """Write the report of the run in `run_dir` to `out` (an .html path, or an existing folder to hold
    index.html; default `run_dir/report/index.html`) with the PNGs beside it (named after the page
    unless it is index.html). ReportError when
    `run_dir` is not a run directory or its run is empty; OSError when the files cannot be written."""
    data = load_run(Path(run_dir))
    html_path = Path(out) if out is not None else Path(run_dir) / "report" / "index.html"
    if html_path.is_dir():  # `--out SOMEDIR`: the page is SOMEDIR/index.html
        html_path = html_path / "index.html"
    view = make_view(data, top)
    if html_path.stem != "index":  # `--out results/run7.html`: run7-best_so_far.png, never another page's PNGs
        view = replace(view, pictures={k: replace(p, name=f"{html_path.stem}-{p.name}")
                                       for k, p in view.pictures.items()})
    pngs = []
    for pic in view.pictures.values():
        target = html_path.parent / pic.name
        _write(target, pic.png)
        pngs.append(str(target))
    _write(html_path, render_page(view, SECTIONS).encode("utf-8"))
    best = data.best()
    b = view.baseline
    return ReportResult(
        html=str(html_path), pngs=pngs, experiments=len(data.evaluations), nodes=len(data.tree.nodes),
        hypotheses=len(data.tree.hypotheses), trained=view.trained_total,
        best=None if best is None else {"id": best.id, "metric": data.tree.metric.name, "val_score": best.val_score,
                                        "test_score": best.test_score, "val_accuracy": best.val_accuracy,
                                        "test_accuracy": best.test_accuracy, "params": best.params},
        baseline={"available": b.available, "population": b.population, "failed_random": b.failed_random,
                  "reason": b.reason, "expected_best_val": list(b.val), "expected_best_test": list(b.test)},
        improvement=[{"n": i.n, "baseline_n": i.baseline_n, "run_val": i.run_val, "baseline_val": i.baseline_val,
                      "val": i.val, "run_test": i.run_test, "baseline_test": i.baseline_test, "test": i.test}
                     for i in view.improvements])
