"""The shape check every evaluation starts with: two training examples through the model,
and the output must be the logits the task scores. Imports only stdlib and torch.

Classifiers take (2, *input_shape) floats and return (2, num_classes); token models take
(2, T) int64 tokens and return float logits (2, T, vocab) at every position. A failure carries
the layer-by-layer shapes of the failed forward (shapetrace.py)."""

from __future__ import annotations

import torch
from failures import Failure, limit_hit
from shapetrace import traced

# Words of torch's messages for a tensor of the wrong size or rank reaching a layer ("running_mean should
# contain 1 elements not 64" is a BatchNorm built for 64 channels meeting 1; "expected 2D or 3D input").
SHAPE_WORDS = ("shape", "size", "dimension", "mat1", "mat2", "expected input", "must match", "running_mean",
               "channels", "2d", "3d", "4d")
# A token id past an embedding table raises "index out of range": a vocabulary the model
# was not built for, a shape failure of token models.
TOKEN_SHAPE_WORDS = (*SHAPE_WORDS, "index")


def check_shape(model: torch.nn.Module, xb: torch.Tensor, classes: int, tokens: bool) -> None:
    """`xb`: the two examples on the model's device; `classes`: the task's classes or vocabulary."""
    what = "tokens" if tokens else "input"
    try:
        with torch.no_grad():
            out = model(xb)
    except Exception as e:
        if hit := limit_hit(e):
            raise hit from e
        words = TOKEN_SHAPE_WORDS if tokens else SHAPE_WORDS
        kind = "shape" if any(w in str(e).lower() for w in words) else "crash"
        raise Failure(kind, f"forward on {what} {tuple(xb.shape)} failed: {type(e).__name__}: {e}"
                      + traced(model, xb)) from e
    expected = (2, xb.shape[1], classes) if tokens else (2, classes)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == expected and (out.is_floating_point() or not tokens):
        return
    if not isinstance(out, torch.Tensor):
        got = type(out).__name__
    else:
        got = f"{tuple(out.shape)} {out.dtype}" if tokens else str(tuple(out.shape))
    wanted = f"float logits {expected}" if tokens else str(expected)
    raise Failure("shape", f"forward on {what} {tuple(xb.shape)} returned {got}; expected {wanted}"
                      + traced(model, xb))
