"""`agentnas bench executor`: evaluation throughput of the local executor and of Ray.

One run measures, on the same task, recipe and batch of candidates:
- `local` at 1 and 2 slots (the default executor: sandboxed zygotes in this process's pool);
- `ray` at 1 and 2 workers: one Ray task per evaluation on a private Ray instance started in
  this process (as many CPUs as the most workers asked for), at most that many evaluations in
  flight, each Ray worker running the same sandbox.
Every configuration is opened first (Ray's start-up is timed: `open_seconds`) and warmed with
one evaluation per worker, so every sandbox has started (`warm_seconds`). Then the batch is
timed `rounds` times per configuration, the configurations interleaved and their order rotated
each round, so that a machine shared with other work slows them all alike; the median counts:
evaluations per hour, and the ratio to the local executor with one slot and with as many slots.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from agentnas.config import AgentnasConfig
from agentnas.evaluator import EvalOptions, Executor, open_executor
from agentnas.evaluator.ray_executor import RayExecutor
from agentnas.paths import shipped_dir
from agentnas.tasks import get_task

Log = Callable[[str], Any] | None
DEFAULT_CANDIDATE = {"mnist1d": "mnist1d_cnn.py", "digits": "digits_cnn.py"}


def _timed(executor: Executor, batch: Sequence[Path]) -> float:
    t0 = time.perf_counter()
    results = executor.evaluate(batch)
    elapsed = time.perf_counter() - t0
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"the benchmark candidate failed under {executor.name}: {failed[0].failure}")
    return elapsed


def run_executor_bench(cfg: AgentnasConfig, *, task: str = "mnist1d", epochs: int = 5, n: int = 8,
                       workers: Sequence[int] = (1, 2), executors: Sequence[str] = ("local", "ray"), rounds: int = 3,
                       candidate: Path | None = None, log: Log = None) -> dict[str, Any]:
    say = log or (lambda _m: None)
    candidate = candidate or shipped_dir("examples") / DEFAULT_CANDIDATE.get(task, "mnist1d_cnn.py")
    batch = [candidate] * n
    the_task = get_task(task)
    configs = [(kind, w) for kind in executors for w in workers]
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    with ExitStack() as stack:
        opened: dict[tuple[str, int], Executor] = {}
        for kind, w in configs:
            options = EvalOptions(epochs=epochs, slots=w, device="cpu", isolation=cfg.isolation,
                                  allow_unsafe=cfg.unsafe_no_isolation, timeout_s=cfg.timeout_s,
                                  memory_limit_gb=cfg.memory_limit_gb)
            # One Ray instance serves every Ray configuration (one per process): sized for the
            # most workers, each configuration capped at its own number in flight.
            extra: dict[str, Any] = {"num_cpus": max(workers), "max_in_flight": w} if kind == "ray" else {}
            say(f"opening {kind} with {w} {'slot' if kind == 'local' else 'worker'}{'s' if w > 1 else ''}")
            t0 = time.perf_counter()
            opened[(kind, w)] = stack.enter_context(open_executor(kind, the_task, options,
                                                                  cache_dir=cfg.cache_dir, **extra))
            t1 = time.perf_counter()
            executor = opened[(kind, w)]
            if isinstance(executor, RayExecutor):
                # Whichever of the instance's workers takes this configuration's task must find
                # its sandbox started: warm them all, then cap the flight at `w` again.
                executor.max_in_flight = max(workers)
                warm = _timed(executor, batch[:1] * max(workers))
                executor.max_in_flight = w
            else:
                warm = _timed(executor, batch[:1] * w)
            rows[(kind, w)] = {"executor": kind, "workers": w, "open_seconds": t1 - t0, "warm_seconds": warm,
                               "batch_seconds_all": []}
        for r in range(rounds):
            order = configs[r % len(configs):] + configs[:r % len(configs)]
            say(f"round {r + 1}/{rounds}: {n} evaluations of {candidate.name} ({task}, {epochs} epochs) under "
                + ", ".join(f"{k} {w}" for k, w in order))
            for key in order:
                rows[key]["batch_seconds_all"].append(_timed(opened[key], batch))
    for row in rows.values():
        row["batch_seconds"] = statistics.median(row["batch_seconds_all"])
        row["evals_per_hour"] = n / row["batch_seconds"] * 3600
        row["seconds_per_eval"] = row["batch_seconds"] / n
    base = rows.get(("local", 1))
    for (_, w), row in rows.items():
        same = rows.get(("local", w))
        row["vs_local_1"] = row["evals_per_hour"] / base["evals_per_hour"] if base else None
        row["vs_local_same"] = row["evals_per_hour"] / same["evals_per_hour"] if same else None
    return {"task": task, "candidate": candidate.name, "epochs": epochs, "n": n, "rounds": rounds,
            "isolation": cfg.isolation, "rows": list(rows.values())}
