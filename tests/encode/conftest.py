"""Shared fixtures for the encoder suites: trusted in-process ONNX exports of small torch
models and of the shipped examples, and one text model per session (loading it costs
seconds)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pytest
import torch
from encode_support import Export, build_example, export_model


@pytest.fixture
def export(tmp_path: Path) -> Export:
    """`export(module, input_shape, **options)` -> the loaded (shape-inferred) ONNX model."""
    counter = iter(range(1_000_000))

    def run(module: torch.nn.Module, input_shape: tuple[int, ...], **options: Any) -> onnx.ModelProto:
        return export_model(module, input_shape, tmp_path / f"model_{next(counter)}.onnx", **options)

    return run


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
