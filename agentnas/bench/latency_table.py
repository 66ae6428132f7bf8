"""`agentnas bench latency-table`: the batch-1 latency of every NAS-Bench-201 network on THIS
machine, measured once and cached, so a tabular search can trade accuracy against latency
(`agentnas bench search --objectives val_accuracy,latency_ms`).

How it is made (docs/fronts.md):
- the 15,625 cells build 10,405 distinct networks (agentnas.space.nb201.nb201_computed: edges
  that cannot change the output are left out); each is built from agentnas's own generated
  source for the data set's input shape and classes, exported to ONNX as the sandbox exports
  candidates, and timed through ONNX Runtime on CPU with one thread, sequential execution,
  `[costs]` warmup untimed runs then the median of `[costs]` repeats (at most `max_seconds`);
- the networks are agentnas's own code, not a candidate's, so they are built and exported in
  worker processes forked from this one (no sandbox; `--workers` of them) while this process
  times them one at a time: no two timings ever run at once, and exporting (most of the
  time a network takes) overlaps timing. The exporters load the machine's other cores: with
  more workers than cores less one, the timing shares its core;
- rows are appended to `CACHE/latency/nb201-DATASET.jsonl` as they are measured (resumable:
  running the command again measures only what is missing; `--remeasure SPREAD` also times
  again the rows whose IQR / median is above SPREAD, the later row winning), each with the machine's name,
  the load average and the settings, so a table from another machine is never taken for
  this one's.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentnas.config import CostsConfig

Log = Callable[[str], Any]
SHAPES = {"cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100), "imagenet16": ((3, 16, 16), 120)}


class LatencyTableError(ValueError):
    """A table that cannot be made or read (the message says why and what to run)."""


def table_file(cache_dir: Path, dataset: str) -> Path:
    if dataset not in SHAPES:
        raise LatencyTableError(f"no NB201 data set {dataset!r}; expected one of {', '.join(SHAPES)}")
    return Path(cache_dir) / "latency" / f"nb201-{dataset}.jsonl"


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus"


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    """network -> its row, for this machine only; a torn last line is skipped."""
    rows: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return rows
    here = machine()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("machine") == here and isinstance(row.get("median_ms"), float):
            rows[str(row["network"])] = row
    return rows


def _export(job: tuple[str, str]) -> tuple[str, bytes]:
    """(network, its ONNX bytes): built from agentnas's generated source and exported as the
    sandbox exports candidates. Runs in an exporting worker."""
    network, dataset = job
    import torch

    from agentnas.space.nb201 import nb201_source

    shape, classes = SHAPES[dataset]
    namespace: dict[str, Any] = {}
    exec(compile(nb201_source(network), "<nb201>", "exec"), namespace)  # noqa: S102 - our own generated code
    model = namespace["build_model"](shape, classes).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, *shape),), buf, dynamo=False,  # type: ignore[arg-type]
                          external_data=False)
    return network, buf.getvalue()


def _time(network: str, graph: bytes, dataset: str, config: CostsConfig) -> dict[str, Any]:
    """The row of one exported network: timed here, one thread, sequential execution."""
    import numpy as np
    import onnxruntime as ort

    shape, _ = SHAPES[dataset]
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros((1, *shape), np.float32)}
    for _ in range(config.warmup):
        session.run(None, feed)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < config.repeats and (not times or time.perf_counter() - start < config.max_seconds):
        t = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"network": network, "median_ms": float(statistics.median(times)), "q1_ms": float(q[0]),
            "q3_ms": float(q[2]), "runs": len(times), "warmup": config.warmup, "threads": 1, "machine": machine(),
            "load": os.getloadavg()[0], "at": time.time()}


def networks(dataset: str) -> dict[str, str]:
    """cell -> the network it computes, for every cell of the space."""
    from agentnas.space.nb201 import nb201_computed
    from agentnas.tasks import get_task
    from agentnas.tasks.tabular import TabularTask

    task = get_task(f"nb201-{dataset}")
    assert isinstance(task, TabularTask)
    return {k: nb201_computed(k) for k in task.architectures()}


def spread(row: dict[str, Any]) -> float:
    """A row's interquartile range over its median: how much its runs disagreed (a timing that shared
    the machine with other work spreads wide)."""
    q1, q3, median = row.get("q1_ms"), row.get("q3_ms"), float(row["median_ms"])
    if not isinstance(q1, float) or not isinstance(q3, float) or median <= 0:
        return 0.0
    return (q3 - q1) / median


def build_table(dataset: str, cache_dir: Path, config: CostsConfig | None = None, workers: int = 1,
                limit: int | None = None, log: Log | None = None, every: float = 30.0,
                remeasure: float | None = None) -> dict[str, Any]:
    """Measure the networks of `dataset` not in the table yet (at most `limit` this call); with
    `remeasure`, also those whose row spread (IQR / median) is above it, widest first. A row measured again is
    appended: the later row of a network is the one read."""
    config = config or CostsConfig()
    path = table_file(cache_dir, dataset)
    cells = networks(dataset)
    distinct = sorted(set(cells.values()))
    done = _rows(path)
    noisy = {n for n, row in done.items() if remeasure is not None and spread(row) > remeasure}
    # asked-for first, the widest spread first: a call cut by `limit` re-times the worst rows
    again = sorted(noisy, key=lambda n: (-spread(done[n]), n))
    todo = (again + [n for n in distinct if n not in done])[:limit]
    say = log or (lambda _m: None)
    redo = f" ({len(noisy)} again: spread above {remeasure:g})" if remeasure is not None else ""
    say(f"nb201-{dataset}: {len(done)} of {len(distinct)} networks measured on this machine; measuring {len(todo)}"
        f"{redo} with {workers} worker(s), {config.warmup} warm-up + median of {config.repeats} runs each")
    path.parent.mkdir(parents=True, exist_ok=True)
    from agentnas.value.spaces import forked_map

    jobs = [(n, dataset) for n in todo]
    t0 = last = time.monotonic()
    measured = 0
    torn = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with path.open("a", encoding="utf-8") as out:
        if torn:  # a run killed mid-line: the next row starts on a line of its own
            out.write("\n")
        for network, graph in forked_map(_export, jobs, workers, fork_one=True):
            row = _time(network, graph, dataset, config)
            out.write(json.dumps(row) + "\n")
            out.flush()
            measured += 1
            if time.monotonic() - last >= every or measured == len(jobs):
                last = time.monotonic()
                rate = measured / max(last - t0, 1e-9)
                say(f"nb201-{dataset}: {measured}/{len(jobs)} measured ({rate:.2f}/s, "
                    f"{(len(jobs) - measured) / rate / 60 if rate else 0:.0f} min left)")
    rows = _rows(path)
    return {"dataset": dataset, "file": str(path), "networks": len(distinct), "measured": len(rows),
            "complete": len(rows) == len(distinct), "this_call": measured, "machine": machine(),
            "noisy": sum(spread(r) > remeasure for r in rows.values()) if remeasure is not None else None}


def load_table(dataset: str, cache_dir: Path) -> dict[str, float]:
    """cell -> its network's median batch-1 latency (ms), from this machine's complete table."""
    cells = networks(dataset)
    rows = _rows(table_file(cache_dir, dataset))
    missing = {n for n in cells.values() if n not in rows}
    if missing:
        raise LatencyTableError(
            f"the latency table of nb201-{dataset} on this machine lacks {len(missing)} of "
            f"{len(set(cells.values()))} networks; run `agentnas bench latency-table --dataset {dataset}` "
            "(resumable) first")
    return {k: float(rows[n]["median_ms"]) for k, n in cells.items()}
