"""Valid rate of the offline proposer: do its proposals build, train and export?

For each task, a small search-like stream of proposals is drawn with `OfflineProposer`:
fresh samples under the proposer's own hypotheses (and none), mutations of earlier
proposals and recombinations of two earlier ones. Each candidate file is our own
generated code, so it is executed here, on the trusted side, in-process: build,
parameter count against the grammar's count, a few Adam steps at the task's learning
rate on random data of the task's shape (finite loss required), and an ONNX export as
the sandbox does it (TorchScript exporter, one file). Printed: valid rate, failure kinds,
parameter distribution, build+step and export times.

Options:
    --sandbox M   also check M proposals per task in the real sandbox (check mode:
                  import, build, shape, params, ONNX export)
    --train M     train M MNIST-1D samples per hypothesis in the sandbox with the full
                  recipe and report their val/test accuracies (slow: ~10-60 s each)

    .venv/bin/python benchmarks/proposer_valid_rate.py --n 200
    .venv/bin/python benchmarks/proposer_valid_rate.py --n 60 --sandbox 20 --train 10 --json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import types
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentnas.evaluator import EvalOptions, Evaluator  # noqa: E402
from agentnas.paths import default_cache_dir  # noqa: E402
from agentnas.space import OfflineProposer, Proposal, ProposerConfig  # noqa: E402
from agentnas.tasks import get_task  # noqa: E402

TRAIN_HYPOTHESES = ("", "Residual stacks of dilated convolutions with batch normalisation")


def stream(proposer: OfflineProposer, n: int, seed: int) -> list[Proposal]:
    """n proposals: a third samples, a third mutations, a third recombinations of earlier ones."""
    rng = np.random.default_rng(seed)
    hyps = [h.text for h in proposer.hypotheses(12, rng)] + [""]
    out: list[Proposal] = []
    while len(out) < n:
        hyp = hyps[int(rng.integers(len(hyps)))]
        kind = len(out) % 3 if len(out) >= 6 else 0
        if kind == 0:
            out += proposer.propose(None, hyp, k=1, seed=rng)
        elif kind == 1:
            parent = out[int(rng.integers(len(out)))]
            out += proposer.propose(parent.arch, hyp, k=1, seed=rng)
        else:
            a, b = (out[int(i)] for i in rng.choice(len(out), 2, replace=False))
            out.append(proposer.recombine(a.arch, b.arch, hyp, rng))
    return out[:n]


def check_one(p: Proposal, input_shape: tuple[int, ...], num_classes: int, lr: float, batch: int,
              steps: int, folder: Path) -> dict[str, Any]:
    """Build, step and export one proposal in-process (our own generated code)."""
    row: dict[str, Any] = {"operator": p.operator, "params": p.params, "macs": p.macs, "failure": None,
                           "export_ok": False}
    t0 = time.perf_counter()
    try:
        module = types.ModuleType("candidate")
        exec(compile(p.code, "candidate.py", "exec"), module.__dict__)
        torch.manual_seed(0)
        model = module.build_model(input_shape, num_classes)
        counted = sum(q.numel() for q in model.parameters())
        if counted != p.params:
            row["failure"] = f"params: built {counted}, grammar counted {p.params}"
            return row
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        x = torch.randn(batch, *input_shape)
        y = torch.randint(0, num_classes, (batch,))
        model.train()
        for _ in range(steps):
            out = model(x)
            if tuple(out.shape) != (batch, num_classes):
                row["failure"] = f"shape: output {tuple(out.shape)}"
                return row
            loss = torch.nn.functional.cross_entropy(out, y)
            if not math.isfinite(float(loss.detach())):
                row["failure"] = "nonfinite_loss"
                return row
            opt.zero_grad()
            loss.backward()
            opt.step()
    except Exception as e:  # a failure kind to report, not a crash of the benchmark
        row["failure"] = f"{type(e).__name__}: {str(e)[:120]}"
        return row
    row["step_seconds"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (torch.randn(1, *input_shape),), str(folder / "m.onnx"), dynamo=False,
                              external_data=False, do_constant_folding=False, verbose=False)
        row["export_ok"] = True
    except Exception as e:
        row["export_error"] = f"{type(e).__name__}: {str(e)[:120]}"
    row["export_seconds"] = time.perf_counter() - t1
    return row


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if r["failure"] is None]
    params = [r["params"] for r in rows]
    step = [r["step_seconds"] for r in ok]
    return {
        "n": len(rows), "valid_rate": len(ok) / len(rows),
        "valid_by_operator": {op: sum(r["failure"] is None for r in rows if r["operator"] == op) /
                              max(1, sum(r["operator"] == op for r in rows))
                              for op in sorted({r["operator"] for r in rows})},
        "failures": dict(Counter(r["failure"].split(":")[0] for r in rows if r["failure"])),
        "failure_examples": [r["failure"] for r in rows if r["failure"]][:5],
        "export_rate": sum(r["export_ok"] for r in rows) / len(rows),
        "export_errors": [r["export_error"] for r in rows if r.get("export_error")][:5],
        "params": {"p10": pct(params, 10), "median": pct(params, 50), "p90": pct(params, 90), "max": max(params)},
        "build_step_seconds": {"median": pct(step, 50), "p90": pct(step, 90)},
        "export_seconds_median": pct([r["export_seconds"] for r in ok if "export_seconds" in r], 50),
    }


def sandbox_rows(task_name: str, proposals: list[Proposal], folder: Path, epochs: int | None,
                 check_only: bool) -> list[dict[str, Any]]:
    task = get_task(task_name)
    paths = []
    for i, p in enumerate(proposals):
        path = folder / f"{task_name}_{i}.py"
        path.write_text(p.code)
        paths.append(path)
    opts = EvalOptions(slots=1, device="cpu", timeout_s=600.0, check_only=check_only, epochs=epochs)
    with Evaluator(task, opts, cache_dir=default_cache_dir()) as ev:
        results = ev.evaluate(paths)
    rows = []
    for p, r in zip(proposals, results, strict=True):
        rows.append({"hypothesis": p.hypothesis, "operator": p.operator, "params": p.params, "macs": p.macs,
                     "status": r.status,
                     "failure": r.failure.model_dump(mode="json") if r.failure else None,
                     "exporter": r.exporter, "val_accuracy": r.metrics.val_accuracy if r.metrics else None,
                     "test_accuracy": r.metrics.test_accuracy if r.metrics else None,
                     "train_seconds": r.train_seconds, "description": p.description[:200]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="proposals per task")
    parser.add_argument("--tasks", default="mnist1d,digits")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per proposal")
    parser.add_argument("--max-params", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sandbox", type=int, default=0, help="proposals per task checked in the sandbox")
    parser.add_argument("--train", type=int, default=0, help="MNIST-1D samples per hypothesis trained in the sandbox")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    report: dict[str, Any] = {"n": args.n, "seed": args.seed, "max_params": args.max_params, "tasks": {}}
    config = ProposerConfig(max_params=args.max_params)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.tasks.split(","):
            spec = get_task(name).spec
            proposer = OfflineProposer(spec.input_shape, spec.num_classes, config)
            t0 = time.perf_counter()
            proposals = stream(proposer, args.n, args.seed)
            propose_s = (time.perf_counter() - t0) / len(proposals)
            rows = [check_one(p, spec.input_shape, spec.num_classes, spec.recipe.lr, spec.recipe.batch_size,
                              args.steps, folder) for p in proposals]
            entry = {**summarise(rows), "propose_seconds_mean": propose_s,
                     "distinct": len({p.arch_hash for p in proposals})}
            if args.sandbox:
                sb = sandbox_rows(name, proposals[: args.sandbox], folder, None, check_only=True)
                entry["sandbox_check"] = {"n": len(sb), "ok_rate": sum(r["status"] == "ok" for r in sb) / len(sb),
                                          "export_rate": sum(r["exporter"] is not None for r in sb) / len(sb),
                                          "failures": [r["failure"] for r in sb if r["failure"]]}
            report["tasks"][name] = entry
            if not args.json:
                print_task(name, entry)
        if args.train:
            spec = get_task("mnist1d").spec
            proposer = OfflineProposer(spec.input_shape, spec.num_classes, config)
            trained = []
            for hyp in TRAIN_HYPOTHESES:
                props = proposer.propose(None, hyp, k=args.train, seed=args.seed)
                trained += sandbox_rows("mnist1d", props, folder, None, check_only=False)
            report["train"] = summarise_training(trained)
            if not args.json:
                print_training(report["train"])
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def summarise_training(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": rows, "by_hypothesis": {}}
    for hyp in dict.fromkeys(r["hypothesis"] for r in rows):
        mine = [r for r in rows if r["hypothesis"] == hyp]
        ok = [r for r in mine if r["status"] == "ok"]
        test = [r["test_accuracy"] for r in ok]
        out["by_hypothesis"][hyp or "(none)"] = {
            "n": len(mine), "ok": len(ok), "test_median": statistics.median(test) if test else None,
            "test_max": max(test) if test else None,
            "at_least_97": sum(t >= 0.97 for t in test),
            "train_seconds_median": statistics.median(r["train_seconds"] for r in ok) if ok else None,
        }
    return out


def print_task(name: str, e: dict[str, Any]) -> None:
    p, s = e["params"], e["build_step_seconds"]
    print(f"{name}: {e['n']} proposals ({e['distinct']} distinct), valid {100 * e['valid_rate']:.1f} % "
          f"(by operator: {', '.join(f'{k} {100 * v:.0f} %' for k, v in e['valid_by_operator'].items())}), "
          f"ONNX export {100 * e['export_rate']:.1f} %")
    print(f"  failures: {e['failures'] or 'none'} {e['failure_examples'] or ''}")
    print(f"  params p10/median/p90/max: {p['p10']:.0f} / {p['median']:.0f} / {p['p90']:.0f} / {p['max']}")
    print(f"  build+steps median {s['median']:.3f} s (p90 {s['p90']:.3f} s), export median "
          f"{e['export_seconds_median']:.3f} s, propose {1000 * e['propose_seconds_mean']:.1f} ms/proposal")
    if "sandbox_check" in e:
        sb = e["sandbox_check"]
        print(f"  sandbox check: {sb['n']} proposals, ok {100 * sb['ok_rate']:.0f} %, "
              f"export {100 * sb['export_rate']:.0f} %, failures {sb['failures'] or 'none'}")


def print_training(t: dict[str, Any]) -> None:
    print("MNIST-1D, full recipe in the sandbox (baselines: CNN 92.4 % here, 94 % paper; target 97 %):")
    for hyp, s in t["by_hypothesis"].items():
        print(f"  {hyp!r}: {s['ok']}/{s['n']} trained, test median {s['test_median']}, max {s['test_max']}, "
              f">= 97 %: {s['at_least_97']}, train s median {s['train_seconds_median']}")
    for r in t["rows"]:
        acc = f"{r['test_accuracy']:.3f}" if r["test_accuracy"] is not None else r["failure"]
        print(f"    {acc}  val {r['val_accuracy']}  {r['params']:>7} params  {r['macs']:>9} MACs  "
              f"{r['train_seconds'] or 0:5.1f} s  {r['description'][:100]}")


if __name__ == "__main__":
    raise SystemExit(main())
