"""The safe loader: every broken or hostile file is one typed error naming the path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from agentnas.encode import LoadLimits, OnnxLoadError, load_onnx, onnx_to_text


def _assert_rejected(path: Path, *words: str, limits: LoadLimits | None = None) -> OnnxLoadError:
    with pytest.raises(OnnxLoadError) as info:
        load_onnx(path, limits)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    assert isinstance(info.value, ValueError)
    return info.value


def test_a_valid_file_loads_with_inferred_shapes(example_onnx: Callable[[str], Path]) -> None:
    model = load_onnx(example_onnx("mnist1d_cnn"))
    assert len(model.graph.node) == 8 and len(model.graph.value_info) > 0


def test_a_file_that_is_not_onnx_is_rejected(tmp_path: Path) -> None:
    for name, data in (("notes.onnx", b"this is a text file, not a model\n"), ("empty.onnx", b""),
                       ("noise.onnx", np.random.default_rng(0).bytes(4096))):
        (tmp_path / name).write_bytes(data)
        _assert_rejected(tmp_path / name)


def test_truncated_files_are_rejected(example_onnx: Callable[[str], Path], tmp_path: Path) -> None:
    data = example_onnx("mnist1d_cnn").read_bytes()
    for cut in (10, len(data) // 3, len(data) // 2, len(data) - 7):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        _assert_rejected(path)


def test_an_oversize_file_is_rejected_before_parsing(example_onnx: Callable[[str], Path]) -> None:
    path = example_onnx("mnist1d_cnn")
    _assert_rejected(path, "limit", limits=LoadLimits(max_bytes=path.stat().st_size - 1))
    load_onnx(path, LoadLimits(max_bytes=path.stat().st_size))


def test_a_graph_over_the_node_limit_is_rejected(example_onnx: Callable[[str], Path]) -> None:
    _assert_rejected(example_onnx("mnist1d_cnn"), "8 nodes", "limit of 5", limits=LoadLimits(max_nodes=5))


def test_external_data_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(6, dtype=np.float32).tobytes())
    weight = numpy_helper.from_array(np.zeros((2, 3), np.float32), "W")
    weight.ClearField("raw_data")
    weight.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", str(secret)), ("offset", "0"), ("length", "24")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])], [weight])
    path = tmp_path / "external.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the loader tried to read external data")

    monkeypatch.setattr(onnx.external_data_helper, "load_external_data_for_model", refuse)
    before = secret.stat().st_atime_ns
    _assert_rejected(path, "external data")
    assert secret.stat().st_atime_ns == before


def test_missing_files_directories_and_fifos_are_rejected_without_hanging(tmp_path: Path) -> None:
    _assert_rejected(tmp_path / "missing.onnx", "no such file")
    _assert_rejected(tmp_path, "directory")
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    _assert_rejected(fifo, "not a regular file")


def test_a_failing_shape_inference_leaves_the_model_usable(example_onnx: Callable[[str], Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("inference exploded")

    monkeypatch.setattr(onnx.shape_inference, "infer_shapes", broken)
    model = load_onnx(example_onnx("mnist1d_cnn"))
    assert not model.graph.value_info
    text = onnx_to_text(model)
    assert "Conv(%v0, W[25,1,5], B[25])" in text and text.splitlines()[1].endswith(" : [1,10]")
