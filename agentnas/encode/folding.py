"""Constant and shape folding: the values of a graph that do not depend on the input's data.

Exporters spell `x.view(x.size(0), -1)` as Shape -> Gather -> Unsqueeze -> Concat ->
Reshape, and opset 13+ moves `axes`, `starts`, `pads` ... from attributes to constant
inputs. None of that is architecture; the text writer folds it into the one node that
uses it (`Reshape(%v3)(shape=[?,-1])`). This module computes those values.

Values are small numpy object arrays whose items are ints, floats or `UNKNOWN` (a
symbolic or unknown dimension), so `?` travels through the shape arithmetic. A value is
only computed when its element count is known up front to stay under `MAX_ELEMENTS`: a
hostile graph cannot make the trusted side allocate (ConstantOfShape([10**12])).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

UNKNOWN = "?"
MAX_ELEMENTS = 1024
MAX_INLINE = 16  # constants up to this many items are written out in the text
Dim = int | str
Shape = tuple[Dim, ...]

_INT_TYPES = {onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32, onnx.TensorProto.INT64,
              onnx.TensorProto.UINT8, onnx.TensorProto.UINT16, onnx.TensorProto.UINT32, onnx.TensorProto.UINT64,
              onnx.TensorProto.BOOL}
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                onnx.TensorProto.BFLOAT16}


def is_int_type(elem_type: int) -> bool:
    return elem_type in _INT_TYPES


def is_float_type(elem_type: int) -> bool:
    return elem_type in _FLOAT_TYPES


@dataclass(frozen=True)
class Folded:
    """A value known without running the model: its shape, type and (when small) its items.

    `from_weights` marks values computed from initializers: their numbers are weights and
    are never written out, only their shape.
    """

    shape: Shape | None
    elem_type: int
    value: np.ndarray | None = None
    from_weights: bool = False

    @property
    def numel(self) -> int | None:
        if self.shape is None or not all(isinstance(d, int) for d in self.shape):
            return None
        return math.prod(int(d) for d in self.shape)


def _obj(array: Any) -> np.ndarray:
    """An object array of plain Python numbers (stable printing, `?` allowed beside ints)."""
    a = np.asarray(array)
    out = np.empty(a.shape, dtype=object)
    for idx, item in np.ndenumerate(a):
        out[idx] = item if isinstance(item, str) else (int(item) if np.issubdtype(type(item), np.integer)
                                                       or isinstance(item, bool | np.bool_) else float(item))
    return out


def fold_tensor(tensor: onnx.TensorProto, *, from_weights: bool) -> Folded:
    """An initializer or a Constant's tensor; its items are read only when it is small."""
    shape = tuple(int(d) for d in tensor.dims)
    value = None
    # Weights are never printed, so their items are read only where shape arithmetic or a
    # small setting (Resize scales) may need them.
    limit = MAX_ELEMENTS if not from_weights or is_int_type(tensor.data_type) else MAX_INLINE
    if math.prod(shape) <= limit and tensor.data_location != onnx.TensorProto.EXTERNAL:
        try:
            value = _obj(numpy_helper.to_array(tensor))
        except Exception:
            value = None
    return Folded(shape, tensor.data_type, value, from_weights)


def fold_constant(node: onnx.NodeProto) -> Folded:
    """The value of a Constant node, whichever of its attribute forms it uses."""
    for attr in node.attribute:
        if attr.name == "value":
            return fold_tensor(attr.t, from_weights=False)
        if attr.name in ("value_float", "value_int"):
            elem = onnx.TensorProto.FLOAT if attr.name == "value_float" else onnx.TensorProto.INT64
            return Folded((), elem, _obj(attr.f if attr.name == "value_float" else attr.i))
        if attr.name in ("value_floats", "value_ints"):
            items = list(attr.floats) if attr.name == "value_floats" else list(attr.ints)
            elem = onnx.TensorProto.FLOAT if attr.name == "value_floats" else onnx.TensorProto.INT64
            return Folded((len(items),), elem, _obj(items) if len(items) <= MAX_ELEMENTS else None)
    return Folded(None, 0)


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _ints(value: np.ndarray | None) -> list[int] | None:
    if value is None or not all(isinstance(v, int) for v in value.reshape(-1)):
        return None
    return [int(v) for v in value.reshape(-1)]


def _elementwise(fn: Callable[..., Any]) -> Callable[..., np.ndarray]:
    """`fn` applied item by item with numpy broadcasting; `?` in, `?` out."""
    def apply(*args: Any) -> Any:
        return UNKNOWN if any(isinstance(a, str) for a in args) else fn(*args)

    def run(*arrays: np.ndarray) -> np.ndarray:
        return np.asarray(np.frompyfunc(apply, len(arrays), 1)(*arrays), dtype=object)

    return run


def _int_div(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        if b == 0:
            return UNKNOWN
        q = abs(a) // abs(b)  # ONNX integer Div truncates toward zero; exact for any size
        return q if (a >= 0) == (b > 0) else -q
    return a / b if b else UNKNOWN


_BINARY: dict[str, Callable[..., np.ndarray]] = {
    "Add": _elementwise(operator.add), "Sub": _elementwise(operator.sub), "Mul": _elementwise(operator.mul),
    "Div": _elementwise(_int_div), "Mod": _elementwise(lambda a, b: a % b if b else UNKNOWN),
    "Max": _elementwise(max), "Min": _elementwise(min),
    "Equal": _elementwise(lambda a, b: int(a == b)), "Less": _elementwise(lambda a, b: int(a < b)),
    "Greater": _elementwise(lambda a, b: int(a > b)),
}
_UNARY: dict[str, Callable[..., np.ndarray]] = {
    "Neg": _elementwise(operator.neg), "Abs": _elementwise(abs), "Not": _elementwise(lambda a: int(not a)),
    "Floor": _elementwise(math.floor), "Ceil": _elementwise(math.ceil),
}


def _small(shape: Sequence[int]) -> bool:
    return all(d >= 0 for d in shape) and math.prod(shape) <= MAX_ELEMENTS


def _slice(node: onnx.NodeProto, data: np.ndarray, ins: list[np.ndarray | None]) -> np.ndarray | None:
    if len(ins) > 1:  # opset 10+: starts, ends, axes, steps are inputs
        starts, ends = _ints(ins[1]), _ints(ins[2]) if len(ins) > 2 else None
        axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else None
        steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else None
    else:
        starts, ends, axes, steps = _attr(node, "starts"), _attr(node, "ends"), _attr(node, "axes"), None
    if starts is None or ends is None:
        return None
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    index = [slice(None)] * data.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=False):
        index[a] = slice(s, e, st)
    return data[tuple(index)]


def _value(node: onnx.NodeProto, ins: list[np.ndarray | None], in_shapes: list[Shape | None]) -> np.ndarray | None:
    """The output value of `node` from its input values, or None where it is not folded."""
    op, first = node.op_type, ins[0] if ins else None
    if op in ("Shape", "Size"):
        dims = in_shapes[0] if in_shapes else None
        if dims is None:
            return None
        if op == "Size":
            return _obj(math.prod(d for d in dims if isinstance(d, int)) if UNKNOWN not in dims else UNKNOWN)
        start, end = _attr(node, "start", 0), _attr(node, "end", None)
        return _obj(np.array(list(dims)[start:end], dtype=object))
    if op == "ConstantOfShape":
        sizes = _ints(first)
        if sizes is None or not _small(sizes):
            return None
        fill = _attr(node, "value")
        item = numpy_helper.to_array(fill).reshape(-1)[0] if fill is not None else 0.0
        return _obj(np.full(sizes, item))
    arrays = [v for v in ins if v is not None]
    if not arrays or len(arrays) != len(ins):
        return None
    return _value_of_known(node, arrays)


def _value_of_known(node: onnx.NodeProto, ins: list[np.ndarray]) -> np.ndarray | None:
    """`_value` for the ops that need every input's value."""
    op, first = node.op_type, ins[0]
    if op in ("Identity", "Cast", "CastLike"):
        return first
    if op == "Range":
        start, limit, delta = (v.reshape(-1)[0] for v in ins[:3])
        if any(isinstance(v, str) for v in (start, limit, delta)) or not delta:
            return None
        count = max(math.ceil((limit - start) / delta), 0)
        return _obj(np.arange(count) * delta + start) if count <= MAX_ELEMENTS else None
    if (op in _BINARY or op == "Where") and not _small(np.broadcast_shapes(*(v.shape for v in ins))):
        return None  # broadcasting small inputs can still make a huge output
    if op in _BINARY and len(ins) == 2:
        return _BINARY[op](first, ins[1])
    if op in _UNARY:
        return _UNARY[op](first)
    if op == "Where" and len(ins) == 3:
        return np.asarray(np.where(_obj(first).astype(bool), ins[1], ins[2]), dtype=object)
    if op == "Gather":
        idx = _ints(ins[1])
        return None if idx is None else np.take(first, np.array(idx).reshape(ins[1].shape),
                                                axis=_attr(node, "axis", 0))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(v) for v in ins], axis=_attr(node, "axis", 0))
    if op == "Squeeze":
        axes = _ints(ins[1]) if len(ins) > 1 else _attr(node, "axes")
        axes = axes if axes is not None else [i for i, d in enumerate(first.shape) if d == 1]
        return first.squeeze(axis=tuple(a % first.ndim for a in axes)) if first.ndim else first
    if op == "Unsqueeze":
        axes = (_ints(ins[1]) if len(ins) > 1 else _attr(node, "axes")) or []
        out = first
        for a in sorted(a % (first.ndim + len(axes)) for a in axes):
            out = np.expand_dims(out, a)
        return out
    if op == "Slice":
        return _slice(node, first, list(ins))
    if op == "Reshape":
        sizes = _ints(ins[1])
        if sizes is None:
            return None
        return first.reshape([first.shape[i] if d == 0 and i < first.ndim else d for i, d in enumerate(sizes)])
    if op == "Transpose":
        return np.transpose(first, _attr(node, "perm"))
    if op == "Expand":
        sizes = _ints(ins[1])
        if sizes is None:
            return None
        target = np.broadcast_shapes(first.shape, tuple(sizes))
        return np.broadcast_to(first, target).copy() if _small(target) else None
    return None


def fold_node(node: onnx.NodeProto, inputs: list[Folded | None], out_shapes: list[Shape | None],
              out_types: list[int], in_shapes: list[Shape | None]) -> list[Folded]:
    """The folded outputs of a node whose inputs are all folded (or that reads only shapes)."""
    values = [f.value if f is not None else None for f in inputs]
    try:
        value = _value(node, values, in_shapes)
        value = None if value is None else np.asarray(value, dtype=object)  # numpy may hand back a scalar
    except Exception:  # a malformed constant: the value stays unknown, the text still comes out
        value = None
    weights = node.op_type not in ("Shape", "Size") and any(f is not None and f.from_weights for f in inputs)
    first = inputs[0] if inputs else None
    outs = []
    for i, _ in enumerate(node.output):
        shape = out_shapes[i] if i < len(out_shapes) else None
        elem = out_types[i] if i < len(out_types) else 0
        if i == 0 and value is not None:
            shape = shape if shape is not None else tuple(int(d) for d in value.shape)
        if not elem:
            elem = (onnx.TensorProto.INT64 if node.op_type in ("Shape", "Size")
                    else int(_attr(node, "to", 0)) if node.op_type == "Cast"
                    else first.elem_type if first is not None else 0)
        outs.append(Folded(shape, elem, value if i == 0 else None, weights))
    return outs
