"""The scale-free structural features (encode/structure.py), on small graphs whose answers
can be counted by hand."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from encode_support import Export
from torch import nn

from agentnas.encode import FEATURE_NAMES, graph_features, load_onnx
from agentnas.encode.features import GRAPH_FEATURE_NAMES


class Residual(nn.Module):
    """stem conv -> `blocks` x (x + conv(relu(conv(x)))) -> pool -> linear."""

    def __init__(self, blocks: int, width: int = 8, kernel: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.convs = nn.ModuleList(nn.Sequential(nn.Conv2d(width, width, kernel, padding=kernel // 2), nn.ReLU(),
                                                 nn.Conv2d(width, width, kernel, padding=kernel // 2))
                                   for _ in range(blocks))
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)                          # (B, width, 8, 8)
        for conv in self.convs:
            h = h + conv(h)                       # (B, width, 8, 8)
        out: torch.Tensor = self.head(h.mean((2, 3)))   # (B, 10)
        return out


class Chain(nn.Module):
    """The same layers as Residual, without the skips."""

    def __init__(self, blocks: int, width: int = 8) -> None:
        super().__init__()
        self.inner = Residual(blocks, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inner.stem(x)
        for conv in self.inner.convs:
            h = conv(h)
        out: torch.Tensor = self.inner.head(h.mean((2, 3)))
        return out


def test_residual_blocks_are_counted_as_merges_paths_and_a_short_route(export: Export) -> None:
    f = graph_features(export(Residual(3), (3, 8, 8)))
    # stem + 3 blocks of 2 convs + head on the long route; stem + head along the skips
    assert (f.param_depth, f.param_depth_min, f.merges) == (8, 2, 3)
    assert f.log_paths == pytest.approx(math.log(2 ** 3))
    chain = graph_features(export(Chain(3), (3, 8, 8)))
    assert (chain.param_depth, chain.param_depth_min, chain.merges, chain.log_paths) == (8, 8, 0, 0.0)
    assert chain.params == f.params and chain.flops == f.flops


def test_activations_and_layer_outputs_count_elements_per_input(export: Export) -> None:
    f = graph_features(export(Residual(2, width=4), (3, 8, 8)))
    assert f.activations == 2 * 4 * 8 * 8                  # one ReLU per block, on (4, 8, 8)
    assert f.layer_outputs == 5 * 4 * 8 * 8 + 10           # five convs and the head


def test_kernel_mix_and_widest_layer_share(export: Export) -> None:
    model = nn.Sequential(nn.Conv2d(3, 6, 1), nn.Conv2d(6, 6, 5, padding=2, groups=6), nn.Flatten(),
                          nn.Linear(6 * 4 * 4, 10))
    f = graph_features(export(model, (3, 4, 4)))
    k1, k5 = 6 * 16 * 3, 6 * 16 * 25
    assert f.kernel_mix == pytest.approx({"k1": k1 / (k1 + k5), "k5": k5 / (k1 + k5), "grouped": k5 / (k1 + k5)})
    assert f.widest_layer_share == pytest.approx((96 * 10 + 10) / f.params)


def test_attention_scores_are_not_a_parametric_layer(export: Export) -> None:
    class Attend(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q = self.proj(x)                                   # (B, T, 8)
            out: torch.Tensor = torch.softmax(q @ q.transpose(1, 2), -1) @ q   # (B, T, 8)
            return out.mean(1)

    f = graph_features(export(Attend(), (5, 8)))
    assert f.param_depth == 1 and f.ops.get("MatMul", 0) >= 2


def test_feature_vector_has_one_value_per_graph_feature_name(example_onnx: Callable[[str], Path]) -> None:
    for name in ("mnist1d_cnn", "mnist1d_gru", "digits_mlp"):
        v = graph_features(load_onnx(example_onnx(name))).vector()
        assert v.shape == (len(GRAPH_FEATURE_NAMES),) and np.isfinite(v).all()
        assert FEATURE_NAMES[: len(GRAPH_FEATURE_NAMES)] == GRAPH_FEATURE_NAMES


def test_a_gru_counts_its_gates_as_activations(example_onnx: Callable[[str], Path]) -> None:
    f = graph_features(load_onnx(example_onnx("mnist1d_gru")))
    assert f.activations > 0 and f.param_depth >= 2
