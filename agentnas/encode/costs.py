"""A candidate's deployment costs, measured on the trusted side from the ONNX graph its check
exported (agentnas.records.Costs).

- parameters and MACs: as the encoder's features count them (features.py);
- size: the bytes of the ONNX file (weights stored as float32, graph and names);
- peak activation memory: the graph is walked in a topological order (the encoder's
  canonical depth-first order, which is what a sequential executor may run); a tensor is
  alive from the node that writes it (a graph input: from the start) to the last node that
  reads it (a graph output: to the end), and a node's inputs and outputs are alive together
  while it runs. The peak of the bytes alive at once, over that order, is the estimate.
  Weights and folded constants are not activations (they are the size). Shapes come from
  ONNX shape inference at the exported batch size (1); a tensor whose shape or element type
  stays unknown counts as nothing and clears `peak_complete`. A runtime that fuses or runs
  ops in place needs less, one that orders branches differently may need more;
- latency: ONNX Runtime on CPU, one thread, in a confined process (agentnas.evaluator.latency),
  for batch 1 and the configured batch sizes (the batch-1 graph with its batch dimension set);
  and, where asked, torch on the evaluation device from the model the check traced (model.ts),
  in the same confinement, at the same batch sizes.

A graph that does not load is `OnnxLoadError`; a latency measurement that fails leaves the
other figures and says why in `latency_error`. Costs are kept beside the graph (`costs.json`)
for whoever records the candidate's experiment later.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import onnx
from pydantic import ValidationError

from agentnas.config import CostsConfig
from agentnas.encode.features import graph_features
from agentnas.encode.graph import GraphView
from agentnas.encode.onnx_load import infer_shapes_or_keep, iter_graphs, load_onnx
from agentnas.evaluator.isolation import Isolation
from agentnas.evaluator.latency import TORCHSCRIPT_FILE, LatencyError, measure_latency, measure_torch_latency
from agentnas.records import Costs, Latency

COSTS_FILE = "costs.json"


def peak_activation_bytes(view: GraphView) -> tuple[int, bool]:
    """(peak bytes of activations alive at once over `view.compute`'s order, every size known)."""
    last_use: dict[str, int] = {}
    for i, node in enumerate(view.compute):
        for name in view.data_inputs(node):
            last_use[name] = i
    end = len(view.compute)
    for name in view.outputs:
        last_use[name] = end
    complete = True

    def size(name: str) -> int:
        nonlocal complete
        shape, elem = view.shape(name), view.types.get(name, 0)
        if shape is None or not elem or not all(isinstance(d, int) for d in shape):
            complete = False
            return 0
        return math.prod(int(d) for d in shape) * onnx.helper.tensor_dtype_to_np_dtype(elem).itemsize

    alive = {name: size(name) for name in view.inputs if name in last_use}
    current = peak = sum(alive.values())
    for i, node in enumerate(view.compute):
        for name in node.output:
            if name and name not in alive:
                alive[name] = size(name)
                current += alive[name]
        peak = max(peak, current)
        for name in [n for n in alive if last_use.get(n, -1) <= i]:
            current -= alive.pop(name)
    return peak, complete


def graph_costs(model: onnx.ModelProto, size_bytes: int) -> Costs:
    """Every cost the graph itself tells (no latency)."""
    view = GraphView.of(model)
    features = graph_features(model, view)
    peak, complete = peak_activation_bytes(view)
    return Costs(params=features.params, macs=features.flops, macs_complete=features.flops_complete,
                 peak_activation_bytes=peak, peak_complete=complete, size_bytes=size_bytes)


def positive_perms(model: onnx.ModelProto) -> bool:
    """Rewrite, in place, every Transpose whose `perm` counts from the end (-1) to count from
    the start. The torch exporter writes `x.transpose(1, -1)` so at times; ONNX requires
    non-negative axes and ONNX Runtime refuses the graph. `perm` lists every axis, so its
    length is the rank. True when anything changed."""
    changed = False
    for node in (n for g in iter_graphs(model.graph) for n in g.node if n.op_type == "Transpose"):
        for attr in node.attribute:
            if attr.name == "perm" and any(p < 0 for p in attr.ints):
                rank = len(attr.ints)
                fixed = [p + rank if p < 0 else p for p in attr.ints]
                del attr.ints[:]
                attr.ints.extend(fixed)
                changed = True
    return changed


def with_batch(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """A copy whose data inputs have batch size `batch` (outputs: any). Inferred shapes are
    dropped: they hold the exported batch. A graph that fixed its batch inside (a Reshape to
    a constant shape) stays one the runtime refuses at this batch size."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.value_info[:]
    weights = {t.name for t in out.graph.initializer}
    for value in out.graph.input:
        dims = value.type.tensor_type.shape.dim
        if value.name not in weights and len(dims):
            dims[0].Clear()
            dims[0].dim_value = batch
    for value in out.graph.output:
        dims = value.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_param = "batch"
    return out


def torch_inputs(model: onnx.ModelProto, batches: tuple[int, ...]) -> list[tuple[int, list[int], str]]:
    """(batch, shape, dtype) of the graph's data input at each batch size, for the traced model
    (which takes what the graph takes). ValueError when the input is not one float or int64
    tensor of known shape."""
    weights = {t.name for t in model.graph.initializer}
    data = [v for v in model.graph.input if v.name not in weights]
    if len(data) != 1:
        raise ValueError(f"the graph has {len(data)} data inputs; the traced model is timed with one")
    kind = data[0].type.tensor_type
    dtype = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64"}.get(kind.elem_type)
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in kind.shape.dim]
    if dtype is None or not dims or any(d <= 0 for d in dims[1:]):
        raise ValueError("the graph's input is not a float or int64 tensor of known shape")
    return [(b, [b, *dims[1:]], dtype) for b in batches]


def _torch_latency(path: Path, model: onnx.ModelProto, config: CostsConfig, isolation: Isolation,
                   device: str) -> tuple[list[Latency], str | None]:
    archive = path.with_name(TORCHSCRIPT_FILE)
    if not archive.is_file():
        return [], "torch: no traced model beside the graph (the check's trace failed or was not asked for)"
    try:
        report = measure_torch_latency(archive, torch_inputs(model, config.batch_sizes), device, config, isolation)
    except (LatencyError, ValueError) as e:
        return [], f"torch: {e}"
    errors = "; ".join(f"torch batch {b}: {why}" for b, why in sorted(report.errors.items()))
    return report.latency, errors or None


def measure_costs(onnx_path: str | Path, config: CostsConfig | None = None, *,
                  isolation: Isolation | None = None, latency: bool = False,
                  torch_device: str | None = None) -> Costs:
    """The costs of the graph at `onnx_path`; with `latency` (and an `isolation` to run the
    measurement under), its latency too, through ONNX Runtime and, given a `torch_device`,
    through torch on that device from the traced model beside the graph (model.ts). Raises
    OnnxLoadError for a graph that does not load."""
    config = config or CostsConfig()
    path = Path(onnx_path)
    model = load_onnx(path, infer_shapes=False)  # the batch variants start from the exported shapes
    costs = graph_costs(infer_shapes_or_keep(model), path.stat().st_size)
    if not latency and torch_device is None:
        return costs
    if isolation is None:
        raise ValueError("measuring latency needs the isolation backend to run it under")
    figures: list[Latency] = []
    errors: list[str] = []
    if latency:
        with tempfile.TemporaryDirectory(prefix="agentnas-batches-") as tmp:
            files = {1: path}
            if positive_perms(model):  # a graph ONNX Runtime would refuse for the exporter's axes
                files[1] = Path(tmp) / "b1.onnx"
                files[1].write_bytes(model.SerializeToString())
            for batch in config.batch_sizes:
                if batch != 1:
                    files[batch] = Path(tmp) / f"b{batch}.onnx"
                    files[batch].write_bytes(with_batch(model, batch).SerializeToString())
            try:
                report = measure_latency(files, config, isolation)
                figures += report.latency
                errors += [f"batch {b}: {why}" for b, why in sorted(report.errors.items())]
            except LatencyError as e:
                errors.append(str(e))
    if torch_device is not None:
        traced, why = _torch_latency(path, model, config, isolation, torch_device)
        figures += traced
        errors += [why] if why else []
    return costs.model_copy(update={"latency": figures, "latency_error": "; ".join(errors) or None})


def write_costs_beside(onnx_path: str | Path, costs: Costs) -> None:
    Path(onnx_path).with_name(COSTS_FILE).write_text(costs.model_dump_json(), encoding="utf-8")


def read_costs_beside(onnx_path: str | Path | None) -> Costs | None:
    """The costs kept beside a graph by the trusted side (None when there are none or unreadable)."""
    if onnx_path is None:
        return None
    try:
        return Costs.model_validate(json.loads(Path(onnx_path).with_name(COSTS_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError):
        return None
