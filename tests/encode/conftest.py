"""Shared fixtures for the encoder suites: trusted in-process ONNX exports of small torch
models and of the shipped examples, and one text model per session (loading it costs
seconds)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pytest
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
                          output_names=["logits"], external_data=False, dynamo=False, **kwargs)
    return load_onnx(path)


@pytest.fixture
def export(tmp_path: Path) -> Export:
    """`export(module, input_shape, **options)` -> the loaded (shape-inferred) ONNX model."""
    counter = iter(range(1_000_000))

    def run(module: torch.nn.Module, input_shape: tuple[int, ...], **options: Any) -> onnx.ModelProto:
        return export_model(module, input_shape, tmp_path / f"model_{next(counter)}.onnx", **options)

    return run


def build_example(name: str) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """A shipped example (trusted code of this repository) built for its task's input shape."""
    shape = EXAMPLE_SHAPES[name.split("_")[0]]
    torch.manual_seed(0)
    return load_module(EXAMPLES / f"{name}.py", f"example_{name}").build_model(shape, 10), shape


@pytest.fixture(scope="session")
def example_onnx(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`example_onnx("mnist1d_cnn")` -> path of that example's ONNX export (made once)."""
    folder = tmp_path_factory.mktemp("examples-onnx")

    def get(name: str) -> Path:
        path = folder / f"{name}.onnx"
        if not path.exists():
            module, shape = build_example(name)
            export_model(module, shape, path)
        return path

    return get


@pytest.fixture(scope="session")
def text_model() -> Any:
    from agentnas.encode.embed import text_model as load

    return load()
