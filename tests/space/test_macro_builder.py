"""NAS-Bench-Macro codes → candidate source: parsing, the generated network, params and FLOPs vs the table."""

from __future__ import annotations

import ast
import collections
import itertools
import random
import types
from collections.abc import Callable, Iterable
from pathlib import Path

import onnx
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from agentnas.space import MacroRecord, load_macro, macro_source, parse_macro

Loader = Callable[[str], types.ModuleType]
Exporter = Callable[[nn.Module, tuple[int, ...]], onnx.ModelProto]

ALL_CODES = ["".join(digits) for digits in itertools.product("012", repeat=8)]


def _sample_codes(n: int = 40, seed: int = 0) -> list[str]:
    fixed = ["00000000", "11111111", "22222222"]
    rest = [c for c in ALL_CODES if c not in fixed]
    return fixed + random.Random(seed).sample(rest, n - len(fixed))


def _count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of the convs and linear layers (no bias, BN, ReLU, pooling or additions).

    Forward hooks rather than FlopCounterMode: the counter decomposes every BatchNorm in Python,
    which makes it about 3x slower, and the table counts no BN anyway.
    """
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += out.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            total += out.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return total


def _params_and_macs(module: types.ModuleType) -> tuple[int, int]:
    """Parameters, and multiply-adds on a 1x3x32x32 input.

    Built on the meta device: shapes only, no weight init or arithmetic. The forward runs outside
    the device context, which would otherwise intercept every call.
    """
    with torch.device("meta"):
        model = module.build_model((3, 32, 32), 10)
    macs = _count_macs(model.eval(), torch.empty(1, 3, 32, 32, device="meta"))
    return sum(p.numel() for p in model.parameters()), macs


def _compare_with_table(codes: Iterable[str], table: dict[str, MacroRecord], candidate: Loader) -> None:
    param_mismatch, flop_mismatch, n = [], [], 0
    for code in codes:
        params, macs = _params_and_macs(candidate(macro_source(code)))
        record = table[code]
        n += 1
        if params != record.params:
            param_mismatch.append((code, params, record.params))
        if macs != record.flops:
            flop_mismatch.append((code, macs, record.flops))
    print(f"NAS-Bench-Macro: {n} codes, {n - len(param_mismatch)} with equal params, "
          f"{n - len(flop_mismatch)} with equal FLOPs (multiply-adds)")
    assert not param_mismatch, f"{len(param_mismatch)} param mismatches, first: {param_mismatch[:5]}"
    # The table's FLOPs are exactly the conv and linear multiply-adds, so they match by construction.
    assert not flop_mismatch, f"{len(flop_mismatch)} FLOP mismatches, first: {flop_mismatch[:5]}"


# ---- parsing ---------------------------------------------------------------------------------------------------


def test_parse_gives_the_eight_layer_choices() -> None:
    assert parse_macro("01201201") == (0, 1, 2, 0, 1, 2, 0, 1)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "0 characters"),
        ("0120120", "7 characters"),
        ("012012012", "9 characters"),
        ("01201203", "contains '3'"),
        ("0120120a", "contains 'a'"),
        ("0120 120", "contains ' '"),
        (12012012, "must be a string"),
    ],
)
def test_malformed_code_raises_value_error_saying_why(code: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_macro(code)
    with pytest.raises(ValueError, match=message):
        macro_source(code)


def test_every_code_in_the_table_parses(bench_data: Path) -> None:
    table = load_macro(bench_data)
    assert sorted(table) == ALL_CODES
    assert all(len(parse_macro(code)) == 8 for code in table)


# ---- the generated source ----------------------------------------------------------------------------------------


def test_source_is_deterministic_and_embeds_the_code() -> None:
    source = macro_source("01201201")
    assert source == macro_source("01201201")
    assert source != macro_source("01201202")
    assert 'CODE = "01201201"' in source
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import)
                for alias in node.names}
    assert imported <= {"torch"}


@pytest.mark.parametrize("code", ["00000000", "11111111", "22222222", "01201201"])
def test_built_model_gives_logits_for_a_cifar_batch(code: str, candidate: Loader) -> None:
    model = candidate(macro_source(code)).build_model((3, 32, 32), 10)
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()


def test_input_shape_and_classes_come_from_build_model_arguments(candidate: Loader) -> None:
    module = candidate(macro_source("21021021"))
    assert module.build_model((1, 28, 28), 7)(torch.randn(2, 1, 28, 28)).shape == (2, 7)
    with pytest.raises(ValueError, match="channels, height, width"):
        module.build_model((3, 32), 10)


def test_identity_choice_is_skipped_when_shape_is_kept_and_projected_when_not(candidate: Loader) -> None:
    layers = candidate(macro_source("00000000")).build_model((3, 32, 32), 10).features
    assert [sum(p.numel() for p in layer.parameters()) for layer in layers] == [
        32 * 64 + 2 * 64, 0, 64 * 128 + 2 * 128, 0, 0, 128 * 256 + 2 * 256, 0, 0,
    ]


def test_own_mac_count_is_half_of_torch_flop_counter(candidate: Loader) -> None:
    model = candidate(macro_source("21021021")).build_model((3, 32, 32), 10).eval()
    x = torch.randn(1, 3, 32, 32)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    assert _count_macs(model, x) * 2 == counter.get_total_flops()  # what the sandbox reports as flops


# ---- against the table ------------------------------------------------------------------------------------------


def test_params_and_flops_equal_the_table_on_a_sample(bench_data: Path, candidate: Loader) -> None:
    _compare_with_table(_sample_codes(), load_macro(bench_data), candidate)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 35 ms a code: some minutes on a small machine
def test_params_and_flops_equal_the_table_for_every_code(bench_data: Path, candidate: Loader) -> None:
    _compare_with_table(ALL_CODES, load_macro(bench_data), candidate)


# ---- ONNX ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "convs"), [("00000000", 5), ("22222222", 26), ("01201201", 18)])
def test_onnx_export_works(code: str, convs: int, candidate: Loader, onnx_export: Exporter) -> None:
    model = candidate(macro_source(code)).build_model((3, 32, 32), 10)
    ops = collections.Counter(node.op_type for node in onnx_export(model, (3, 32, 32)).graph.node)
    assert ops["Conv"] == convs  # BN folds into its conv; nn.Identity leaves no node
    assert ops["Gemm"] == 1
