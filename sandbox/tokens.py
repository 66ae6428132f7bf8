"""Causal token models inside the sandbox: the trained weights and the scoring step
(shapecheck.py checks their output shape). Imports only stdlib, numpy and torch.

A token evaluation is three forked children (agentnas/evaluator/tokens.py): one trains and
saves the weights (it never sees a validation or test sequence), then two fresh children
each load those weights and return the logits of their half of the evaluation sequences.
The halves hold the scored sequences mixed with perturbed copies of the other half's, so
the trusted side can check causality from the returned logits alone, and no child ever
holds both a sequence and its copy (nothing it remembers can make the two agree).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from failures import Failure, limit_hit

WEIGHTS = "weights.pt"


def as_tokens(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.long)


def save_weights(model: torch.nn.Module) -> None:
    torch.save(model.state_dict(), WEIGHTS)


def load_weights(model: torch.nn.Module, path: str) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:
        raise limit_hit(e) or Failure("crash", f"the trained weights do not load into a freshly built model: "
                                               f"{type(e).__name__}: {e}"[:500]) from e


@torch.no_grad()
def predict_positions(model: torch.nn.Module, tokens: np.ndarray, positions: np.ndarray, bounds: np.ndarray,
                      vocab: int, device: str) -> np.ndarray:
    """Logits (P, vocab) float32 at `positions` ((P, 2) rows of [sequence, position], sorted by
    sequence), evaluating the sequences in the batches `bounds` gives (b0 = bounds[i], b1 = bounds[i + 1])."""
    model.eval()
    out = np.empty((len(positions), vocab), np.float32)
    starts = np.searchsorted(positions[:, 0], bounds)        # first position of each batch
    for i in range(len(bounds) - 1):
        b0, b1 = int(bounds[i]), int(bounds[i + 1])
        logits = model(as_tokens(tokens[b0:b1]).to(device))   # (B, T, V)
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (b1 - b0, tokens.shape[1], vocab):
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise Failure("shape", f"forward on tokens {(b1 - b0, tokens.shape[1])} returned {got}")
        arr = logits.detach().float().cpu().numpy()
        p = positions[starts[i]:starts[i + 1]]
        out[starts[i]:starts[i + 1]] = arr[p[:, 0] - b0, p[:, 1]]
    return out


def read_eval(path: str) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as f:
        return {k: np.ascontiguousarray(f[k]) for k in ("tokens", "positions", "bounds")}
