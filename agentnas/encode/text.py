"""ONNX graph -> ONNX-Net style text, deterministic and free of exporter names.

One line per chain of single-input ops; a new line wherever a value is shared or a node
takes several activations (those are named, `%v3 = Add(%v1, %v2)`); each line ends with
the shape of the value it names:

    %v0 = Input : [1,1,40]
    %v1 = Flatten(%v0)(axis=1) --> Gemm(W[256,40], B[256])(transB=1) --> Relu : [1,256]
    %v2 = Gemm(%v1, W[256,256], B[256])(transB=1) --> Relu : [1,256]
    %v3 = Add(%v1, %v2) --> Gemm(W[10,256], B[10])(transB=1) : [1,10]
    return %v3

Inside a chain the previous op's output is implicit (`--> Relu`). Weights appear as
shapes only (`W[25,1,5]`, named after the operator's input), never their numbers. Beyond
the reference writer:

- scalar and small attributes are kept (group, epsilon, axis, kernel_shape, ...); one equal
  to the schema default is dropped unless listed in `ALWAYS_KEEP`; lists longer than 8
  keep their first 4 and last 2 items and state their length;
- constant and shape plumbing is folded into the node that uses it (graph.py, folding.py):
  `Reshape(shape=[?,-1])` instead of Shape/Gather/Unsqueeze/Concat lines, and settings
  that opset 13+ passes as inputs read as attributes (`ReduceMean(axes=[2,3])`);
- a float scalar constant is written as a number (`Mul(0.5)`);
- symbolic and unknown dimensions are all written `?`, whatever the exporter named them;
- values are named v0, v1, ... in the canonical order of graph.py, and the operands of
  commutative ops are written activations first, so tensor names and operand order
  chosen by the exporter never show. The same model gives the same text, byte for byte.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx

from agentnas.encode.features import GraphFeatures, graph_features
from agentnas.encode.folding import MAX_INLINE, Folded, Shape, is_int_type
from agentnas.encode.graph import GraphView, clean, op_label
from agentnas.encode.onnx_load import iter_graphs

__all__ = ["GraphFeatures", "format_list", "graph_features", "onnx_to_text", "write_text"]

# Shown even when equal to the schema default: they say what kind of layer this is.
ALWAYS_KEEP = frozenset({"group", "epsilon", "momentum", "axis", "axes", "kernel_shape", "strides", "pads",
                         "dilations", "perm", "direction", "hidden_size", "mode"})
LIST_HEAD, LIST_TAIL = 4, 2   # long lists: first 4, "...", last 2, and the length
MAX_LIST = 8
ARROW = " --> "
# Clearer names than the schema's for the weight operand of the matrix products.
_ROLE_OVERRIDES = {("Gemm", 1): "W", ("Gemm", 2): "B", ("MatMul", 1): "W", ("MatMul", 0): "W"}
# Operand order carries no meaning here: activations first, a constant operand is "B"
# (exporters write `bias + x` and `x + bias` both ways).
_COMMUTATIVE = frozenset({"Add", "Mul", "Sum", "Max", "Min", "Mean", "And", "Or", "Xor", "Equal"})
# Inputs that are settings, never weights: their values are written out even when an
# exporter stored them as initializers (dynamo keeps Resize scales there).
SETTING_ROLES = frozenset({"shape", "axes", "starts", "ends", "steps", "pads", "scales", "sizes", "roi", "split",
                           "repeats", "K", "min", "max", "constant_value", "perm", "indices", "axis"})


def format_number(x: Any) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, bool | np.bool_):
        return str(int(x))
    if isinstance(x, int | np.integer):
        return str(int(x))
    return f"{float(x):.4g}"


def format_list(items: Sequence[Any]) -> str:
    """`[a,b,c]`; a long list keeps its head and tail and states its length, deterministically."""
    parts = [format_number(i) for i in items]
    if len(parts) > MAX_LIST:
        parts = [*parts[:LIST_HEAD], "...", *parts[-LIST_TAIL:]]
        return "[" + ",".join(parts) + f"](n={len(items)})"
    return "[" + ",".join(parts) + "]"


def format_shape(shape: Shape | None) -> str:
    return "?" if shape is None else format_list(shape)


@functools.lru_cache(maxsize=2048)
def _schema(op_type: str, domain: str, version: int) -> onnx.defs.OpSchema | None:
    try:
        return onnx.defs.get_schema(op_type, max_inclusive_version=version or onnx.defs.onnx_opset_version(),
                                    domain=domain)
    except Exception:
        return None


def _role(view: GraphView, node: onnx.NodeProto, position: int) -> str:
    if node.op_type in _COMMUTATIVE and not node.domain:
        return "B"
    if (node.op_type, position) in _ROLE_OVERRIDES and not node.domain:
        return _ROLE_OVERRIDES[(node.op_type, position)]
    schema = _schema(node.op_type, node.domain, view.opset(node.domain))
    if schema is None or not schema.inputs:
        return f"in{position}"
    formal = schema.inputs[min(position, len(schema.inputs) - 1)]  # a variadic last input repeats
    return str(formal.name)


def _format_attr_value(attr: onnx.AttributeProto) -> str:
    A = onnx.AttributeProto
    if attr.type == A.GRAPH:
        return f"<graph:{sum(len(g.node) for g in iter_graphs(attr.g))} nodes>"
    if attr.type == A.GRAPHS:
        return "[" + ",".join(f"<graph:{sum(len(s.node) for s in iter_graphs(g))} nodes>"
                              for g in attr.graphs) + "]"
    if attr.type in (A.TENSOR, A.SPARSE_TENSOR):
        t = attr.t if attr.type == A.TENSOR else attr.sparse_tensor.values
        dims = list(attr.t.dims) if attr.type == A.TENSOR else list(attr.sparse_tensor.dims)
        if int(np.prod(dims)) == 1 and attr.type == A.TENSOR:
            return format_number(onnx.numpy_helper.to_array(t).reshape(-1)[0])
        return f"tensor{format_list(dims)}"
    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return clean(value.decode("utf-8", "replace"))
    if isinstance(value, list):
        return format_list([clean(v.decode("utf-8", "replace")) if isinstance(v, bytes) else v for v in value])
    return format_number(value)


def _is_default(view: GraphView, node: onnx.NodeProto, attr: onnx.AttributeProto) -> bool:
    if attr.name in ALWAYS_KEEP:
        return False
    schema = _schema(node.op_type, node.domain, view.opset(node.domain))
    if schema is None or attr.name not in schema.attributes:
        return False
    default = schema.attributes[attr.name].default_value
    if not default.name:
        return False
    try:
        return bool(onnx.helper.get_attribute_value(default) == onnx.helper.get_attribute_value(attr))
    except Exception:
        return False


def _attributes(view: GraphView, node: onnx.NodeProto) -> list[str]:
    kept = [a for a in node.attribute if not _is_default(view, node, a)]
    return [f"{clean(a.name)}={_format_attr_value(a)}" for a in sorted(kept, key=lambda a: a.name)]


def _static_operand(folded: Folded, role: str) -> tuple[str | None, str | None]:
    """(positional, attribute) rendering of a folded input. Small int constants (shapes,
    axes, pads) and small float constants not computed from weights (Resize scales) become
    `role=value`; a scalar constant is a number (`Mul(0.5)`); the rest, weights above all,
    only a shape (`W[16,3,3,3]`)."""
    value = folded.value
    if value is not None and value.size == 1 and not is_int_type(folded.elem_type):
        # Even from an initializer: exporters store constants such as `x * 0.5` either way,
        # and a scalar is a setting of the architecture far more often than a weight.
        return format_number(value.reshape(-1)[0]), None
    if value is not None and value.ndim <= 1 and value.size <= MAX_INLINE \
            and (is_int_type(folded.elem_type) or not folded.from_weights or role in SETTING_ROLES):
        items = value.reshape(-1).tolist()
        return None, f"{role}={format_list(items) if value.ndim else format_number(items[0])}"
    if is_int_type(folded.elem_type) and folded.shape is not None and len(folded.shape) == 1 \
            and isinstance(folded.shape[0], int) and folded.shape[0] <= MAX_INLINE:
        return None, f"{role}={format_list(['?'] * folded.shape[0])}"  # a shape whose items are unknown
    return f"{role}{format_shape(folded.shape)}", None


def _render_node(view: GraphView, node: onnx.NodeProto, names: dict[str, str], head: bool) -> str:
    positional: list[str] = []
    attrs: list[str] = []
    operands = [(p, view.resolve(raw)) for p, raw in enumerate(node.input) if raw]
    if node.op_type in _COMMUTATIVE and not node.domain:
        operands.sort(key=lambda item: item[1] in view.static)  # stable: activations first
    for position, name in operands:
        if name in view.static:
            pos, attr = _static_operand(view.static[name], _role(view, node, position))
            positional += [pos] if pos else []
            attrs += [attr] if attr else []
        elif head:  # in a chain the previous op's output is implicit
            positional.append(names.get(name, "%?"))
    attrs += _attributes(view, node)
    text = op_label(node)
    if positional or (head and not attrs):
        text += "(" + ", ".join(positional) + ")"
    if attrs:
        text += "(" + ", ".join(attrs) + ")"
    return text


def _chains(view: GraphView) -> list[list[int]]:
    """Maximal runs of compute nodes where each feeds the next and nothing else."""
    graph_outputs = set(view.outputs)
    successor: dict[int, int] = {}
    for index, node in enumerate(view.compute):
        data = view.data_inputs(node)
        if len(data) != 1:
            continue
        value = data[0]
        prev = view.producer.get(value)
        if prev is None or value in graph_outputs or view.consumers.get(value, 0) != 1:
            continue
        if sum(1 for o in view.compute[prev].output if o) != 1:
            continue  # multi-output nodes end their line, so every output gets a name
        successor[prev] = index
    continued = set(successor.values())
    chains = []
    for index in range(len(view.compute)):
        if index in continued:
            continue
        chain = [index]
        while chain[-1] in successor:
            chain.append(successor[chain[-1]])
        chains.append(chain)
    return chains


def onnx_to_text(model: onnx.ModelProto) -> str:
    """The ONNX-Net style text of `model` (see the module docstring for the format).

    Shapes come from the model's value_info; a model without any (not loaded through
    `load_onnx`) gets best-effort shape inference first.
    """
    return write_text(GraphView.of(model))


def write_text(view: GraphView) -> str:
    """The text of an analysed graph (`onnx_to_text` for callers that keep the view)."""
    names: dict[str, str] = {}
    lines = []

    def name_of(value: str) -> str:
        names[value] = f"%v{len(names)}"
        return names[value]

    for value in view.inputs:
        lines.append(f"{name_of(value)} = Input : {format_shape(view.shape(value))}")
    used = set(view.consumers) | set(view.outputs)
    for chain in _chains(view):
        last = view.compute[chain[-1]]
        ops = [_render_node(view, view.compute[i], names, head=k == 0) for k, i in enumerate(chain)]
        outputs = [o for o in last.output if o]
        lhs = [name_of(o) if o in used else "_" for o in outputs]
        shapes = [format_shape(view.shape(o)) for o in outputs if o in used]
        suffix = f" : {', '.join(shapes)}" if shapes else ""
        lines.append(f"{', '.join(lhs) or '_'} = {ARROW.join(ops)}{suffix}")
    returned = []
    for value in view.outputs:
        if value in names:
            returned.append(names[value])
        elif value in view.static:
            returned.append(_static_operand(view.static[value], "Const")[0] or "Const")
        else:
            returned.append("%?")
    lines.append("return " + ", ".join(returned))
    return "\n".join(lines) + "\n"
