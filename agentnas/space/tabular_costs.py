"""What a tabular space's architectures cost, told by the graph alone (no training): the
multiply-accumulates of each network, in the convention of agentnas.encode.features (one MAC
per weight use in Conv and Gemm/MatMul; BatchNorm, pooling, sums and activations add 0).

- NAS-Bench-201: counted from the network agentnas generates for the cell
  (agentnas.space.nb201, whose export the encoder reads): the stem, each cell's conv edges
  that can change the output, the two residual reductions and the classifier, for the
  task's input shape and classes. tests/space/test_tabular_costs.py checks the count
  against the exported ONNX graph's.
- NAS-Bench-Macro: the table's published `flops` (multiply-adds of convs and the linear
  layer on a 1x3x32x32 input) and `params`.
"""

from __future__ import annotations

from agentnas.space.nb201 import _CONVS, _NUM_NODES, _plan, parse_nb201

_STEM = 16
_CELLS_PER_STAGE = 5


def nb201_macs(arch: str, input_shape: tuple[int, ...] = (3, 32, 32), num_classes: int = 10) -> int:
    """MACs of the generated NB201 network for `arch` on one input of `input_shape`."""
    plan = _plan(parse_nb201(arch))
    per_cell_kernel = 0  # sum of k*k over the conv edges computed in one cell
    for node in range(1, _NUM_NODES):
        if plan.live[node]:
            per_cell_kernel += sum(_CONVS[e.op] ** 2 for e in plan.kept[node - 1] if e.op in _CONVS)
    in_ch, height, width = input_shape
    pixels = height * width
    macs = 9 * in_ch * _STEM * pixels  # the stem's 3x3 conv
    channels = _STEM
    for stage in range(3):
        if stage > 0:  # a residual reduction: two 3x3 convs and the 1x1 shortcut, at the halved size
            c_out = 2 * channels
            pixels //= 4
            macs += (9 * channels * c_out + 9 * c_out * c_out + channels * c_out) * pixels
            channels = c_out
        macs += _CELLS_PER_STAGE * per_cell_kernel * channels * channels * pixels
    return macs + channels * num_classes
