"""Helpers shared by the encoder tests (a uniquely named module: several test folders
have a conftest.py, so `from conftest import ...` would be ambiguous)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import torch

from agentnas.encode import load_onnx
from agentnas.paths import load_module

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXAMPLE_SHAPES = {"mnist1d": (1, 40), "digits": (1, 8, 8)}

Export = Callable[..., onnx.ModelProto]


def export_model(module: torch.nn.Module, input_shape: tuple[int, ...], path: Path, *, batch: int = 1,
                 input_name: str = "input", dynamic_batch: str | None = None) -> onnx.ModelProto:
    """Export as the sandbox does (TorchScript exporter, one file) and load it safely."""
    kwargs: dict[str, Any] = {}
    if dynamic_batch is not None:
        kwargs["dynamic_axes"] = {input_name: {0: dynamic_batch}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros(batch, *input_shape),), str(path), input_names=[input_name],
                          output_names=["logits"], external_data=False, dynamo=False,
                          do_constant_folding=False, **kwargs)
    return load_onnx(path)


def build_example(name: str) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """A shipped example (trusted code of this repository) built for its task's input shape."""
    shape = EXAMPLE_SHAPES[name.split("_")[0]]
    torch.manual_seed(0)
    return load_module(EXAMPLES / f"{name}.py", f"example_{name}").build_model(shape, 10), shape
