"""Text vectors for hypotheses and insights: the offline MiniLM of agentnas.encode (384-d, unit norm)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from agentnas.encode.embed import (
    TEXT_DIM,
    EncodingCache,
    TextEmbedding,
    count_tokens,
    embed_text,
    text_model,
    text_sha256,
    token_budget,
)
from agentnas.threads import one_thread

TextEmbedder = Callable[[Sequence[str]], np.ndarray]
"""texts -> float32 array (len(texts), TEXT_DIM), rows of unit norm."""

# An empty hypothesis still needs a vector (Chroma stores one per item, and a zero vector has
# no cosine distance); every empty one gets this text's.
NO_HYPOTHESIS = "(no hypothesis was written for this experiment)"


def minilm_embedder(cache_dir: Path | None = None) -> TextEmbedder:
    """The MiniLM embedder, caching each text's vector under `cache_dir/encodings` (the
    model loads on the first text that is not cached). Texts that fit in one chunk are
    encoded in one batch; longer ones go through `embed_text`'s chunking and pooling. Both
    give the vector `embed_text` gives, and share its cache."""
    cache = EncodingCache(Path(cache_dir) / "encodings") if cache_dir is not None else None

    def embed(texts: Sequence[str]) -> np.ndarray:
        clean = [t.strip() or NO_HYPOTHESIS for t in texts]
        out = np.zeros((len(clean), TEXT_DIM), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for row, text in enumerate(clean):
            hit = cache.get(text_sha256(text)) if cache is not None else None
            if hit is not None:
                out[row] = hit.vector
            else:
                todo.setdefault(text, []).append(row)
        if not todo:
            return out
        with one_thread():
            model = text_model()
            unique = list(todo)
            tokens = count_tokens(unique, model)
            short = [(t, n) for t, n in zip(unique, tokens, strict=True) if 0 < n <= token_budget(model)]
            if short:
                vectors = model.encode([t for t, _ in short], batch_size=32, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False)
                for (text, n), vector in zip(short, vectors, strict=True):
                    out[todo[text]] = vector
                    if cache is not None:
                        cache.put(TextEmbedding(text_sha256=text_sha256(text), chunks=1, tokens=n,
                                                vector=[float(v) for v in np.asarray(vector, dtype=np.float32)]))
            done = {t for t, _ in short}
            for text in unique:
                if text not in done:
                    out[todo[text]] = embed_text(text, cache).vector
        return out

    return embed
