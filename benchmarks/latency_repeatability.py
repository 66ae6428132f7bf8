"""How well a candidate's measured latency repeats (issue 18's target: the same model measured
5 times in one run varies by at most 10 % of its median).

Each example model is exported by the real sandbox check (as a run exports it), then measured
`--times` times, each a fresh confined ONNX Runtime process (agentnas.evaluator.latency) and a
fresh confined torch process timing the model the check traced (`--engines`), with
the run's defaults (one thread, `--warmup` untimed runs, median of `--repeats`). Printed per
model and batch size: every measurement's median and within-measurement spread (IQR / median),
then across the measurements the median of the medians and the variation (max - min) / median.
The machine's load average is printed with them: on a shared machine that is what the spread
measures too.

    .venv/bin/python benchmarks/latency_repeatability.py
    .venv/bin/python benchmarks/latency_repeatability.py --models mnist1d_cnn --times 10 --batch 1,32
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentnas.config import CostsConfig  # noqa: E402
from agentnas.encode.costs import measure_costs  # noqa: E402
from agentnas.evaluator import EvalOptions, Evaluator  # noqa: E402
from agentnas.paths import default_cache_dir  # noqa: E402
from agentnas.tasks import get_task  # noqa: E402

MODELS = ("mnist1d_logistic", "mnist1d_mlp", "mnist1d_cnn", "mnist1d_gru")


def export(models: list[str], cache_dir: Path, out: Path) -> dict[str, Path]:
    options = EvalOptions(check_only=True, require_export=True, slots=1, device="cpu", timeout_s=120.0,
                          export_torchscript=True)
    with Evaluator(get_task("mnist1d"), options, cache_dir=cache_dir, out_dir=out) as evaluator:
        results = evaluator.evaluate([ROOT / "examples" / f"{m}.py" for m in models])
    graphs = {}
    for name, result in zip(models, results, strict=True):
        if result.onnx_path is None:
            print(f"{name}: not exported ({result.failure or result.export_error})")
            continue
        graphs[name] = Path(result.onnx_path)
    return graphs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--times", type=int, default=5, help="measurements of each model")
    parser.add_argument("--repeats", type=int, default=CostsConfig().repeats)
    parser.add_argument("--warmup", type=int, default=CostsConfig().warmup)
    parser.add_argument("--batch", default="1,32", help="batch sizes (1 is always measured)")
    parser.add_argument("--max-seconds", type=float, default=CostsConfig().max_seconds,
                        help="stop timing a batch size after this long (with a large --repeats: a time window)")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--engines", default="onnxruntime,torch",
                        help="onnxruntime (the exported graph, CPU) and/or torch (the traced model, --device)")
    parser.add_argument("--device", default="cpu", help="torch's device: cpu or cuda")
    args = parser.parse_args()
    config = CostsConfig(repeats=args.repeats, warmup=args.warmup, max_seconds=args.max_seconds,
                         batch_sizes=tuple(int(b) for b in args.batch.split(",")))
    from agentnas.evaluator import get_isolation

    isolation = get_isolation("auto")
    print(f"isolation {isolation.name}; {args.times} measurements per model, each the median of {config.repeats} "
          f"runs after {config.warmup} warm-up runs, one thread; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="agentnas-latency-bench-") as tmp:
        for name, graph in export(args.models.split(","), args.cache_dir, Path(tmp)).items():
            engines = args.engines.split(",")
            runs = [measure_costs(graph, config, isolation=isolation, latency="onnxruntime" in engines,
                                  torch_device=args.device if "torch" in engines else None)
                    for _ in range(args.times)]
            c = runs[0]
            print(f"\n{name}: {c.params:,} params, {c.macs:,} MACs, peak activations {c.peak_activation_bytes:,} B, "
                  f"{c.size_bytes:,} B of ONNX")
            for engine, batch in ((e, b) for e in engines for b in config.batch_sizes):
                figures = [r.latency_at(batch, engine) for r in runs]
                label = f"{figures[0].engine if figures[0] else engine} batch {batch}"
                if any(f is None for f in figures):
                    print(f"  {label}: not measured ({next(r.latency_error for r in runs if r.latency_error)})")
                    continue
                medians = [f.median_ms for f in figures if f is not None]
                spreads = [f.spread for f in figures if f is not None]
                mid = statistics.median(medians)
                variation = (max(medians) - min(medians)) / mid
                worst = max(worst, variation)
                each = ", ".join(f"{m:.4f} ({s:.0%})" for m, s in zip(medians, spreads, strict=True))
                print(f"  {label}: median {mid:.4f} ms, variation across measurements {variation:.1%} "
                      f"(each: median ms (IQR/median)) {each}")
    print(f"\nworst variation across measurements: {worst:.1%} (target <= 10 %); load average now "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
