"""Load an `.onnx` file on the trusted side, safely.

The file may have been written by candidate code in the sandbox, so it is treated as
hostile input: its size is capped before anything is parsed, external data is never
followed (a graph must not make us read other files), the node count is capped (the
text writer and the feature pass walk every node), and every way of being broken ends
in one typed error, `OnnxLoadError`, with the path in its message.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import onnx
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MAX_BYTES = 64 * 2**20
DEFAULT_MAX_NODES = 20_000


class OnnxLoadError(ValueError):
    """The file is not a usable ONNX model (missing, not ONNX, corrupt, truncated, over a limit)."""


class LoadLimits(BaseModel):
    """Caps applied before and after parsing; the defaults fit any candidate of this project."""

    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    max_nodes: int = Field(default=DEFAULT_MAX_NODES, gt=0)


def load_onnx(path: str | os.PathLike[str], limits: LoadLimits | None = None, *,
              infer_shapes: bool = True) -> onnx.ModelProto:
    """Read, parse, check and (best effort) shape-infer one ONNX file.

    Raises `OnnxLoadError` for anything but a well-formed, self-contained model within
    `limits`. Shape inference failures are not errors: the model comes back without shapes.
    """
    limits = limits or LoadLimits()
    path = Path(path)
    data = _read_capped(path, limits.max_bytes)
    try:
        # From the bytes already read (no second open, so no swap between check and use),
        # and never following external data references.
        model = onnx.load(io.BytesIO(data), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError, RuntimeError, ... depending on the damage
        raise OnnxLoadError(f"{path}: not a valid ONNX file ({type(e).__name__}: {_short(e)})") from e
    _check_structure(path, model, limits)
    return infer_shapes_or_keep(model) if infer_shapes else model


def infer_shapes_or_keep(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with inferred value shapes, or the model unchanged if inference fails.

    `data_prop` lets inference see through shape arithmetic (Shape -> Gather -> Concat),
    which is what makes a `view(x.size(0), -1)` come out with a known width.
    """
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:
        return model


def iter_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """`graph` and every subgraph below it (If/Loop/Scan bodies), depth first."""
    stack = [graph]
    while stack:
        g = stack.pop()
        yield g
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    stack.append(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    stack.extend(attr.graphs)


def _read_capped(path: Path, max_bytes: int) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO or a device must not hang; anything but a regular file
        # is refused before a byte is read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as e:
        raise OnnxLoadError(f"{path}: no such file") from e
    except OSError as e:
        raise OnnxLoadError(f"{path}: cannot open ({e.strerror or e})") from e
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise OnnxLoadError(f"{path}: {kind}, not an ONNX file")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(max_bytes + 1)  # never more than the cap, whatever the file claims
        except OSError as e:
            raise OnnxLoadError(f"{path}: cannot read ({e.strerror or e})") from e
    if len(data) > max_bytes:
        raise OnnxLoadError(f"{path}: larger than the limit of {max_bytes / 2**20:g} MB")
    if not data:
        raise OnnxLoadError(f"{path}: empty file, not an ONNX model")
    return data


def _check_structure(path: Path, model: onnx.ModelProto, limits: LoadLimits) -> None:
    # Protobuf parses many byte strings (text files, files cut at a field boundary) into a
    # message of defaults or fragments; what makes it a model is checked here.
    if not model.graph.node and not model.graph.output:
        raise OnnxLoadError(f"{path}: not an ONNX model (no graph found; corrupt, truncated or another format)")
    nodes = sum(len(g.node) for g in iter_graphs(model.graph))
    nodes += sum(len(f.node) for f in model.functions)
    if nodes > limits.max_nodes:
        raise OnnxLoadError(f"{path}: {nodes} nodes exceed the limit of {limits.max_nodes}")
    for g in iter_graphs(model.graph):
        for tensor in g.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
                raise OnnxLoadError(f"{path}: initializer {tensor.name[:80]!r} refers to external data; only "
                                    "self-contained ONNX files are accepted (external data is never read)")
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise OnnxLoadError(f"{path}: invalid ONNX model ({_short(e)})") from e


def _short(e: BaseException, limit: int = 300) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + "..."
