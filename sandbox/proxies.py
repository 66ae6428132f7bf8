"""Zero-cost proxies of a freshly built model: how an untrained network treats its inputs.

Runs inside the sandbox (on the candidate, after the normal checks) and on the trusted
side (benchmark-space architectures built from our own code), so both compute the same
numbers the same way. Imports only stdlib, numpy and torch.

Every proxy works on a deep copy of the model under a forked RNG, with a fixed-seed batch
of standard normal noise in the task's input shape (noise, not task data: the benchmark
spaces are encoded without their images) and fixed-seed random labels. The caller's model
is left untouched. One forward and one backward pass serve three proxies:

- naswot (Mellor et al., 2021): each input's binary code is the sign pattern entering
  every rectifier-like activation (caught as torch functions, so `F.relu` counts as well
  as `nn.ReLU`); K[i, j] counts the units where inputs i and j agree; the proxy is
  log|K| per input. Higher: the untrained network already tells inputs apart. Undefined
  (None) for a network without rectifiers.
- gradnorm (Abdelfattah et al., 2021): log of the summed L2 norms of the parameter
  gradients of the cross-entropy loss on the random labels.
- jacob_cov (Mellor et al., 2020): how decorrelated the input gradients of different
  inputs are, -log(S / B) with S = Σ log(λ + k) + 1 / (λ + k) over the eigenvalues λ of
  their correlation matrix (S ≥ B, equal when perfectly decorrelated: the proxy is 0 at
  best, about -9 when the gradients are collinear, and FLOOR when the output does not
  depend on the input at all).

And, on a second copy:

- synflow (Tanaka et al., 2020): log Σ|θ ⊙ ∂R/∂θ| with every weight replaced by its absolute
  value, an all-ones input and R = Σ output, in float64 with BatchNorm in eval mode.

A candidate can lie about anything computed in its own process: these numbers are a prior
for the search, never a score.
"""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

PROXY_NAMES: tuple[str, ...] = ("naswot", "synflow", "gradnorm", "jacob_cov")
BATCH = 8  # as informative as 16 on NB201 and Macro (single-proxy τ within 0.01), at half the cost
SEED = 1234
FLOOR = -50.0  # the value of a proxy whose quantity is zero (log 0), e.g. an output cut off from the input
_JACOB_K = 1e-5

_RECTIFIERS = {
    F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_, F.relu6, F.leaky_relu,
    F.leaky_relu_, F.gelu, F.silu, F.elu, F.elu_, F.selu, F.celu, F.hardswish, F.mish, F.prelu, F.hardtanh,
    F.hardtanh_, F.softplus,
}


class _Codes(TorchFunctionMode):
    """Accumulates K = C C^T + (1 - C)(1 - C)^T over the inputs of every rectifier call."""

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.k = torch.zeros(batch, batch, dtype=torch.float64)
        self.units = 0
        self.batch = batch

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _RECTIFIERS and args and isinstance(args[0], torch.Tensor):
            x = args[0]
            if x.dim() >= 1 and x.shape[0] == self.batch:
                with torch.no_grad():
                    c = (x.detach().reshape(self.batch, -1) > 0).to(torch.float32)
                    self.k += (c @ c.T + (1 - c) @ (1 - c).T).to(torch.float64)
                self.units += c.shape[1]
        return func(*args, **kwargs)


def _log(value: float) -> float:
    return math.log(value) if value > 0 and math.isfinite(value) else FLOOR


def _naswot(codes: _Codes) -> float | None:
    if codes.units == 0:
        return None  # no rectifier at all (a linear model, a GRU): the score is undefined, not low
    sign, logdet = np.linalg.slogdet(codes.k.numpy())
    return float(logdet) / codes.batch if sign > 0 else FLOOR


def _jacob_cov(grads: torch.Tensor) -> float:
    j = grads.reshape(grads.shape[0], -1).to(torch.float64).numpy()
    j = j - j.mean(1, keepdims=True)
    norms = np.linalg.norm(j, axis=1)
    if not np.all(norms > 0):
        return FLOOR  # some input's loss does not depend on its input at all
    corr = (j / norms[:, None]) @ (j / norms[:, None]).T
    eig = np.clip(np.linalg.eigvalsh(corr), 0.0, None)
    s = float(np.sum(np.log(eig + _JACOB_K) + 1.0 / (eig + _JACOB_K)))
    return -math.log(s / len(eig)) if s > 0 else FLOOR


def forward_proxies(model: torch.nn.Module, shape: tuple[int, ...], num_classes: int,
                    batch: int = BATCH) -> dict[str, float | None]:
    """naswot, gradnorm and jacob_cov from one forward and backward pass in train mode."""
    gen = torch.Generator().manual_seed(SEED)
    x = torch.randn((batch, *shape), generator=gen).requires_grad_(True)
    y = torch.randint(0, max(num_classes, 1), (batch,), generator=gen)
    model.train()  # as in the papers: BatchNorm normalises with the batch's statistics
    codes = _Codes(batch)
    with codes:
        out = model(x)
    if out.dim() == 2 and out.shape[1] == num_classes and num_classes > 1:
        loss = F.cross_entropy(out, y)
    else:
        loss = out.float().pow(2).mean()
    loss.backward()
    gradnorm = sum(float(p.grad.norm()) for p in model.parameters() if p.grad is not None)
    grads = x.grad if x.grad is not None else torch.zeros_like(x)
    return {"naswot": _naswot(codes), "gradnorm": _log(gradnorm), "jacob_cov": _jacob_cov(grads)}


def synflow(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad(set_to_none=True)
    out = model(torch.ones((1, *shape), dtype=torch.float64))
    torch.sum(out).backward()
    with torch.no_grad():
        total = sum(float((p * p.grad).abs().sum()) for p in model.parameters() if p.grad is not None)
    return _log(total)


def compute_proxies(model: torch.nn.Module, input_shape: tuple[int, ...], num_classes: int,
                    batch: int = BATCH) -> dict[str, float | None]:
    """The proxies of `model` (see the module docstring) for inputs of `input_shape` (no batch
    dimension); None for one that is undefined for this model. Deterministic for a given
    model; `model` itself is not changed."""
    shape = tuple(int(d) for d in input_shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)  # dropout and other randomness inside the model
        # On the CPU, like the export: the same numbers whichever device the job trains on.
        # A model one pass cannot handle loses those proxies only.
        out: dict[str, float | None] = {name: None for name in PROXY_NAMES}
        with contextlib.suppress(Exception):
            out.update(forward_proxies(copy.deepcopy(model).cpu(), shape, int(num_classes), batch))
        with contextlib.suppress(Exception):
            out["synflow"] = synflow(copy.deepcopy(model).cpu(), shape)
    return {name: None if out[name] is None else float(out[name]) for name in PROXY_NAMES}
