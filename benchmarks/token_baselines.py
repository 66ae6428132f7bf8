"""Tune and reproduce the token-model baselines in-process (no sandbox, no causality check).

Builds each `examples/tokens_<model>.py`, trains it with `sandbox/train.py` on one CPU
thread under the task's recipe (or overrides, for tuning), and prints the validation loss
per scored token, bits and next-token accuracy. The figures of BENCHMARKS.md come from
`agentnas evaluate` (sandboxed, causality-checked); this script is for choosing recipes.

    .venv/bin/python benchmarks/token_baselines.py --task mqar --models attention gru --seeds 0
    .venv/bin/python benchmarks/token_baselines.py --task mqar-easy --epochs 2 --lr 1e-3 --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentnas.paths import default_cache_dir, load_module, shipped_dir  # noqa: E402
from agentnas.tasks import IGNORE, get_task  # noqa: E402

MODELS = ("attention", "linear_attention", "gru", "gated_conv", "mamba")


@torch.no_grad()
def score(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch: int) -> tuple[float, float]:
    model.eval()
    losses, hits, n = 0.0, 0, 0
    for i in range(0, len(x), batch):
        logits = model(torch.as_tensor(x[i:i + batch])).double()          # (B, T, V)
        target = torch.as_tensor(y[i:i + batch])
        keep = target != IGNORE
        lp = torch.log_softmax(logits[keep], dim=-1)                     # (P, V)
        losses -= float(lp.gather(1, target[keep][:, None]).sum())
        hits += int((lp.argmax(1) == target[keep]).sum())
        n += int(keep.sum())
    return losses / n, hits / n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", default="mqar")
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    task = get_task(a.task)
    data = task.load(default_cache_dir())
    trainer = load_module(shipped_dir("sandbox") / "train.py", "token_bench_train")
    update: dict[str, Any] = {k: v for k, v in (("epochs", a.epochs), ("lr", a.lr), ("batch_size", a.batch_size))
                              if v is not None}
    for name in a.models:
        example = load_module(Path(__file__).resolve().parents[1] / "examples" / f"tokens_{name}.py", f"tok_{name}")
        for seed in a.seeds:
            recipe = task.spec.recipe.model_copy(update={**update, "seed": seed})
            torch.manual_seed(seed)
            model = example.build_model(task.spec.vocab_size, task.spec.seq_len)
            t0 = time.perf_counter()
            stats = trainer.train(model, data.x_train, data.y_train, recipe.model_dump())
            loss, acc = score(model, data.x_val, data.y_val, recipe.eval_batch_size)
            row = {"task": task.spec.name, "model": name, "seed": seed, "params": sum(q.numel() for q in
                   model.parameters()), "steps": stats.steps, "val_loss": round(loss, 4),
                   "val_bits": round(loss / math.log(2), 4), "val_acc": round(acc, 4),
                   "train_s": round(time.perf_counter() - t0, 1), **update}
            print(json.dumps(row) if a.json else row, flush=True)


if __name__ == "__main__":
    main()
