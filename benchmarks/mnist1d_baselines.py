"""Reproduce the MNIST-1D paper's baselines with the task's default recipe.

Runs in-process (no sandbox): builds each reference model in `examples/`, trains it
with `sandbox/train.py` on one CPU thread, and prints mean ± std test accuracy over
seeds beside the published number, with the seconds each model took to train.

    .venv/bin/python benchmarks/mnist1d_baselines.py                 # all four, seeds 0 1 2
    .venv/bin/python benchmarks/mnist1d_baselines.py --models cnn --epochs 40 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

# Runnable from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentnas.paths import default_cache_dir, load_module, shipped_dir  # noqa: E402
from agentnas.tasks import Mnist1dTask, Recipe  # noqa: E402

MODELS = ("logistic", "mlp", "cnn", "gru")


def run_one(model_name: str, recipe: Recipe, seed: int, data: Any,
            trainer: ModuleType) -> dict[str, Any]:
    example = load_module(shipped_dir("examples") / f"mnist1d_{model_name}.py",
                          f"mnist1d_{model_name}")
    recipe = recipe.model_copy(update={"seed": seed})
    torch.manual_seed(seed)  # the weights' init; train() seeds its own batch order
    model = example.build_model((1, 40), 10)
    stats = trainer.train(model, data.x_train, data.y_train, recipe.model_dump())
    t0 = time.perf_counter()
    val = trainer.predict(model, data.x_val, recipe.eval_batch_size).argmax(1)
    test = trainer.predict(model, data.x_test, recipe.eval_batch_size).argmax(1)
    return {
        "model": model_name, "seed": seed, "epochs": recipe.epochs, "steps": stats.steps,
        "val_accuracy": float(np.mean(val == data.y_val)),
        "test_accuracy": float(np.mean(test == data.y_test)),
        "train_seconds": stats.train_seconds, "eval_seconds": time.perf_counter() - t0,
        "params": trainer.count_params(model),
    }


def summarise(runs: list[dict[str, Any]], paper: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for name in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == name]
        acc = [r["test_accuracy"] for r in mine]
        sec = [r["train_seconds"] for r in mine]
        rows.append({
            "model": name, "seeds": [r["seed"] for r in mine], "params": mine[0]["params"],
            "test_mean": statistics.fmean(acc),
            "test_std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "val_mean": statistics.fmean(r["val_accuracy"] for r in mine),
            "paper": paper[name], "train_seconds_mean": statistics.fmean(sec),
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--lr", type=float, default=None, help="override the recipe's lr")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--schedule", choices=("constant", "cosine"), default=None)
    parser.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default=None)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    task = Mnist1dTask()
    overrides = {k: v for k, v in {"epochs": args.epochs, "lr": args.lr,
                                   "batch_size": args.batch_size,
                                   "schedule": args.schedule, "optimizer": args.optimizer,
                                   "weight_decay": args.weight_decay}.items() if v is not None}
    # Validated afresh: model_copy(update=...) would skip the field checks.
    recipe = Recipe.model_validate({**task.spec.recipe.model_dump(), **overrides})
    data = task.load(args.cache_dir)
    trainer = load_module(shipped_dir("sandbox") / "train.py", "agentnas_sandbox_train")
    paper = {b.name: b.test_accuracy for b in task.spec.baselines}

    runs = []
    for name in args.models:
        for seed in args.seeds:
            runs.append(run_one(name, recipe, seed, data, trainer))
            if not args.json:
                r = runs[-1]
                print(f"  {name:<8} seed {seed}: test {r['test_accuracy']:.3f}  "
                      f"val {r['val_accuracy']:.3f}  {r['train_seconds']:.1f}s", file=sys.stderr)
    rows = summarise(runs, paper)

    if args.json:
        print(json.dumps({"recipe": recipe.model_dump(), "threads": args.threads,
                          "summary": rows, "runs": runs}, indent=2))
        return 0
    print(f"recipe: {recipe.model_dump()}  threads: {args.threads}  seeds: {args.seeds}")
    print(f"{'model':<9}{'params':>8}  {'test acc (mean±std)':>20}  {'paper':>6}  "
          f"{'diff':>6}  {'val acc':>7}  {'s/model':>8}")
    for r in rows:
        print(f"{r['model']:<9}{r['params']:>8}  "
              f"{100 * r['test_mean']:>12.1f} ± {100 * r['test_std']:<5.1f}  "
              f"{100 * r['paper']:>6.1f}  {100 * (r['test_mean'] - r['paper']):>+6.1f}  "
              f"{100 * r['val_mean']:>7.1f}  {r['train_seconds_mean']:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
