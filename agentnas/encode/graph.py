"""A canonical view of an ONNX graph: compute nodes in a name-free order, folded constants.

Shared by the text writer and the structural features, so both see the same graph:
constant and shape plumbing folded away (folding.py), Identity nodes dissolved, and the
remaining compute nodes ordered by a depth-first walk from the graph outputs that visits
inputs in argument order. That order depends on the structure only, never on tensor
names or the order an exporter happened to write nodes in, so the same architecture gets
the same text whoever exported it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnx.numpy_helper

from agentnas.encode.folding import (
    MAX_ELEMENTS,
    UNKNOWN,
    Folded,
    Shape,
    fold_constant,
    fold_node,
    fold_tensor,
    is_int_type,
)
from agentnas.encode.onnx_load import infer_shapes_or_keep

# Nodes without data inputs that are not constants: noise sources are architecture.
_RANDOM_OPS = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
               "Bernoulli"}
_SHAPE_READERS = {"Shape", "Size"}  # read only the shape of their input, never its data


def _dims(type_proto: onnx.TypeProto) -> tuple[Shape | None, int]:
    """(shape with `?` for symbolic or unknown dims, element type) of a tensor type."""
    if not type_proto.HasField("tensor_type"):
        return None, 0
    tensor = type_proto.tensor_type
    if not tensor.HasField("shape"):
        return None, tensor.elem_type
    dims: list[int | str] = [int(d.dim_value) if d.HasField("dim_value") else UNKNOWN for d in tensor.shape.dim]
    return tuple(dims), tensor.elem_type


MAX_STRING = 48  # longer op names and string attributes are cut (the graph may be hostile)


def clean(text: str, limit: int = MAX_STRING) -> str:
    """A string from the graph (op type, domain, string attribute) made safe for one line:
    the graph may come from candidate code, and its text is read by models and people."""
    text = re.sub(r"[^\x21-\x7e]", "_", text)  # printable ASCII, no spaces or newlines
    return text if len(text) <= limit else text[:limit] + "..."


def op_label(node: onnx.NodeProto) -> str:
    """`Conv`, or `domain:Op` outside the default domain."""
    return clean(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}:{node.op_type}")


def has_subgraph(node: onnx.NodeProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


@dataclass
class GraphView:
    """The graph as the encoder sees it. Build with `GraphView.of(model)`."""

    model: onnx.ModelProto
    opsets: dict[str, int]
    shapes: dict[str, Shape | None] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    static: dict[str, Folded] = field(default_factory=dict)   # values folded away
    alias: dict[str, str] = field(default_factory=dict)       # Identity output -> its input
    inputs: list[str] = field(default_factory=list)           # data inputs (not initializers)
    outputs: list[str] = field(default_factory=list)          # after aliasing
    compute: list[onnx.NodeProto] = field(default_factory=list)  # in canonical order
    producer: dict[str, int] = field(default_factory=dict)    # value -> index into `compute`
    consumers: dict[str, int] = field(default_factory=dict)   # value -> uses by compute nodes

    @classmethod
    def of(cls, model: onnx.ModelProto) -> GraphView:
        if not model.graph.value_info and len(model.graph.node) > 1:
            model = infer_shapes_or_keep(model)  # not loaded through load_onnx: shapes best effort
        opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
        view = cls(model=model, opsets=opsets)
        view._read_types()
        view._fold()
        view._order()
        view._refine_shapes()
        return view

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def data_inputs(self, node: onnx.NodeProto) -> list[str]:
        """The node's inputs that carry activations (resolved), in argument order."""
        return [self.resolve(n) for n in node.input if n and self.resolve(n) not in self.static]

    def shape(self, name: str) -> Shape | None:
        name = self.resolve(name)
        if name in self.static and self.static[name].shape is not None:
            return self.static[name].shape
        return self.shapes.get(name)

    def opset(self, domain: str) -> int:
        return self.opsets.get(domain or "ai.onnx", 0)

    def _read_types(self) -> None:
        g = self.model.graph
        for info in [*g.input, *g.value_info, *g.output]:
            shape, elem = _dims(info.type)
            if shape is not None or info.name not in self.shapes:
                self.shapes[info.name] = shape
            if elem:
                self.types[info.name] = elem

    def _fold(self) -> None:
        """Split nodes into folded (constant or shape plumbing) and compute nodes, in file
        order, which a checked ONNX model keeps topological."""
        g = self.model.graph
        for t in g.initializer:
            self.static[t.name] = fold_tensor(t, from_weights=True)
        for t in g.sparse_initializer:
            self.static[t.values.name] = Folded(tuple(int(d) for d in t.dims), t.values.data_type, None, True)
        self.inputs = [i.name for i in g.input if i.name not in self.static]
        self._unordered: list[onnx.NodeProto] = []
        for node in g.node:
            ins = [self.resolve(n) for n in node.input if n]
            if node.op_type == "Identity" and not node.domain and len(ins) == 1 and ins[0] not in self.static:
                self.alias[node.output[0]] = ins[0]
                continue
            if node.op_type == "Constant" and not node.domain:
                self.static[node.output[0]] = fold_constant(node)
                continue
            reads_shape = node.op_type in _SHAPE_READERS and not node.domain
            foldable = (reads_shape or all(n in self.static for n in ins)) and node.op_type not in _RANDOM_OPS \
                and not has_subgraph(node) and bool(node.input or node.op_type == "Constant")
            if foldable:
                in_folded = [self.static.get(n) for n in ins]
                outs = fold_node(node, in_folded, [self.shapes.get(o) for o in node.output],
                                 [self.types.get(o, 0) for o in node.output], [self.shapes.get(n) for n in ins])
                for name, folded in zip(node.output, outs, strict=True):
                    if name:
                        self.static[name] = folded
            else:
                self._unordered.append(node)
        self.outputs = [self.resolve(o.name) for o in g.output]

    def _refine_shapes(self) -> None:
        """Infer shapes again with the folded shape values as constants, where the first
        inference lost track (it cannot propagate through every op, e.g. Mod in the
        TorchScript export of MultiheadAttention). Weights go in as typed inputs: shapes
        only, so no weight is copied."""
        if all(self.shapes.get(o) is not None for n in self.compute for o in n.output if o):
            return
        known = {name: f for name, f in self.static.items()
                 if f.value is not None and is_int_type(f.elem_type) and f.value.size <= MAX_ELEMENTS
                 and all(isinstance(v, int) for v in f.value.reshape(-1))}
        g = self.model.graph
        light = onnx.GraphProto(name=g.name, input=g.input, output=g.output)
        declared = {i.name for i in g.input}
        for t in g.initializer:
            if t.name not in known and t.name not in declared:
                light.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        for name, f in known.items():
            items = np.array(f.value.tolist() if f.value is not None else [],
                             dtype=onnx.helper.tensor_dtype_to_np_dtype(f.elem_type))
            light.initializer.append(onnx.numpy_helper.from_array(items, name))
        light.node.extend(n for n in g.node if not all(o in known for o in n.output if o))
        model = onnx.helper.make_model(light, opset_imports=self.model.opset_import, ir_version=self.model.ir_version)
        model.functions.extend(self.model.functions)
        for info in [*infer_shapes_or_keep(model).graph.value_info, *model.graph.output]:
            shape, elem = _dims(info.type)
            if self.shapes.get(info.name) is None and shape is not None:
                self.shapes[info.name] = shape

    def _order(self) -> None:
        """Post-order depth-first walk from the outputs (then from any node no output
        reaches, in file order), iterative: graphs may be thousands of nodes deep."""
        made_by: dict[str, int] = {}
        for i, node in enumerate(self._unordered):
            for o in node.output:
                if o:
                    made_by[o] = i
        seen: set[int] = set()
        order: list[int] = []
        roots = [made_by[o] for o in self.outputs if o in made_by] + list(range(len(self._unordered)))
        for root in roots:
            if root in seen:
                continue
            seen.add(root)
            stack = [(root, iter(self.data_inputs(self._unordered[root])))]
            while stack:
                index, pending = stack[-1]
                for name in pending:
                    p = made_by.get(name)
                    if p is not None and p not in seen:
                        seen.add(p)
                        stack.append((p, iter(self.data_inputs(self._unordered[p]))))
                        break
                else:
                    stack.pop()
                    order.append(index)
        self.compute = [self._unordered[i] for i in order]
        for i, node in enumerate(self.compute):
            for o in node.output:
                if o:
                    self.producer[o] = i
            for name in self.data_inputs(node):
                self.consumers[name] = self.consumers.get(name, 0) + 1
