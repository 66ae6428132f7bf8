"""NAS-Bench-201 strings → candidate source: parsing, the generated network, its ONNX graph."""

from __future__ import annotations

import ast
import collections
import random
import types
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

from agentnas.space import NB201_OPS, Nb201Cell, load_nb201, nb201_source, parse_nb201

Loader = Callable[[str], types.ModuleType]
Exporter = Callable[[nn.Module, tuple[int, ...]], onnx.ModelProto]

ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NODE3_ALL_NONE = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"
SKIP_ONLY = "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"
SKIP_STRAIGHT = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
CONV_ON_ZERO_NODE = "|none~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|"
MIXED = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
EDGE_CASES = [ALL_CONV3, NODE3_ALL_NONE, SKIP_ONLY, SKIP_STRAIGHT, CONV_ON_ZERO_NODE, MIXED]


def _random_archs(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["+".join("|" + "|".join(f"{rng.choice(NB201_OPS)}~{j}" for j in range(i)) + "|" for i in (1, 2, 3))
            for _ in range(n)]


def _count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- parsing ---------------------------------------------------------------------------------------------------


def test_parse_reads_nodes_and_edges_in_order() -> None:
    cell = parse_nb201(MIXED)
    assert isinstance(cell, Nb201Cell)
    assert [[(e.op, e.source) for e in edges] for edges in cell.nodes] == [
        [("nor_conv_3x3", 0)],
        [("none", 0), ("skip_connect", 1)],
        [("avg_pool_3x3", 0), ("nor_conv_1x1", 1), ("none", 2)],
    ]
    assert cell.arch == MIXED


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ("", "node group"),
        ("|nor_conv_3x3~0|", "node group"),
        ("|nor_conv_3x3~0|+|none~0|none~1|", "node group"),
        (ALL_CONV3 + "+|none~0|", "node group"),
        ("nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "start and end"),
        ("|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", "needs 2 incoming"),
        ("|nor_conv_3x3~0|+|none~0|none~1|none~1|+|none~0|none~1|none~2|", "needs 2 incoming"),
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NB201 op 'conv_5x5'"),
        ("|nor_conv_3x3|+|none~0|none~1|+|none~0|none~1|none~2|", "op~source"),
        ("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must read from node 0"),
        ("|nor_conv_3x3~0|+|none~1|none~0|+|none~0|none~1|none~2|", "must read from node 0"),
    ],
)
def test_malformed_arch_raises_value_error_saying_why(arch: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_nb201(arch)
    with pytest.raises(ValueError, match=message):
        nb201_source(arch)


def test_non_string_arch_raises_value_error() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_nb201(123)  # type: ignore[arg-type]


def test_every_arch_in_the_table_parses_back_to_itself(bench_data: Path) -> None:
    archs = load_nb201("cifar10", bench_data)
    assert len(archs) == 15625
    assert all(parse_nb201(arch).arch == arch for arch in archs)


# ---- the generated source ----------------------------------------------------------------------------------------


def test_source_is_deterministic_and_embeds_the_arch() -> None:
    source = nb201_source(MIXED)
    assert source == nb201_source(MIXED)
    assert source == nb201_source(f"  {MIXED}\n")  # spacing around the string does not change the text
    assert source != nb201_source(ALL_CONV3)
    assert f'ARCH = "{MIXED}"' in source


def test_source_imports_only_torch() -> None:
    tree = ast.parse(nb201_source(MIXED))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"torch", "__future__"}


@pytest.mark.parametrize("arch", EDGE_CASES)
def test_built_model_gives_logits_for_a_cifar_batch(arch: str, candidate: Loader) -> None:
    model = candidate(nb201_source(arch)).build_model((3, 32, 32), 10)
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()


def test_input_shape_and_classes_come_from_build_model_arguments(candidate: Loader) -> None:
    module = candidate(nb201_source(MIXED))
    model = module.build_model((1, 16, 16), 120)  # ImageNet16-120-sized head, one input channel
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 120)
    with pytest.raises(ValueError, match="divisible by 4"):
        module.build_model((3, 30, 30), 10)
    with pytest.raises(ValueError, match="channels, height, width"):
        module.build_model((3, 32), 10)


def test_all_conv3x3_cell_has_the_nb201_parameter_count(candidate: Loader) -> None:
    # The NB201 API reports about 1.53 M parameters for this cell on CIFAR-10 (C=16, N=5);
    # counted by hand from the paper's skeleton it is 1,531,546.
    model = candidate(nb201_source(ALL_CONV3)).build_model((3, 32, 32), 10)
    assert _count_params(model) == 1_531_546


# ---- dead edges ----------------------------------------------------------------------------------------------------


class _ReferenceCell(nn.Module):
    """The NB201 reference semantics, unpruned: every edge built and run, `none` multiplies by 0."""

    def __init__(self, arch: str, channels: int) -> None:
        super().__init__()
        self.cell = parse_nb201(arch)
        for node, edges in enumerate(self.cell.nodes, start=1):
            for e in edges:
                if e.op.startswith("nor_conv_"):
                    k = int(e.op[-1])
                    conv = nn.Conv2d(channels, channels, k, padding=k // 2, bias=False)
                    setattr(self, f"edge_{node}_{e.source}", nn.Sequential(nn.ReLU(), conv, nn.BatchNorm2d(channels)))
                elif e.op == "avg_pool_3x3":
                    setattr(self, f"edge_{node}_{e.source}", nn.AvgPool2d(3, 1, 1, count_include_pad=False))

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        nodes = [x0]
        for node, edges in enumerate(self.cell.nodes, start=1):
            terms = [nodes[e.source] * 0.0 if e.op == "none" else nodes[e.source] if e.op == "skip_connect"
                     else getattr(self, f"edge_{node}_{e.source}")(nodes[e.source]) for e in edges]
            nodes.append(torch.stack(terms).sum(0))
        return nodes[-1]


def _randomize_batchnorms(model: nn.Module, seed: int) -> None:
    # Fresh BNs (shift 0, mean 0, var 1) would hide a dropped conv-on-zeros edge, whose output is BN's shift.
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            for name in ("weight", "bias", "running_mean", "running_var"):
                t = getattr(m, name)
                t.data.copy_(torch.randn(t.shape, generator=gen))
            m.running_var.data.abs_().add_(0.5)  # type: ignore[union-attr]


@pytest.mark.parametrize("arch", EDGE_CASES + _random_archs(24))
def test_pruned_cell_computes_what_the_unpruned_reference_computes(arch: str, candidate: Loader) -> None:
    generated = candidate(nb201_source(arch))
    model = generated.build_model((3, 8, 8), 10)
    reference_module = candidate(nb201_source(arch))
    reference_module.__dict__["Cell"] = lambda channels: _ReferenceCell(arch, channels)  # the skeleton builds these
    reference = reference_module.build_model((3, 8, 8), 10)
    _randomize_batchnorms(model, seed=0)
    _randomize_batchnorms(reference, seed=1)  # the reference's extra (dropped) edges get their own values
    result = reference.load_state_dict(model.state_dict(), strict=False)
    assert not result.unexpected_keys  # every generated module exists, under the same name, in the reference
    kept = {k.split(".")[2] for k in model.state_dict() if ".edge_" in k}
    assert all(k.split(".")[2] not in kept for k in result.missing_keys)  # only dropped edges are missing
    model.eval()
    reference.eval()
    x = torch.randn(4, 3, 8, 8)
    torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-5)


def test_dead_edges_leave_no_ops_in_the_model(candidate: Loader) -> None:
    source = nb201_source(NODE3_ALL_NONE)
    assert "x3: torch.Tensor = x0 * 0.0" in source
    cell = candidate(source).build_model((3, 32, 32), 10).cells[0]
    assert list(cell.children()) == []  # node 3 reads only `none` edges, so nodes 1 and 2 are not built


def test_skip_only_cell_is_the_identity(candidate: Loader) -> None:
    model = candidate(nb201_source(SKIP_ONLY)).build_model((3, 32, 32), 10)
    x = torch.randn(2, 16, 32, 32)
    assert torch.equal(model.cells[0](x), x)


# ---- ONNX ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "cell_convs"),
    [(MIXED, 2), (NODE3_ALL_NONE, 0), (SKIP_ONLY, 0), (SKIP_STRAIGHT, 0), (CONV_ON_ZERO_NODE, 2)],
)
def test_onnx_export_carries_only_the_live_cell_ops(
    arch: str, cell_convs: int, candidate: Loader, onnx_export: Exporter
) -> None:
    model = candidate(nb201_source(arch)).build_model((3, 32, 32), 10)
    ops = collections.Counter(node.op_type for node in onnx_export(model, (3, 32, 32)).graph.node)
    # stem 1 + two reduction blocks of 3 convs, plus the cell's convs in each of the 15 cells
    assert ops["Conv"] == 7 + 15 * cell_convs
    assert ops["Gemm"] == 1
