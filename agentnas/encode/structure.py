"""Walks over the compute DAG of a `GraphView`: the structure behind the scalar features.

All counts are for the graph's own input shape (the sandbox exports batch 1), over compute
nodes after plumbing is folded (graph.py), and every one is defined for any graph, not
for one search space:

- activations: elements entering nonlinear activation ops (ReLU, GELU, sigmoid, tanh, ...;
  RNN cells count their gates). "Activations" in the sense of Dollár et al. (2021): how
  much a network computes per input besides its multiply-adds.
- layer outputs: elements written by parametric layers (conv, linear, matmul with a weight).
- parametric depth: parametric layers on the longest and on the shortest input→output
  path (a residual network is deep along one and shallow along the other).
- merges: nodes that join two or more computed tensors (Add, Sum, Concat, Mul of two
  activations, ...): skip connections and branches.
- paths: log of the number of distinct input→output paths (an ensemble-of-paths view).
- widest layer share: the largest share of the parameters held by one node.
- kernel mix: shares of convolution multiply-adds by kernel size (1, ≤9 taps, more) and in
  depthwise/grouped convolutions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import onnx

from agentnas.encode.folding import Shape, is_float_type
from agentnas.encode.graph import GraphView

PARAMETRIC = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "RNN", "GRU", "LSTM"})
ACTIVATIONS = frozenset({
    "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "Erf", "Sigmoid", "HardSigmoid", "HardSwish",
    "Tanh", "Softplus", "Softsign", "Mish", "Clip", "ThresholdedRelu", "Swish",
})
MERGES = frozenset({"Add", "Sum", "Sub", "Mul", "Div", "Concat", "Max", "Min", "Mean"})
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


@dataclass
class Structure:
    activations: int = 0
    layer_outputs: int = 0
    param_depth: int = 0
    param_depth_min: int = 0
    merges: int = 0
    log_paths: float = 0.0
    widest_layer_share: float = 0.0
    kernel_mix: dict[str, float] = field(default_factory=dict)


def _numel(shape: Shape | None) -> int:
    if shape is None:
        return 0
    return math.prod(d if isinstance(d, int) else 1 for d in shape)


def _op(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else ""


def _weights(view: GraphView, node: onnx.NodeProto) -> int:
    """Float elements of the node's folded (weight) inputs."""
    total = 0
    for name in node.input:
        folded = view.static.get(view.resolve(name)) if name else None
        if folded is not None and is_float_type(folded.elem_type):
            total += folded.numel or 0
    return total


def _is_parametric(view: GraphView, node: onnx.NodeProto) -> bool:
    op = _op(node)
    if op not in PARAMETRIC:
        return False
    # A MatMul of two activations (attention scores) holds no weights: not a layer.
    return op not in ("MatMul", "Einsum") or _weights(view, node) > 0


def _rnn_activations(view: GraphView, node: onnx.NodeProto) -> int:
    x = view.shape(node.input[0]) if node.input else None
    r = view.shape(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if x is None or len(x) < 2 or r is None or len(r) < 3:
        return 0
    directions, hidden = r[0], r[-1]
    if not isinstance(directions, int) or not isinstance(hidden, int):
        return 0
    return _numel(x[:2]) * directions * hidden * (_GATES[_op(node)] + 1)


def _kernel_mix(view: GraphView, node: onnx.NodeProto, mix: dict[str, float]) -> None:
    w = view.shape(node.input[1]) if len(node.input) > 1 else None
    out = view.shape(node.output[0]) if node.output else None
    if w is None or len(w) < 3:
        return
    macs = float(_numel(out) * _numel(w[1:]))
    taps = _numel(w[2:])
    key = "k1" if taps == 1 else ("k3" if taps <= 9 else "k5")
    mix[key] = mix.get(key, 0.0) + macs
    groups = next((a.i for a in node.attribute if a.name == "group"), 1)
    if groups > 1:
        mix["grouped"] = mix.get("grouped", 0.0) + macs


def analyse(view: GraphView, params: int) -> Structure:
    s = Structure()
    longest: list[int] = []
    shortest: list[int] = []
    paths: list[int] = []
    widest = 0
    mix: dict[str, float] = {}
    inputs = set(view.inputs)
    for node in view.compute:  # canonical order is topological
        op = _op(node)
        data = view.data_inputs(node)
        preds = [view.producer[n] for n in data if n in view.producer]
        from_input = any(n in inputs for n in data)
        layer = _is_parametric(view, node)
        step = 1 if layer else 0
        # Paths start at the graph inputs; a node fed only by constants or noise starts none.
        reach = [p for p in preds if paths[p] > 0]
        count = sum(paths[p] for p in reach) + (1 if from_input else 0)
        paths.append(count)
        if reach or from_input:
            longest.append(step + max((longest[p] for p in reach), default=0))
            shortest.append(step + min((shortest[p] for p in reach), default=0) if not from_input else step)
        else:
            longest.append(0)
            shortest.append(0)
        if op in ACTIVATIONS:
            s.activations += _numel(view.shape(data[0])) if data else 0
        elif op in _GATES:
            s.activations += _rnn_activations(view, node)
        if layer:
            s.layer_outputs += sum(_numel(view.shape(o)) for o in node.output[:1] if o)
            widest = max(widest, _weights(view, node))
        if op in ("Conv", "ConvTranspose"):
            _kernel_mix(view, node, mix)
        if op in MERGES and len({n for n in data if n in view.producer or n in inputs}) >= 2:
            s.merges += 1
    ends = [view.producer[o] for o in view.outputs if o in view.producer]
    if ends:
        s.param_depth = max(longest[i] for i in ends)
        s.param_depth_min = min(shortest[i] for i in ends)
        total_paths = sum(paths[i] for i in ends)
        s.log_paths = math.log(total_paths) if total_paths > 0 else 0.0
    s.widest_layer_share = widest / params if params else 0.0
    conv_macs = sum(v for k, v in mix.items() if k != "grouped")
    s.kernel_mix = {k: v / conv_macs for k, v in sorted(mix.items())} if conv_macs else {}
    return s
