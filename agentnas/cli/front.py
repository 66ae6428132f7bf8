"""`agentnas runs front` and `agentnas runs pick`: a run's trade-offs and the model a
user's constraints pick, read from its journal (read-only; safe on a live run)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from agentnas.cli.apps import runs_app
from agentnas.cli.options import JsonOpt, err, fail, out
from agentnas.journal.tree import RunTree
from agentnas.run.front import figure_text

RunDirArg = Annotated[Path, typer.Argument(help="A run directory (holding journal.sqlite).")]


def _load(run_dir: Path) -> tuple[RunTree, dict[str, Any]]:
    from agentnas.journal import JournalError, open_journal
    from agentnas.run.settings import effective_config

    try:
        with open_journal(run_dir, read_only=True) as journal:
            return RunTree.from_journal(journal), effective_config(journal) or {}
    except JournalError as e:
        fail(f"{run_dir}: {e}")


def front_table(names: tuple[str, ...], front: list[Any], measured: int) -> Table:
    table = Table(title=f"Pareto front · {' vs '.join(names)} · {len(front)} of {measured} trained models "
                        f"with every figure measured")
    for col in ("id", *names, "test score"):
        table.add_column(col, justify="left" if col == "id" else "right")
    for m in front:
        table.add_row(m.node.id, *(figure_text(n, m.values.get(n)) for n in names),
                      figure_text("score", m.node.test_score))
    return table


@runs_app.command("front")
def runs_front(
    run_dir: RunDirArg,
    objectives: Annotated[str | None, typer.Option(
        help="Comma-separated objectives, each in its direction (default: the run's; else its score and "
             "latency_ms where measured, else macs).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The Pareto front of a run's fully trained models: those no other model beats on every
    objective at once (validation score against latency, MACs, parameters, size or memory)."""
    from agentnas.records import parse_objectives
    from agentnas.run.front import FrontError, default_objectives, front_of

    tree, config = _load(run_dir)
    try:
        names = parse_objectives(objectives) if objectives else default_objectives(tree, config)
        models, front, measured = front_of(tree, names)
    except (ValueError, FrontError) as e:
        fail(f"--objectives: {e}")
    if json_out:
        sys.stdout.write(json.dumps({"objectives": list(names), "trained": len(models), "measured": measured,
                                     "front": [m.doc(run_dir) for m in front]}, indent=2) + "\n")
        return
    out.print(front_table(names, front, measured))
    if measured < len(models):
        err.print(f"{len(models) - measured} trained model(s) lack a figure of {', '.join(names)} and are left out",
                  highlight=False)


@runs_app.command("pick")
def runs_pick(
    run_dir: RunDirArg,
    max_latency_ms: Annotated[float | None, typer.Option(help="Batch-1 latency at most this (median, ms).")] = None,
    max_params: Annotated[int | None, typer.Option(help="At most this many parameters.")] = None,
    max_macs: Annotated[int | None, typer.Option(help="At most this many multiply-adds.")] = None,
    max_size_mb: Annotated[float | None, typer.Option(help="Exported ONNX file at most this large (MB).")] = None,
    by: Annotated[str | None, typer.Option(
        help="The objective to be best at within the limits (default: the task's validation score).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The best fully trained model of a run whose measured costs keep every limit given, e.g.
    `runs pick RUN --max-latency-ms 3`. Exit 1 when no model fits (the message says how close
    the nearest came)."""
    from pydantic import ValidationError

    from agentnas.records import OBJECTIVES, CostLimits
    from agentnas.run.front import pick, score_objective, trained

    tree, _ = _load(run_dir)
    try:
        limits = CostLimits(max_latency_ms=max_latency_ms, max_params=max_params, max_macs=max_macs,
                            max_size_mb=max_size_mb)
    except ValidationError as e:
        fail(f"limits must be positive numbers: {e.errors()[0]['loc'][0]}")
    by = by or score_objective(tree)
    if by not in OBJECTIVES:
        fail(f"--by {by!r}: expected one of {', '.join(OBJECTIVES)}")
    names = tuple(OBJECTIVES)
    models = trained(tree, names)
    chosen = pick(models, limits, by)
    if chosen is None:
        fastest = min((m for m in models if m.costs is not None and m.costs.latency_ms is not None),
                      key=lambda m: m.costs.latency_ms or 0.0, default=None)  # type: ignore[union-attr]
        hint = f"; the fastest measured is {fastest.node.id} at {fastest.values['latency_ms']:.3g} ms" \
            if fastest is not None and max_latency_ms is not None else ""
        if json_out:
            sys.stdout.write(json.dumps({"picked": None, "trained": len(models)}) + "\n")
        fail(f"no fully trained model of {len(models)} keeps every limit given{hint}", code=1)
    doc = chosen.doc(run_dir)
    if json_out:
        sys.stdout.write(json.dumps({"picked": doc, "trained": len(models)}, indent=2) + "\n")
        return
    figures = " · ".join(f"{n} {figure_text(n, v)}" for n, v in chosen.values.items())
    out.print(f"{chosen.node.id}: {figures}", highlight=False)
    out.print(f"model: {doc['path']}", highlight=False)
