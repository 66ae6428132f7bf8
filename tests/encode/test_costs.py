"""Deployment costs of an exported graph, measured on the trusted side: the graph's own figures
are exact for a model whose arithmetic is known, latency comes from a confined ONNX Runtime
process and repeats, and a hostile or broken graph is a clear failure, never the caller's crash."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from encode_support import build_example
from onnx import TensorProto, helper, numpy_helper
from proctree import descendants

from agentnas.config import CostsConfig
from agentnas.encode.costs import measure_costs, read_costs_beside, write_costs_beside
from agentnas.encode.onnx_load import OnnxLoadError
from agentnas.evaluator import Isolation

FAST = CostsConfig(repeats=20, warmup=3, batch_sizes=(1, 8))


def save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_costs_of_the_mnist1d_cnn_match_its_arithmetic(example_onnx: Callable[[str], Path],
                                                      isolation: Isolation) -> None:
    module, _ = build_example("mnist1d_cnn")
    path = example_onnx("mnist1d_cnn")
    costs = measure_costs(path, FAST, isolation=isolation, latency=True)

    # Three stride-2 convs over (1, 40) -> 19 -> 10 -> 5 positions, 25 channels, then a linear head.
    macs = 19 * 25 * 1 * 5 + 10 * 25 * 25 * 3 + 5 * 25 * 25 * 3 + 125 * 10
    assert costs.params == sum(p.numel() for p in module.parameters())
    assert (costs.macs, costs.macs_complete) == (macs, True)
    # The peak: conv1's output and its ReLU's, (25, 19) float32 each, alive together.
    assert (costs.peak_activation_bytes, costs.peak_complete) == (2 * 25 * 19 * 4, True)
    assert costs.size_bytes == path.stat().st_size > 4 * costs.params
    assert costs.latency_error is None
    assert [x.batch for x in costs.latency] == [1, 8]
    for x in costs.latency:
        assert x.runs == FAST.repeats and x.warmup == FAST.warmup and x.threads == 1
        assert 0 < x.min_ms <= x.q1_ms <= x.median_ms <= x.q3_ms
        assert x.spread >= 0
    assert costs.latency_ms == costs.latency[0].median_ms


def test_latency_of_the_same_graph_repeats_and_its_graph_figures_are_identical(
        example_onnx: Callable[[str], Path], isolation: Isolation) -> None:
    path = example_onnx("mnist1d_cnn")
    a, b = (measure_costs(path, FAST, isolation=isolation, latency=True) for _ in range(2))

    assert a.model_dump(exclude={"latency"}) == b.model_dump(exclude={"latency"})
    assert a.latency_ms is not None and b.latency_ms is not None
    # Relative, not a wall-clock bound: medians of one thread on the same graph agree within a
    # factor that only a broken measurement (a first-run cost timed, a wrong batch) exceeds.
    assert max(a.latency_ms, b.latency_ms) / min(a.latency_ms, b.latency_ms) < 3


def test_without_latency_no_process_is_started_and_nothing_is_timed(example_onnx: Callable[[str], Path]) -> None:
    before = descendants(os.getpid())
    costs = measure_costs(example_onnx("mnist1d_cnn"))

    assert costs.latency == [] and costs.latency_error is None and costs.latency_ms is None
    assert descendants(os.getpid()) == before


def test_peak_memory_keeps_a_skip_branch_alive_while_the_other_branch_runs(tmp_path: Path) -> None:
    # x -> a = Relu(x) -> b = Sigmoid(a) -> c = Tanh(b) -> y = Add(a, c): `a` lives until the Add.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000])
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["a"], ["b"]),
             helper.make_node("Tanh", ["b"], ["c"]), helper.make_node("Add", ["a", "c"], ["y"])]
    costs = measure_costs(save(helper.make_graph(nodes, "skip", [x], [y]), tmp_path / "skip.onnx"))

    # While Tanh runs: a, b and c are alive (x was freed after Relu): 3 x 4000 bytes.
    assert (costs.peak_activation_bytes, costs.peak_complete) == (3 * 4000, True)
    assert (costs.params, costs.macs) == (0, 0)


def test_a_graph_that_fixes_its_batch_inside_has_batch_one_latency_and_says_why_not_the_other(
        tmp_path: Path, isolation: Isolation) -> None:
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 2, 3])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 6])
    shape = numpy_helper.from_array(np.array([1, 6], np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["input", "shape"], ["logits"])], "fixed", [x], [y],
                              [shape])
    costs = measure_costs(save(graph, tmp_path / "fixed.onnx"), FAST, isolation=isolation, latency=True)

    assert [x.batch for x in costs.latency] == [1]
    assert costs.latency_error is not None and costs.latency_error.startswith("batch 8: ")


def test_a_corrupt_file_is_a_load_error_naming_it(tmp_path: Path, isolation: Isolation) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07not a model" * 20)

    with pytest.raises(OnnxLoadError, match="model.onnx"):
        measure_costs(path, FAST, isolation=isolation, latency=True)


def test_a_graph_that_allocates_without_end_gives_a_latency_error_and_keeps_its_graph_figures(
        tmp_path: Path, isolation: Isolation) -> None:
    # A valid graph that asks the runtime for 160 GB at its first run.
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [])
    shape = numpy_helper.from_array(np.array([200_000, 200_000], np.int64), "shape")
    nodes = [helper.make_node("Expand", ["input", "shape"], ["big"]),
             helper.make_node("ReduceSum", ["big"], ["logits"], keepdims=0)]
    path = save(helper.make_graph(nodes, "big", [x], [y], [shape]), tmp_path / "big.onnx")
    before = descendants(os.getpid())
    costs = measure_costs(path, FAST, isolation=isolation, latency=True)

    assert costs.latency == [] and costs.latency_error is not None and "batch 1" in costs.latency_error
    assert costs.peak_activation_bytes >= 200_000 * 200_000 * 4  # the graph alone tells
    assert descendants(os.getpid()) == before


def test_a_graph_that_never_ends_is_killed_at_the_timeout_and_leaves_no_process(
        tmp_path: Path, isolation: Isolation) -> None:
    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1]) for n in ("v_in", "v_out")]
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), value[0]],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), value[1]],
        [numpy_helper.from_array(np.ones((1, 1), np.float32), "one")])
    weights = [numpy_helper.from_array(np.array(10**15, np.int64), "trip"),
               numpy_helper.from_array(np.array(True), "go")]
    graph = helper.make_graph([helper.make_node("Loop", ["trip", "go", "input"], ["logits"], body=body)], "loop",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1])], weights)
    before = descendants(os.getpid())
    costs = measure_costs(save(graph, tmp_path / "loop.onnx"), CostsConfig(timeout_s=3), isolation=isolation,
                          latency=True)

    assert costs.latency == []
    assert costs.latency_error == "the latency measurement took longer than 3 s and was killed"
    assert descendants(os.getpid()) == before


def test_costs_kept_beside_a_graph_read_back_the_same_and_a_damaged_file_reads_as_none(
        example_onnx: Callable[[str], Path], tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(example_onnx("mnist1d_cnn").read_bytes())
    costs = measure_costs(path)
    write_costs_beside(path, costs)

    assert read_costs_beside(path) == costs
    (tmp_path / "costs.json").write_text('{"params": -1}')
    assert read_costs_beside(path) is None
    assert read_costs_beside(None) is None


def test_a_transpose_the_exporter_wrote_with_a_negative_axis_is_timed_not_refused(
        tmp_path: Path, isolation: Isolation) -> None:
    # torch writes x.transpose(1, -1) as perm [0, -1, 1] at times; ONNX Runtime refuses that graph
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 20, 72])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 72, 20])
    node = helper.make_node("Transpose", ["input"], ["logits"], perm=[0, -1, 1])
    model = helper.make_model(helper.make_graph([node], "neg", [x], [y]), opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "neg.onnx"
    onnx.save(model, path)  # not checked: the checker refuses it too
    costs = measure_costs(path, FAST, isolation=isolation, latency=True)
    assert costs.latency_error is None and [x.batch for x in costs.latency] == [1, 8]
    assert onnx.load(path).graph.node[0].attribute[0].ints == [0, -1, 1]  # the candidate's file is left as it was
