"""`agentnas bench sandbox`: what isolation costs.

Three measurements in one run, on the same task, recipe and candidate:
1. bare: build + train + predict in a fresh process with no isolation (torch already
   imported and warmed up, one thread);
2. sandboxed, one slot, sequentially: the same work through the full isolation path,
   timed on the trusted side around each evaluation (fork, limits, seccomp, ONNX export,
   scoring included);
3. throughput: the default number of slots in parallel -> evaluations per hour.
Sandbox start-up (importing torch once per slot) is reported apart: it is paid once per
run, not per evaluation.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentnas.config import AgentnasConfig
from agentnas.evaluator import EvalOptions, Evaluator
from agentnas.paths import load_module, shipped_dir
from agentnas.tasks import get_task


def bare_seconds(candidate: Path, task_name: str, cache_dir: Path, epochs: int, n: int) -> list[float]:
    """Seconds per build+train+predict, in-process, one thread, after one warm-up run."""
    import torch

    trainer = load_module(shipped_dir("sandbox") / "train.py", "agentnas_bench_train")
    task = get_task(task_name)
    data = task.load(cache_dir)
    recipe = task.spec.recipe.with_epochs(epochs).model_dump()
    torch.set_num_threads(1)
    times = []
    for i in range(n + 1):
        t0 = time.perf_counter()
        torch.manual_seed(recipe["seed"])
        module = load_module(candidate, "agentnas_bench_candidate")
        model = module.build_model(task.spec.input_shape, task.spec.num_classes)
        trainer.train(model, data.x_train, data.y_train, recipe)
        trainer.predict(model, data.x_val)
        trainer.predict(model, data.x_test)
        if i > 0:
            times.append(time.perf_counter() - t0)
    return times


def _bare_in_fresh_process(candidate: Path, cache_dir: Path, epochs: int, n: int) -> list[float]:
    """The bare loop in a new interpreter (like a zygote: torch imported, warmed up, nothing
    else loaded), so neither side carries the other's process state."""
    code = ("import json, sys; from pathlib import Path; from agentnas.bench.sandbox import bare_seconds; "
            "print(json.dumps(bare_seconds(Path(sys.argv[1]), 'mnist1d', Path(sys.argv[2]), "
            "int(sys.argv[3]), int(sys.argv[4]))))")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code, str(candidate), str(cache_dir), str(epochs), str(n)],
                         check=True, capture_output=True, text=True, env=env).stdout
    times: list[float] = json.loads(out.strip().splitlines()[-1])
    return times


def run_sandbox_bench(cfg: AgentnasConfig, epochs: int = 20, n: int = 8, candidate: Path | None = None,
                      log: Callable[[str], Any] | None = None) -> dict[str, Any]:
    say = log or (lambda _msg: None)
    candidate = candidate or shipped_dir("examples") / "mnist1d_cnn.py"
    task = get_task("mnist1d")
    say(f"bare: {n} runs of {candidate.name} ({epochs} epochs) in a fresh process, no isolation")
    bare = _bare_in_fresh_process(candidate, cfg.cache_dir, epochs, n)

    def options(slots: int) -> EvalOptions:
        return EvalOptions(epochs=epochs, slots=slots, isolation=cfg.isolation, device="cpu",
                           timeout_s=cfg.timeout_s, memory_limit_gb=cfg.memory_limit_gb)

    say(f"sandboxed: {n} sequential evaluations in one slot")
    with Evaluator(task, options(1), cache_dir=cfg.cache_dir) as ev:
        t0 = time.perf_counter()
        ev.warm_up()
        startup = time.perf_counter() - t0
        sandboxed = []
        for _ in range(n):
            t0 = time.perf_counter()
            result = ev.evaluate_one(candidate)
            sandboxed.append(time.perf_counter() - t0)
            if not result.ok:
                raise RuntimeError(f"benchmark candidate failed: {result.failure}")
        isolation = ev.isolation.name
    say(f"throughput: {n * cfg.slots} evaluations in {cfg.slots} parallel slots")
    with Evaluator(task, options(cfg.slots), cache_dir=cfg.cache_dir) as ev:
        ev.warm_up()
        t0 = time.perf_counter()
        results = ev.evaluate([candidate] * (n * cfg.slots))
        elapsed = time.perf_counter() - t0
    failed = [r for r in results if not r.ok]
    bare_mean, sandboxed_mean = statistics.mean(bare), statistics.mean(sandboxed)
    return {
        "evals_per_hour": len(results) / elapsed * 3600,
        "sandboxed_seconds_per_eval": sandboxed_mean,
        "bare_seconds_per_eval": bare_mean,
        "overhead": sandboxed_mean / bare_mean - 1,
        "sandboxed_seconds_stdev": statistics.stdev(sandboxed) if n > 1 else 0.0,
        "bare_seconds_stdev": statistics.stdev(bare) if n > 1 else 0.0,
        "parallel_seconds_per_eval": elapsed * cfg.slots / len(results),
        "startup_seconds_per_slot": startup,
        "failed": len(failed),
        "slots": cfg.slots, "epochs": epochs, "n": n, "isolation": isolation,
        "candidate": candidate.name, "task": "mnist1d",
    }
