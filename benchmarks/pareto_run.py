"""Issue 18's run target: a run that optimises accuracy against latency returns a front whose
fastest member within one point of the best accuracy is at least 2x faster than the best model
of the same run optimising accuracy alone, both measured the same way in one benchmark run.

Two `agentnas run`s of the same task, budget and seed, one with `--objectives
val_accuracy,latency_ms` (the search for the front, agentnas.search.run_front) and one
without, at the same time (each gets a sandbox slot; they share the machine equally). Then,
in this one process, every model of the front run's front and the accuracy run's best model
is exported again by the real sandbox check and its batch-1 latency measured `--times` times
with the same settings (fresh confined ONNX Runtime processes, interleaved model by model, so
load drifts hit all alike); the median of those medians is each model's figure. The run
directories are kept: running the same command again resumes both runs, then measures.

    .venv/bin/python benchmarks/pareto_run.py --minutes 60 --out /work/runs/pareto-1h
    .venv/bin/python benchmarks/pareto_run.py --minutes 5 --out /tmp/pareto-smoke --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentnas.config import CostsConfig  # noqa: E402
from agentnas.encode.costs import measure_costs  # noqa: E402
from agentnas.evaluator import EvalOptions, Evaluator, get_isolation  # noqa: E402
from agentnas.journal import open_journal  # noqa: E402
from agentnas.journal.tree import RunTree  # noqa: E402
from agentnas.paths import default_cache_dir  # noqa: E402
from agentnas.run.front import pareto_front, trained  # noqa: E402
from agentnas.tasks import get_task  # noqa: E402

AGENTNAS = str(Path(sys.executable).parent / "agentnas")
OBJECTIVES = ("val_accuracy", "latency_ms")


def start_runs(args: argparse.Namespace) -> dict[str, Path]:
    """Both runs at once; returns their directories when both have stopped."""
    dirs = {"accuracy": args.out / "accuracy", "front": args.out / "front"}
    common = ["run", "--task", args.task, "--budget-time", f"{args.minutes}m", "--seed", str(args.seed),
              "--proposer", "offline", "--slots", "1", "--memory", "none"]
    procs = {}
    for name, run_dir in dirs.items():
        extra = ["--objectives", ",".join(OBJECTIVES)] if name == "front" else []
        log = open(args.out / f"{name}.log", "a")  # noqa: SIM115 - closed when the process ends
        procs[name] = (subprocess.Popen([AGENTNAS, *common, *extra, "--run-dir", str(run_dir)], stdout=log,
                                        stderr=subprocess.STDOUT, cwd=args.out), log)
    for name, (proc, log) in procs.items():
        code = proc.wait()
        log.close()
        print(f"{name} run stopped with exit {code} (log {args.out / f'{name}.log'})", file=sys.stderr)
    return dirs


def _tree(run_dir: Path) -> RunTree:
    with open_journal(run_dir, read_only=True) as journal:
        return RunTree.from_journal(journal)


def measure(models: dict[str, Path], task: str, times: int, cache_dir: Path) -> dict[str, float]:
    """name -> median over `times` measurements of the batch-1 median latency (ms)."""
    config = CostsConfig(batch_sizes=(1,))
    isolation = get_isolation("auto")
    names = list(models)
    with tempfile.TemporaryDirectory(prefix="agentnas-pareto-bench-") as tmp:
        options = EvalOptions(check_only=True, require_export=True, slots=1, device="cpu", timeout_s=120.0)
        with Evaluator(get_task(task), options, cache_dir=cache_dir, out_dir=Path(tmp)) as evaluator:
            results = evaluator.evaluate([models[n] for n in names])
        graphs = {n: Path(r.onnx_path) for n, r in zip(names, results, strict=True) if r.onnx_path}
        for n, r in zip(names, results, strict=True):
            if not r.onnx_path:
                print(f"{n}: not exported ({r.failure or r.export_error})", file=sys.stderr)
        figures: dict[str, list[float]] = {n: [] for n in graphs}
        for _ in range(times):  # interleaved: a load spike hits every model alike
            for n, graph in graphs.items():
                costs = measure_costs(graph, config, isolation=isolation, latency=True)
                if costs.latency_ms is not None:
                    figures[n].append(costs.latency_ms)
                else:
                    print(f"{n}: latency not measured ({costs.latency_error})", file=sys.stderr)
    return {n: statistics.median(v) for n, v in figures.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="mnist1d")
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--times", type=int, default=5, help="latency measurements of each model")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--skip-runs", action="store_true", help="measure the runs already in --out")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    dirs = {"accuracy": args.out / "accuracy", "front": args.out / "front"} if args.skip_runs else start_runs(args)
    acc_tree, front_tree = _tree(dirs["accuracy"]), _tree(dirs["front"])
    best = acc_tree.best()
    if best is None:
        sys.exit("the accuracy run trained no model")
    members = pareto_front(trained(front_tree, OBJECTIVES), OBJECTIVES)
    if not members:
        sys.exit("the front run has no model with a measured latency")
    models = {"accuracy-best": dirs["accuracy"] / "candidates" / best.id / "model.py"}
    models |= {f"front-{m.node.id}": dirs["front"] / "candidates" / m.node.id / "model.py" for m in members}
    load_before = os.getloadavg()[0]
    latency = measure(models, args.task, args.times, args.cache_dir)
    base_acc, base_ms = best.val_accuracy or 0.0, latency.get("accuracy-best")
    rows = [{"id": m.node.id, "val_accuracy": m.node.val_accuracy, "latency_ms_in_run": m.values["latency_ms"],
             "latency_ms": latency.get(f"front-{m.node.id}")} for m in members]
    top = max(r["val_accuracy"] or 0.0 for r in rows)

    def fastest_within(reference: float) -> dict[str, Any] | None:
        near = [r for r in rows if r["latency_ms"] is not None and (r["val_accuracy"] or 0.0) >= reference - 0.01]
        return min(near, key=lambda r: r["latency_ms"], default=None)

    report: dict[str, Any] = {
        "task": args.task, "minutes": args.minutes, "seed": args.seed, "times": args.times,
        "load_average": [load_before, os.getloadavg()[0]],
        "accuracy_run": {"trained": len(acc_tree.trained_nodes()), "best": best.id, "val_accuracy": base_acc,
                         "test_accuracy": best.test_accuracy, "latency_ms": base_ms},
        "front_run": {"trained": len(front_tree.trained_nodes()), "front": rows},
    }
    for label, reference in (("within_one_point_of_accuracy_run_best", base_acc),
                             ("within_one_point_of_front_best", top)):
        pick = fastest_within(reference)
        report[label] = None if pick is None or not base_ms else {
            **pick, "speedup": base_ms / pick["latency_ms"] if pick["latency_ms"] else None}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.task}, {args.minutes} min each, seed {args.seed}; latency: median of {args.times} measurements "
          f"(batch 1, ONNX Runtime CPU, one thread); load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"accuracy-only run: {report['accuracy_run']['trained']} trained; best {best.id} val {base_acc:.4f} "
          f"latency {base_ms if base_ms is None else f'{base_ms:.4f}'} ms")
    print(f"front run: {report['front_run']['trained']} trained; front of {len(rows)}:")
    for r in rows:
        ms = "-" if r["latency_ms"] is None else f"{r['latency_ms']:.4f}"
        print(f"  {r['id']}: val {r['val_accuracy']:.4f}, latency {ms} ms (in the run {r['latency_ms_in_run']:.4f})")
    for label in ("within_one_point_of_accuracy_run_best", "within_one_point_of_front_best"):
        pick = report[label]
        words = label.replace("_", " ")
        print(f"fastest front member {words}: " + ("none" if pick is None else
              f"{pick['id']} val {pick['val_accuracy']:.4f}, {pick['latency_ms']:.4f} ms, "
              f"{pick['speedup']:.2f}x faster than the accuracy run's best (target >= 2x)"))


if __name__ == "__main__":
    main()
