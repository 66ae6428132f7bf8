"""`agentnas bench latency-table`: the measured costs a tabular search for a front reads."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from agentnas.cli.apps import bench_app
from agentnas.cli.options import ConfigOpt, JsonOpt, config_or_exit, err, fail, out


@bench_app.command("latency-table")
def bench_latency_table(
    dataset: Annotated[str, typer.Option(help="NB201 data set: cifar10, cifar100 or imagenet16 (input shape and "
                                              "classes of the networks).")] = "cifar10",
    workers: Annotated[int, typer.Option(min=1, help="Processes building and exporting networks while this one "
                                                     "times them, one at a time (keep it below the core count).")] = 1,
    limit: Annotated[int | None, typer.Option(min=1, help="Measure at most this many networks now.")] = None,
    remeasure: Annotated[float | None, typer.Option(
        min=0.0, help="Also time again the rows whose spread (interquartile range / median) is above this, "
                      "e.g. 0.5 for rows measured while the machine was busy; the new row replaces the old.")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Measure the batch-1 latency of every NAS-Bench-201 network on this machine (ONNX Runtime
    on CPU, one thread, the [costs] warm-up and repeats) into the cache, for `bench search
    --objectives val_accuracy,latency_ms`. Resumable: it measures only what is missing; hours
    for the 10,405 networks of a data set. Progress on stderr."""
    from agentnas.bench.latency_table import LatencyTableError, build_table

    cfg = config_or_exit(config)
    try:
        report = build_table(dataset, cfg.cache_dir, cfg.costs, workers=workers, limit=limit, remeasure=remeasure,
                             log=lambda m: err.print(m, soft_wrap=True, highlight=False))
    except LatencyTableError as e:
        fail(str(e))
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    out.print(f"nb201-{dataset}: {report['measured']} of {report['networks']} networks measured on "
              f"{report['machine']}" + ("" if report["complete"] else " (run again to measure the rest)")
              + f"; table {report['file']}"
              + (f"; {report['noisy']} rows still spread above {remeasure:g}" if remeasure is not None else ""),
              highlight=False)
