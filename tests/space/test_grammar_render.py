"""Rendered candidate files: they build, run, export and read like the contract says."""

from __future__ import annotations

import ast
from collections.abc import Callable

import onnx
import pytest
import torch
from grammar_support import SHAPES, build, forward_backward, small_proposer

from agentnas.space import Arch, analyse, render
from agentnas.space.grammar import (
    GLU,
    SE,
    Act,
    Attention,
    Branch,
    Conv,
    Head,
    Linear,
    Norm,
    Pool,
    Recurrent,
    Residual,
    Seq,
    Shuffle,
    Split,
    Stem,
)

# One tree using every op, structure and routing node of the grammar.
EVERYTHING = Arch(
    stem=Stem(out=16, kernel=5, norm="group"),
    body=Seq(children=(
        Residual(body=Seq(children=(Conv(dilation=2), Norm(), Act(kind="gelu"), Conv(kernel=5, groups=4)))),
        Residual(body=Seq(children=(Norm(kind="layer"), Attention(heads=2)))),
        Residual(body=Seq(children=(Norm(kind="layer"), Recurrent(cell="lstm", bidirectional=True)))),
        Conv(out=24, stride=2), Norm(kind="group", groups=4), Act(kind="silu"), Recurrent(),
        Branch(merge="concat", branches=(Conv(out=8, kernel=1), Seq(children=(Pool(stride=1, kind="avg"),
                                                                            Linear(out=16))))),
        Branch(merge="add", branches=(Conv(depthwise=True, kernel=7), GLU(kernel=3), Linear())),
        Split(parts=(GLU(out=8), Seq(children=(Conv(), Act(kind="tanh"))))), Shuffle(groups=4), SE(reduction=4),
        Pool(kind="max", stride=2), Residual(body=Seq(children=(Linear(out=32), Norm()))))),
    head=Head(pool="avgmax", hidden=16, act="silu"))


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_proposals_build_and_run_for_many_seeds(kind: str) -> None:
    shape = SHAPES[kind]
    proposer = small_proposer(shape)
    for seed in range(25):
        forward_backward(proposer.sample(seed=seed), shape)


@pytest.mark.parametrize("shape", [(1, 40), (1, 8, 8), (3, 17), (2, 5, 9)])
def test_every_grammar_node_renders_and_matches_its_parameter_count(shape: tuple[int, ...]) -> None:
    model = build(render(EVERYTHING, shape), shape)
    assert sum(p.numel() for p in model.parameters()) == analyse(EVERYTHING, shape, 10).params
    out = model(torch.randn(2, *shape))
    assert out.shape == (2, 10)


def test_same_tree_renders_to_the_same_bytes() -> None:
    a = render(EVERYTHING, (1, 40))
    again = Arch.model_validate_json(EVERYTHING.model_dump_json())
    assert render(again, (1, 40)) == a
    assert render(EVERYTHING, (1, 40)) != render(EVERYTHING, (1, 8, 8))


def test_rendered_code_imports_only_torch_and_math() -> None:
    tree = ast.parse(render(EVERYTHING, (1, 40)))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported == {"torch", "math"}
    assert "agentnas" not in render(EVERYTHING, (1, 40)).replace("# agentnas-arch:", "").replace(
        "agentnas's offline proposer", "")


def test_rendered_code_has_shape_comments() -> None:
    code = render(EVERYTHING, (1, 40))
    assert "# (16, 40)" in code and "# (24, 20)" in code and "(10,) logits" in code


@pytest.mark.parametrize("shape", [(1, 40), (1, 8, 8)])
def test_every_grammar_node_exports_to_onnx(shape: tuple[int, ...],
                                            onnx_export: Callable[[torch.nn.Module, tuple[int, ...]],
                                                                  onnx.ModelProto]) -> None:
    proto = onnx_export(build(render(EVERYTHING, shape), shape), shape)
    ops = {n.op_type for n in proto.graph.node}
    assert {"Conv", "Softmax", "Concat", "LSTM", "GRU"} <= ops


def test_model_adapts_to_another_length_of_the_same_rank() -> None:
    arch = Arch(stem=Stem(out=8), body=Seq(children=(Conv(stride=2), Act(), Pool(stride=2))),
                head=Head(pool="flatten"))
    model = build(render(arch, (1, 40)), (2, 37))
    assert model(torch.randn(3, 2, 37)).shape == (3, 10)


def test_wrong_input_rank_is_a_clear_build_error() -> None:
    with pytest.raises(ValueError, match=r"\(channels, length\) inputs"):
        build(render(EVERYTHING, (1, 40)), (1, 8, 8))


def test_vector_inputs_render_dense_and_signal_stems() -> None:
    for stem in (Stem(kind="dense", out=16), Stem(kind="signal", out=8, kernel=3)):
        arch = Arch(stem=stem, body=Residual(body=Seq(children=(Linear(out=32), Act(), Linear(out=16)))),
                    head=Head(pool="flatten"))
        model = build(render(arch, (20,)), (20,))
        assert sum(p.numel() for p in model.parameters()) == analyse(arch, (20,), 10).params
        assert model(torch.randn(4, 20)).shape == (4, 10)
