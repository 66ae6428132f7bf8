"""Structural features of a graph: parameters, size, depth, op mix and a FLOPs estimate.

FLOPs convention: multiply-accumulates (MACs), one per weight use, bias and activation
functions not counted, for the graph's own input shape (the sandbox exports batch 1).
Counted for Conv, ConvTranspose, Gemm, MatMul, RNN, GRU and LSTM; other ops add 0. A
symbolic or unknown dimension counts as 1 and clears `flops_complete`, as does a counted
op whose shapes are unknown. This is half of what `torch.utils.flop_counter` reports
(it counts a multiply-add as 2 FLOPs).
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from pydantic import BaseModel, ConfigDict, Field

from agentnas.encode.folding import Shape, is_float_type
from agentnas.encode.graph import GraphView, op_label
from agentnas.encode.onnx_load import iter_graphs

# The fixed op vocabulary of the feature vector; anything else is counted as "other".
OP_VOCAB: tuple[str, ...] = (
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "RNN", "GRU", "LSTM",
    "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Gelu", "Erf", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
    "Softplus", "Mish", "Clip", "Softmax", "LogSoftmax",
    "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax",
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Where",
    "Concat", "Split", "Slice", "Gather", "Pad", "Resize", "Reshape", "Flatten", "Transpose", "Squeeze",
    "Unsqueeze", "Expand", "Tile", "Dropout",
)
SCALAR_FEATURES = ("log_params", "log_flops", "log_depth", "log_compute_nodes")
FEATURE_NAMES: tuple[str, ...] = (*SCALAR_FEATURES, *(f"op_{op}" for op in OP_VOCAB), "op_other")
LOG_SCALE = math.log1p(1e9)  # a billion parameters or MACs maps to 1.0
_VOCAB_INDEX = {op: i for i, op in enumerate(OP_VOCAB)}


class GraphFeatures(BaseModel):
    """Counts read from the graph. `ops`, `depth` and `compute_nodes` are over compute
    nodes, after constant and shape plumbing is folded away (see graph.py)."""

    model_config = ConfigDict(frozen=True)

    params: int = Field(description="elements of floating-point initializers (weights and float buffers)")
    nodes: int = Field(description="nodes in the main graph as exported, plumbing included")
    compute_nodes: int
    depth: int = Field(description="longest chain of compute nodes from an input to an output")
    flops: int = Field(description="multiply-accumulates (see module docstring)")
    flops_complete: bool
    ops: dict[str, int] = Field(description="compute nodes per op type, sorted by name")

    def vector(self) -> np.ndarray:
        """log1p of the scalar counts over LOG_SCALE, then the op histogram as fractions over
        OP_VOCAB + other: both parts about unit size, like the text vector they sit beside."""
        hist = np.zeros(len(OP_VOCAB) + 1, dtype=np.float32)
        for op, count in self.ops.items():
            hist[_VOCAB_INDEX.get(op, len(OP_VOCAB))] += count
        total = hist.sum()
        if total:
            hist /= total
        counts = np.array([self.params, self.flops, self.depth, self.compute_nodes], dtype=np.float64)
        scalars = np.log1p(counts) / LOG_SCALE
        return np.concatenate([scalars.astype(np.float32), hist])


def _numel(shape: Shape | None) -> tuple[int, bool]:
    """(product with unknown dims as 1, whether every dim was known)."""
    if shape is None:
        return 1, False
    known = all(isinstance(d, int) for d in shape)
    return math.prod(d if isinstance(d, int) else 1 for d in shape), known


def _node_macs(view: GraphView, node: onnx.NodeProto) -> tuple[int, bool]:
    """(MACs, shapes fully known) of one compute node."""
    op = node.op_type if node.domain in ("", "ai.onnx") else ""
    ins = [view.shape(n) if n else None for n in node.input]
    out = view.shape(node.output[0]) if node.output and node.output[0] else None
    if op == "Conv" and len(ins) > 1:
        (n_out, k1), (n_w, k2) = _numel(out), _numel(ins[1][1:] if ins[1] else None)
        return n_out * n_w, k1 and k2
    if op == "ConvTranspose" and len(ins) > 1:
        (n_in, k1), (n_w, k2) = _numel(ins[0]), _numel(ins[1][1:] if ins[1] else None)
        return n_in * n_w, k1 and k2
    if op in ("Gemm", "MatMul") and len(ins) > 1:
        a, b = ins[0], ins[1]
        trans = {x.name: x.i for x in node.attribute if x.name in ("transA", "transB")} if op == "Gemm" else {}
        # The inner dimension, from B (usually a weight, shape always known) or else from A.
        k: int | str | None = None
        if b and len(b) >= 2:
            k = b[-1] if trans.get("transB") else b[-2]
        if not isinstance(k, int) and a:
            k = a[0] if trans.get("transA") and len(a) > 1 else a[-1]
        if out is None:
            return 0, False
        n_out, known = _numel(out)
        return n_out * (k if isinstance(k, int) else 1), known and isinstance(k, int)
    if op in ("RNN", "GRU", "LSTM") and len(ins) > 2:
        x, w, r = ins[0], ins[1], ins[2]
        if x is None or len(x) < 2:
            return 0, False
        (n_w, k1), (n_r, k2) = _numel(w), _numel(r)
        steps, k3 = _numel(x[:2])  # (seq, batch) or (batch, seq): the product is the same
        return steps * (n_w + n_r), k1 and k2 and k3
    return 0, True


def _depth(view: GraphView) -> int:
    depth: list[int] = []
    for node in view.compute:  # canonical order is topological
        before = [depth[view.producer[n]] for n in view.data_inputs(node) if n in view.producer]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


def graph_features(model: onnx.ModelProto, view: GraphView | None = None) -> GraphFeatures:
    """Structural features of `model` (pass `view` to reuse an analysis already made)."""
    view = view or GraphView.of(model)
    params = sum(math.prod(t.dims) for g in iter_graphs(model.graph) for t in g.initializer
                 if is_float_type(t.data_type))
    flops, complete = 0, True
    ops: dict[str, int] = {}
    for node in view.compute:
        macs, known = _node_macs(view, node)
        flops += macs
        complete = complete and known
        name = op_label(node)
        ops[name] = ops.get(name, 0) + 1
    return GraphFeatures(params=int(params), nodes=len(model.graph.node), compute_nodes=len(view.compute),
                         depth=_depth(view), flops=int(flops), flops_complete=complete,
                         ops=dict(sorted(ops.items())))
