"""The training loop of the task's fixed recipe. Runs inside the sandbox.

Imports only stdlib, numpy and torch. The same loop is used for the bare
(unsandboxed) baseline of `agentnas bench sandbox`, so both train identically.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainStats:
    steps: int
    final_loss: float
    train_seconds: float


def make_optimizer(params: Any, recipe: dict[str, Any]) -> torch.optim.Optimizer:
    name, lr, wd = recipe["optimizer"], recipe["lr"], recipe.get("weight_decay", 0.0)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd,
                               momentum=recipe.get("momentum", 0.9), nesterov=True)
    raise ValueError(f"unknown optimizer {name!r}")


def lr_factor(step: int, total_steps: int, schedule: str) -> float:
    """Multiplier on the base learning rate at `step` (0-based) of `total_steps`."""
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(1, total_steps)))
    raise ValueError(f"unknown schedule {schedule!r}")


def train(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, recipe: dict[str, Any],
          device: str = "cpu") -> TrainStats:
    """Train `model` in place on (x, y) with the recipe; raise NonFiniteLoss on NaN/inf.

    Classification: x float (N, *input_shape), y (N,) classes. Causal token modelling: x int64
    tokens (N, T), y (N, T) next tokens, -100 (cross_entropy's ignore_index) where not scored."""
    gen = torch.Generator().manual_seed(int(recipe.get("seed", 0)))
    tokens = np.issubdtype(x.dtype, np.integer)
    xt = torch.as_tensor(x, dtype=torch.long if tokens else torch.float32)   # (N, T) or (N, *input_shape)
    yt = torch.as_tensor(y, dtype=torch.long)                 # (N, T) or (N,)
    n, bs = len(xt), int(recipe["batch_size"])
    steps_per_epoch = math.ceil(n / bs)
    total = steps_per_epoch * int(recipe["epochs"])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, recipe) if params else None
    base_lrs = [g["lr"] for g in opt.param_groups] if opt else []
    model.to(device).train()
    step, loss_value, t0 = 0, float("nan"), time.perf_counter()
    for _epoch in range(int(recipe["epochs"])):
        perm = torch.randperm(n, generator=gen)
        for i in range(steps_per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            xb, yb = xt[idx].to(device), yt[idx].to(device)
            logits = model(xb)                                # (B, num_classes) or (B, T, V)
            # Token logits flatten to one V-way choice per position; classification's are unchanged.
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise NonFiniteLoss(f"loss became {loss_value} at step {step}")
            if opt is not None:
                factor = lr_factor(step, total, recipe.get("schedule", "constant"))
                for g, base in zip(opt.param_groups, base_lrs, strict=True):
                    g["lr"] = base * factor
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            step += 1
    return TrainStats(steps=step, final_loss=loss_value, train_seconds=time.perf_counter() - t0)


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray, batch_size: int = 1000,
            device: str = "cpu") -> np.ndarray:
    """Logits for every row of x, as float32 (N, num_classes)."""
    model.eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    out = [model(xt[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(xt), batch_size)]
    return torch.cat(out).numpy().astype(np.float32)


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
