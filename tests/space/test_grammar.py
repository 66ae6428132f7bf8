"""The grammar's trees: canonical JSON and hashes, validation, shape inference and repair."""

from __future__ import annotations

import json

import numpy as np
import pydantic
import pytest
from grammar_support import SHAPES, build

from agentnas.space import Arch, ShapeError, analyse, arch_from_json, arch_from_source, arch_hash, arch_json, repair
from agentnas.space.grammar import (
    GLU,
    SE,
    Act,
    Attention,
    Branch,
    Conv,
    Head,
    Identity,
    Linear,
    Norm,
    Pool,
    Residual,
    Seq,
    Shuffle,
    Split,
    Stem,
)
from agentnas.space.render import render


def test_equivalent_spellings_give_one_json_and_hash() -> None:
    a = Arch(body=Seq(children=(Seq(children=(Conv(kernel=5), Identity())),
                                Branch(merge="add", branches=(Conv(dilation=2), Linear())), Act())))
    b = Arch(body=Seq(children=(Conv(kernel=5), Branch(merge="add", branches=(Linear(), Conv(dilation=2))),
                                Seq(children=(Act(),)))))
    assert arch_json(a) == arch_json(b)
    assert arch_hash(a) == arch_hash(b)


def test_concatenated_branch_order_matters_for_the_hash() -> None:
    a = Arch(body=Branch(merge="concat", branches=(Conv(out=8), Linear(out=16))))
    b = Arch(body=Branch(merge="concat", branches=(Linear(out=16), Conv(out=8))))
    assert arch_hash(a) != arch_hash(b)


def test_ignored_fields_do_not_change_the_hash() -> None:
    assert arch_hash(Arch(body=Norm(kind="batch", groups=4))) == arch_hash(Arch(body=Norm(kind="batch")))
    assert arch_hash(Arch(body=Conv(depthwise=True, out=32))) == arch_hash(Arch(body=Conv(depthwise=True)))


def test_json_round_trip_keeps_the_tree() -> None:
    arch = Arch(stem=Stem(out=16, kernel=5), body=Seq(children=(
        Residual(body=Seq(children=(Conv(dilation=4), Norm(), Act(kind="gelu")))),
        Split(parts=(GLU(kernel=3), Conv(depthwise=True))), Shuffle(groups=2), SE(reduction=2),
        Pool(kind="avg", stride=2), Attention(heads=2))), head=Head(pool="avgmax", hidden=32))
    again = arch_from_json(arch_json(arch))
    assert arch_hash(again) == arch_hash(arch)
    assert arch_from_json(json.loads(arch_json(arch))) == again


@pytest.mark.parametrize("bad", [
    {"body": {"op": "conv", "kernel": 4}},           # even kernel
    {"body": {"op": "conv", "stride": 3}},           # strides are 1 or 2
    {"body": {"op": "teleport"}},                    # unknown op
    {"body": {"op": "seq", "children": []}},         # empty container
    {"body": {"op": "linear", "out": 0}},            # no channels
    {"body": {"op": "linear", "bias": False}},       # unknown field
])
def test_malformed_trees_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        arch_from_json(bad)


def test_shape_error_names_the_offending_node() -> None:
    arch = Arch(stem=Stem(out=12), body=Seq(children=(Conv(), Attention(heads=5))))
    with pytest.raises(ShapeError) as info:
        analyse(arch, (1, 40), 10)
    assert info.value.path == (1,)
    assert "heads" in str(info.value)


def test_convolutions_on_vectors_are_refused_then_repaired() -> None:
    arch = Arch(stem=Stem(kind="dense", out=16), body=Seq(children=(Conv(out=8, kernel=3), Pool(), Attention())),
                head=Head(pool="flatten"))
    with pytest.raises(ShapeError):
        analyse(arch, (20,), 10)
    fixed = repair(arch, (20,))
    assert analyse(fixed, (20,), 10).features.channels == 8
    assert [n.op for n in ([fixed.body] if not isinstance(fixed.body, Seq) else fixed.body.children)] == ["linear"]


def _mangled(rng: np.random.Generator, level: int = 0) -> object:
    """A random, often invalid tree: wrong groups, heads, ranks, mismatched branches."""
    out = [None, 6, 9, 16][int(rng.integers(4))]
    leaves = [Conv(out=out, groups=int(rng.choice([1, 3, 4])),
                   stride=int(rng.choice([1, 2])), dilation=int(rng.choice([1, 8])), kernel=int(rng.choice([1, 3, 7]))),
              Linear(out=int(rng.choice([5, 12]))), Norm(kind="group", groups=int(rng.choice([3, 8]))),
              Attention(heads=int(rng.choice([3, 4]))), Shuffle(groups=int(rng.choice([2, 3]))), Pool(stride=2),
              GLU(out=7, kernel=3), SE(), Act(kind="tanh"), Conv(depthwise=True, out=12)]
    if level > 2 or rng.random() < 0.5:
        return leaves[int(rng.integers(len(leaves)))]
    kids = tuple(_mangled(rng, level + 1) for _ in range(int(rng.integers(1, 4))))
    kind = int(rng.integers(4))
    if kind == 0:
        return Seq(children=kids)  # type: ignore[arg-type]
    if kind == 1:
        return Branch(merge=str(rng.choice(["add", "concat"])), branches=kids)  # type: ignore[arg-type]
    if kind == 2:
        return Split(parts=kids)  # type: ignore[arg-type]
    return Residual(body=kids[0])  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_repair_makes_any_tree_valid_for_the_input(kind: str) -> None:
    shape = SHAPES[kind]
    rng = np.random.default_rng(7)
    for i in range(25):
        stem = Stem(kind=str(rng.choice(["conv", "dense", "signal"])), out=int(rng.choice([6, 8, 12])))  # type: ignore[arg-type]
        arch = Arch(stem=stem, body=_mangled(rng), head=Head(pool=str(rng.choice(["avg", "max", "flatten"]))))  # type: ignore[arg-type]
        fixed = repair(arch, shape)
        stats = analyse(fixed, shape, 10)  # raises if still invalid
        assert repair(fixed, shape) == fixed, "repair must be idempotent"
        if i % 5 == 0:
            model = build(render(fixed, shape), shape)
            assert sum(p.numel() for p in model.parameters()) == stats.params


def test_rendered_file_carries_its_tree() -> None:
    arch = Arch(stem=Stem(out=8), body=Residual(body=Seq(children=(Conv(dilation=2), Norm(), Act()))))
    code = render(arch, (1, 40))
    again = arch_from_source(code)
    assert again is not None and arch_hash(again) == arch_hash(arch)
    assert arch_from_source("def build_model(s, n): ...\n") is None
