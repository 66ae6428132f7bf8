"""Structural features of a graph: parameters, size, depth, op mix, a FLOPs estimate, and
the scale-free structure of structure.py (activations, parametric depth, merges, paths,
kernel mix), which carry over from one search space to another better than the op mix.

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
from agentnas.encode.structure import analyse
from agentnas.evaluator.proxies import PROXY_FEATURE_NAMES

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
SCALAR_FEATURES = ("log_params", "log_flops", "log_depth", "log_compute_nodes", "log_activations",
                   "log_layer_outputs", "log_param_depth", "log_param_depth_min", "log_merges", "log_paths")
SHARE_FEATURES = ("widest_layer_share", "kernel_k1", "kernel_k3", "kernel_k5", "kernel_grouped")
GRAPH_FEATURE_NAMES: tuple[str, ...] = (*SCALAR_FEATURES, *SHARE_FEATURES, *(f"op_{op}" for op in OP_VOCAB),
                                        "op_other")
# The whole structural vector of an encoding: what the graph says, then the zero-cost
# proxies measured on the built model (proxies.py; imputed when a graph comes without them).
FEATURE_NAMES: tuple[str, ...] = (*GRAPH_FEATURE_NAMES, *PROXY_FEATURE_NAMES)
# Bump when a feature is added, removed or computed differently: caches of encodings are
# keyed by it, so vectors of two definitions are never mixed.
FEATURES_VERSION = 2
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
    activations: int = Field(default=0, description="elements entering nonlinear activations (structure.py)")
    layer_outputs: int = Field(default=0, description="elements written by parametric layers")
    param_depth: int = Field(default=0, description="parametric layers on the longest input-output path")
    param_depth_min: int = Field(default=0, description="parametric layers on the shortest input-output path")
    merges: int = Field(default=0, description="nodes joining two or more computed tensors")
    log_paths: float = Field(default=0.0, description="log of the number of input-output paths")
    widest_layer_share: float = Field(default=0.0, description="largest share of the parameters in one node")
    kernel_mix: dict[str, float] = Field(default_factory=dict,
                                         description="shares of conv MACs: k1, k3 (<= 9 taps), k5, grouped")

    def vector(self) -> np.ndarray:
        """The GRAPH_FEATURE_NAMES part of the vector: log1p of the counts over LOG_SCALE (log
        paths over ln 1e9), the shares, then the op histogram as fractions over OP_VOCAB +
        other: all about unit size, like the text vector they sit beside."""
        hist = np.zeros(len(OP_VOCAB) + 1, dtype=np.float32)
        for op, count in self.ops.items():
            hist[_VOCAB_INDEX.get(op, len(OP_VOCAB))] += count
        total = hist.sum()
        if total:
            hist /= total
        counts = np.array([self.params, self.flops, self.depth, self.compute_nodes, self.activations,
                           self.layer_outputs, self.param_depth, self.param_depth_min, self.merges],
                          dtype=np.float64)
        scalars = np.append(np.log1p(counts) / LOG_SCALE, self.log_paths / math.log(1e9))
        shares = np.array([self.widest_layer_share, *(self.kernel_mix.get(k, 0.0) for k in
                                                       ("k1", "k3", "k5", "grouped"))])
        return np.concatenate([scalars.astype(np.float32), shares.astype(np.float32), hist])


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
    structure = analyse(view, int(params))
    return GraphFeatures(params=int(params), nodes=len(model.graph.node), compute_nodes=len(view.compute),
                         depth=_depth(view), flops=int(flops), flops_complete=complete,
                         ops=dict(sorted(ops.items())), activations=structure.activations,
                         layer_outputs=structure.layer_outputs, param_depth=structure.param_depth,
                         param_depth_min=structure.param_depth_min, merges=structure.merges,
                         log_paths=structure.log_paths, widest_layer_share=structure.widest_layer_share,
                         kernel_mix=structure.kernel_mix)
