"""Latency through torch on the evaluation device: the check traces the candidate's model in its
sandbox (model.ts beside model.onnx), and the trusted side times that archive in a confined
process of its own. The archive came out of the candidate's sandbox, so it is as hostile as the
candidate: a file that is no archive, one that allocates without end and one that never ends
each give a latency error, never a crash or a leftover process."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
from proctree import descendants
from torch import nn

from agentnas.config import CostsConfig
from agentnas.encode.costs import measure_costs, torch_inputs
from agentnas.encode.onnx_load import load_onnx
from agentnas.evaluator import Isolation
from agentnas.evaluator.latency import TORCHSCRIPT_FILE

from .conftest import GOOD_MODEL, open_evaluator

FAST = CostsConfig(repeats=10, warmup=2, batch_sizes=(1, 4), timeout_s=60)


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, isolation: Isolation) -> Path:
    """The ONNX path of the good model, checked in the sandbox with its trace asked for."""
    folder = tmp_path_factory.mktemp("torch-latency")
    (folder / "model.py").write_text(GOOD_MODEL)
    ev = open_evaluator(isolation.name, cache_dir, out_dir=folder / "out", check_only=True, require_export=True,
                        export_torchscript=True)
    with ev:
        result = ev.evaluate([folder / "model.py"])[0]
    assert result.ok and result.onnx_path is not None, result.failure
    return Path(result.onnx_path)


def _scripted(tmp_path: Path, module: nn.Module, onnx_from: Path) -> Path:
    """A TorchScript archive of `module` beside a copy of a real graph (the graph is timed too)."""
    graph = tmp_path / "model.onnx"
    graph.write_bytes(onnx_from.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(module), str(tmp_path / TORCHSCRIPT_FILE))
    return graph


def test_the_check_traces_the_model_and_its_latency_is_timed_through_both_engines(
        checked: Path, isolation: Isolation) -> None:
    assert checked.with_name(TORCHSCRIPT_FILE).is_file()
    costs = measure_costs(checked, FAST, isolation=isolation, latency=True, torch_device="cpu")

    assert costs.latency_error is None
    assert sorted((x.engine, x.batch) for x in costs.latency) == [
        ("onnxruntime-cpu", 1), ("onnxruntime-cpu", 4), ("torch-cpu", 1), ("torch-cpu", 4)]
    for x in costs.latency:
        assert x.runs == FAST.repeats and x.threads == 1 and 0 < x.min_ms <= x.median_ms <= x.q3_ms
    assert costs.latency_ms == costs.latency_at(1).median_ms  # type: ignore[union-attr]
    assert costs.torch_latency_ms == costs.latency_at(1, "torch").median_ms  # type: ignore[union-attr]
    assert costs.value("torch_latency_ms") == costs.torch_latency_ms != costs.latency_ms


def test_only_torch_is_timed_when_onnx_runtime_is_not_asked_for(checked: Path, isolation: Isolation) -> None:
    costs = measure_costs(checked, FAST, isolation=isolation, latency=False, torch_device="cpu")
    assert {x.engine for x in costs.latency} == {"torch-cpu"} and costs.latency_ms is None


def test_without_the_trace_asked_for_the_check_leaves_no_archive_and_torch_says_why(
        tmp_path: Path, cache_dir: Path, isolation: Isolation) -> None:
    (tmp_path / "model.py").write_text(GOOD_MODEL)
    with open_evaluator(isolation.name, cache_dir, out_dir=tmp_path / "out", check_only=True,
                        require_export=True) as ev:
        result = ev.evaluate([tmp_path / "model.py"])[0]
    assert result.onnx_path is not None and not Path(result.onnx_path).with_name(TORCHSCRIPT_FILE).exists()
    costs = measure_costs(result.onnx_path, FAST, isolation=isolation, torch_device="cpu")
    assert costs.latency == [] and "no traced model" in (costs.latency_error or "")


def test_the_traced_model_takes_the_graphs_input_at_each_batch_size(checked: Path) -> None:
    assert torch_inputs(load_onnx(checked), (1, 4)) == [(1, [1, 1, 8, 8], "float32"), (4, [4, 1, 8, 8], "float32")]


def test_a_file_that_is_no_archive_is_a_latency_error_and_the_graph_figures_stay(
        tmp_path: Path, checked: Path, isolation: Isolation) -> None:
    graph = tmp_path / "model.onnx"
    graph.write_bytes(checked.read_bytes())
    (tmp_path / TORCHSCRIPT_FILE).write_bytes(b"PK\x03\x04 not a zip at all" * 100)
    costs = measure_costs(graph, FAST, isolation=isolation, latency=True, torch_device="cpu")

    assert "cannot load the traced model" in (costs.latency_error or "")
    assert {x.engine for x in costs.latency} == {"onnxruntime-cpu"} and costs.params > 0


class _Hog(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = 200_000 + int(x.numel() * 0)
        return torch.ones(n, n).sum() + x.sum()  # 160 GB at the first run


class _Spin(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        while bool(y.sum() > -1.0):  # never false
            y = y + 1.0
        return y


def test_an_archive_that_allocates_without_end_gives_a_latency_error_and_leaves_no_process(
        tmp_path: Path, checked: Path, isolation: Isolation) -> None:
    before = descendants(os.getpid())
    costs = measure_costs(_scripted(tmp_path, _Hog(), checked), FAST, isolation=isolation, torch_device="cpu")

    assert costs.latency == [] and "torch batch 1" in (costs.latency_error or "")
    assert descendants(os.getpid()) == before


def test_an_archive_that_never_ends_is_killed_at_the_timeout_and_leaves_no_process(
        tmp_path: Path, checked: Path, isolation: Isolation) -> None:
    before = descendants(os.getpid())
    costs = measure_costs(_scripted(tmp_path, _Spin(), checked), CostsConfig(timeout_s=8), isolation=isolation,
                          torch_device="cpu")

    assert costs.latency == []
    assert costs.latency_error == "torch: the latency measurement took longer than 8 s and was killed"
    assert descendants(os.getpid()) == before
