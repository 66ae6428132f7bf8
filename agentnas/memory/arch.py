"""The architecture vector of the memory: what "similar architecture" and near-duplicate mean.

`GraphEncoding.array()` ("both" mode) is the MiniLM vector of the graph text followed by
the value model's structural features. Neither half separates a refactor from a real
change on its own (measured on variants of examples/mnist1d_mlp.py, see
/work/notes/memory-bench.md): the text model barely reads the numbers in `W[256,40]`, so a
width change 256 -> 248 moves it less (cosine 0.025) than `x.flatten(1)` -> `x.view(B, -1)`
(Flatten -> Reshape, 0.039); the features put sizes on a 1e9 log scale where a 3 % width
change is 0.004, and count plumbing ops, so the Reshape refactor moves them 50 times more.

The vector here, compared with Euclidean distance, is therefore
    [ TEXT_WEIGHT * text vector (unit, 384)
    | SIZE_WEIGHT * ln(1 + [params, MACs, depth, compute ops]) (4)
    | MIX_WEIGHT  * share of each compute op (op histogram without plumbing ops) ]
Size is in natural-log units, so a width change of a few percent is a visible step, and
plumbing ops (Flatten, Reshape, Transpose, ...), which move data without computing, are left
out of the op mix, so writing the same model another way moves the vector little.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import numpy as np
import onnx
from pydantic import BaseModel, ConfigDict

from agentnas.config import AgentnasConfig
from agentnas.encode.embed import TEXT_DIM, EncodingCache, GraphEncoding, encode_graph
from agentnas.encode.features import OP_VOCAB
from agentnas.encode.graph import GraphView
from agentnas.encode.onnx_load import OnnxLoadError, load_onnx
from agentnas.fingerprint import code_hash

ARCH_VERSION = 1  # bump when the layout or the weights change: stores record the version they hold
PLUMBING_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Expand", "Identity",
                          "Dropout", "Cast"})
MIX_OPS: tuple[str, ...] = tuple(op for op in OP_VOCAB if op not in PLUMBING_OPS)
TEXT_WEIGHT, SIZE_WEIGHT, MIX_WEIGHT = 0.5, 5.0, 2.0
ARCH_DIM = TEXT_DIM + 4 + len(MIX_OPS) + 1
_MIX_INDEX = {op: i for i, op in enumerate(MIX_OPS)}


def arch_vector(encoding: GraphEncoding) -> np.ndarray:
    """The memory's architecture vector (float32, ARCH_DIM) of an encoding made in the
    "chunks" or "both" mode (the text vector is needed)."""
    if encoding.text_vector is None:
        raise ValueError("the architecture vector needs the text embedding: encode in 'chunks' or 'both' mode")
    features = encoding.features
    mix = np.zeros(len(MIX_OPS) + 1, dtype=np.float64)
    for op, count in features.ops.items():
        if op not in PLUMBING_OPS:
            mix[_MIX_INDEX.get(op, len(MIX_OPS))] += count
    compute_ops = float(mix.sum())
    if compute_ops:
        mix /= compute_ops
    sizes = np.log1p(np.array([features.params, features.flops, features.depth, compute_ops], dtype=np.float64))
    text = np.asarray(encoding.text_vector, dtype=np.float64)
    return np.concatenate([TEXT_WEIGHT * text, SIZE_WEIGHT * sizes, MIX_WEIGHT * mix]).astype(np.float32)


def arch_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


class GraphDescription(BaseModel):
    """What the memory keeps about one graph: its duplicate keys, vector and size."""

    model_config = ConfigDict(frozen=True)

    path: str
    code: str = ""
    code_hash: str = ""
    onnx_text_hash: str
    arch_embedding: list[float]
    params: int
    flops: int


def describe_onnx(model: onnx.ModelProto, cache: EncodingCache | None = None, *, path: str = "",
                  code: str = "") -> GraphDescription:
    """Encode a loaded (shape-inferred) graph for the memory."""
    view = GraphView.of(model)
    encoding = encode_graph(view.model, "chunks", cache, view=view)
    vector = arch_vector(encoding)
    if not all(math.isfinite(float(v)) for v in vector):
        raise ValueError("the architecture vector is not finite")
    return GraphDescription(path=path, code=code, code_hash=code_hash(code) if code else "",
                            onnx_text_hash=encoding.text_sha256, arch_embedding=[float(v) for v in vector],
                            params=encoding.features.params, flops=encoding.features.flops)


def describe_files(paths: list[Path], cfg: AgentnasConfig, err: TextIO | None = None
                   ) -> dict[Path, GraphDescription | str] | int:
    """Describe candidate `.py` files (exported to ONNX inside the sandbox: candidate code
    is never imported here) and `.onnx` files (read with the safe loader). Each path maps to
    its description or to a message saying why there is none; an int is an exit status for a
    problem that stops everything (no isolation, a bad task)."""
    from agentnas.encode.files import graph_files

    err = err or sys.stderr
    cache = EncodingCache(cfg.cache_dir / "encodings")
    described: dict[Path, GraphDescription | str] = {}
    with tempfile.TemporaryDirectory(prefix="agentnas-memory-") as tmp:
        graphs = graph_files(paths, cfg, Path(tmp), err)
        if isinstance(graphs, int):
            return graphs
        for path in paths:
            source = graphs[path]
            if isinstance(source, str):
                described[path] = source
                continue
            try:
                code = path.read_text(encoding="utf-8", errors="replace") if path.suffix == ".py" else ""
                described[path] = describe_onnx(load_onnx(source), cache, path=str(path), code=code)
            except OnnxLoadError as e:
                described[path] = f"graph unusable: {e}"
            except Exception as e:  # an odd graph is this path's failure, not the command's
                described[path] = f"cannot encode: {type(e).__name__}: {e}"
    return described
