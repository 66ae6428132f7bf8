"""Text -> vector: nothing cut, every chunk within the model's limit, cached, three modes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from agentnas.encode import FEATURE_NAMES, load_onnx, onnx_to_text
from agentnas.encode.chunking import chunk_text
from agentnas.encode.embed import TEXT_DIM, EncodingCache, embed_text, encode_graph, split_text, text_sha256
from agentnas.encode.features import GRAPH_FEATURE_NAMES
from agentnas.evaluator.proxies import PROXY_NAMES

MODEL_LIMIT = 256  # all-MiniLM-L6-v2's max sequence, [CLS] and [SEP] included


def _long_graph(blocks: int = 60, chain: int = 300) -> onnx.ModelProto:
    """Residual blocks (many short lines) then one chain of `chain` activations (one line far
    over the token limit)."""
    width = 16
    nodes, inits = [], []
    prev = "x"
    for i in range(blocks):
        inits.append(numpy_helper.from_array(np.ones((width, width), np.float32), f"w{i}"))
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Relu", [f"m{i}"], [f"r{i}"]),
                  helper.make_node("Add", [prev, f"r{i}"], [f"a{i}"])]
        prev = f"a{i}"
    for j in range(chain):
        nodes.append(helper.make_node("Sigmoid" if j % 2 else "Tanh", [prev], [f"c{j}"]))
        prev = f"c{j}"
    graph = helper.make_graph(nodes, "long", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info(prev, onnx.TensorProto.FLOAT, [1, width])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _tokens(model: Any, text: str) -> int:
    return len(model.tokenizer(text)["input_ids"])  # with [CLS] and [SEP], as the model reads it


def test_a_long_graph_is_chunked_with_no_line_lost_and_every_chunk_fits(text_model: Any) -> None:
    text = onnx_to_text(_long_graph())
    assert _tokens(text_model, text) > 10 * MODEL_LIMIT
    assert max(_tokens(text_model, line) for line in text.splitlines()) > MODEL_LIMIT  # the long chain
    chunks = split_text(text, text_model)
    assert "".join(chunks) == text
    assert len(chunks) > 10
    assert max(_tokens(text_model, c) for c in chunks) <= MODEL_LIMIT
    whole_lines = [c for c in chunks if c.endswith("\n")]
    assert len(whole_lines) >= len(chunks) // 2  # lines are kept whole where they fit


def test_chunking_splits_at_arrows_then_spaces_then_inside_words() -> None:
    def count(texts: Any) -> list[int]:  # one token per 4 characters, rounded up
        return [-(-len(t) // 4) for t in texts]

    text = "alpha --> beta --> gamma --> delta\n" + "x" * 50 + "\nshort\n"
    chunks = chunk_text(text, count, budget=5)
    assert "".join(chunks) == text
    assert all(count([c])[0] <= 5 for c in chunks)
    assert "alpha --> " in chunks and "x" * 20 in chunks
    assert chunk_text("", count, 5) == []
    with pytest.raises(ValueError):
        chunk_text(text, count, 0)


def test_text_vectors_are_unit_norm_deterministic_and_tell_graphs_apart(
        text_model: Any, example_onnx: Callable[[str], Path]) -> None:
    cnn = onnx_to_text(load_onnx(example_onnx("mnist1d_cnn")))
    gru = onnx_to_text(load_onnx(example_onnx("mnist1d_gru")))
    a, b, c = embed_text(cnn), embed_text(cnn), embed_text(gru)
    va, vc = np.asarray(a.vector), np.asarray(c.vector)
    assert va.shape == (TEXT_DIM,) and abs(np.linalg.norm(va) - 1) < 1e-5
    assert a == b
    assert a.text_sha256 == text_sha256(cnn) and a.chunks == 1
    assert float(va @ vc) < 0.999


def test_a_multi_chunk_text_pools_every_chunk(text_model: Any) -> None:
    text = onnx_to_text(_long_graph(blocks=20, chain=0))
    pooled = embed_text(text)
    first_chunk_only = embed_text(split_text(text, text_model)[0])
    assert pooled.chunks > 1 and pooled.tokens > MODEL_LIMIT
    assert abs(np.linalg.norm(pooled.vector) - 1) < 1e-5
    assert not np.allclose(pooled.vector, first_chunk_only.vector, atol=1e-3)


def test_encodings_are_cached_on_disk_by_text_hash(text_model: Any, tmp_path: Path,
                                                   example_onnx: Callable[[str], Path]) -> None:
    cache = EncodingCache(tmp_path / "encodings")
    text = onnx_to_text(load_onnx(example_onnx("digits_mlp")))
    first = embed_text(text, cache)
    digest = text_sha256(text)
    files = sorted(p.name for p in cache.dir.iterdir())
    assert files == [f"{digest}.json", f"{digest}.npy"]
    assert cache.get(digest) == first and embed_text(text, cache) == first
    (cache.dir / f"{digest}.npy").write_bytes(b"damaged")
    assert cache.get(digest) is None
    assert embed_text(text, cache).vector == pytest.approx(first.vector)
    assert cache.get(digest) is not None  # rewritten


def test_encode_graph_modes_give_text_structure_or_both(text_model: Any,
                                                        example_onnx: Callable[[str], Path]) -> None:
    model = load_onnx(example_onnx("mnist1d_mlp"))
    both = encode_graph(model)
    chunks = encode_graph(model, mode="chunks")
    features = encode_graph(model, mode="features")
    assert both.mode == "both" and len(both.vector) == TEXT_DIM + len(FEATURE_NAMES)
    assert chunks.vector == chunks.text_vector and len(chunks.vector) == TEXT_DIM
    assert features.vector == features.feature_vector and features.chunks is None and features.text_vector is None
    assert both.vector == [*chunks.vector, *features.vector]
    assert both.features.params == 78858 and both.text_sha256 == text_sha256(onnx_to_text(model))
    fv = both.feature_vector
    graph, proxies = fv[: len(GRAPH_FEATURE_NAMES)], fv[len(GRAPH_FEATURE_NAMES):]
    ops = GRAPH_FEATURE_NAMES.index("op_Conv")
    assert all(0.0 <= v <= 1.0 for v in graph) and sum(graph[ops:]) == pytest.approx(1.0)
    assert proxies == [0.0] * len(PROXY_NAMES) + [1.0] * len(PROXY_NAMES)  # none given: all unknown
    with pytest.raises(ValueError):
        encode_graph(model, mode="words")  # type: ignore[arg-type]
