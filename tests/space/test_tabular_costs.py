"""The costs a tabular space's architectures have before training (space.tabular_costs)."""

from __future__ import annotations

import io
from pathlib import Path

import onnx
import pytest
import torch

from agentnas.encode.costs import graph_costs
from agentnas.encode.onnx_load import infer_shapes_or_keep
from agentnas.space import nb201_source
from agentnas.space.tabular_costs import nb201_macs
from agentnas.tasks import TabularTask, TaskError, get_task

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|",  # node 1's conv is dead
]


def _exported_macs(arch: str, shape: tuple[int, int, int], classes: int) -> int:
    namespace: dict[str, object] = {}
    exec(compile(nb201_source(arch), "<nb201>", "exec"), namespace)  # noqa: S102 - our own generated code
    model = namespace["build_model"](shape, classes).eval()  # type: ignore[operator]
    buf = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(1, *shape),), buf, dynamo=False)
    return graph_costs(infer_shapes_or_keep(onnx.load_from_string(buf.getvalue())), 0).macs


@pytest.mark.parametrize("arch", CELLS)
@pytest.mark.parametrize(("shape", "classes"), [((3, 32, 32), 10), ((3, 16, 16), 120)])
def test_nb201_macs_are_those_of_the_exported_network(arch: str, shape: tuple[int, int, int], classes: int) -> None:
    assert nb201_macs(arch, shape, classes) == _exported_macs(arch, shape, classes)


def test_a_dead_conv_costs_nothing() -> None:
    identity = "|none~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert nb201_macs(CELLS[2]) == nb201_macs(identity)


def test_tabular_tasks_tell_their_costs_and_refuse_unknown_ones(bench_data: Path) -> None:
    nb201 = get_task("nb201-cifar10")
    assert isinstance(nb201, TabularTask)
    lo, hi = nb201.cost_range("macs")
    assert lo == nb201_macs("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|") and hi == nb201_macs(CELLS[0])
    with pytest.raises(TaskError, match="knows no cost 'latency_ms'"):
        nb201.cost(CELLS[0], "latency_ms")
    with pytest.raises(TaskError, match="not an architecture"):
        nb201.cost("|bogus|", "macs")
    macro = get_task("macro-cifar10")
    assert isinstance(macro, TabularTask)
    assert macro.cost("00000000", "params") < macro.cost("22222222", "params")
