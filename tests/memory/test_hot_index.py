"""The hnswlib hot index: exact below a size, HNSW above, growing, saved and loaded with its ef."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from memory_support import make_record, word_embedder

from agentnas.bench.memory import embedding_like
from agentnas.memory import ARCH_DIM, HotIndex, MemoryFilter, open_memory


def _truth(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ data.T), axis=1, kind="stable")[:, :k]


def _recall(index: HotIndex, queries: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    found = [[int(i) for i, _ in index.query(q, k)] for q in queries]
    return float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth, strict=True)]))


def test_exact_below_the_threshold_then_hnsw_with_high_recall() -> None:
    data, queries = embedding_like(3000, 64, seed=0), embedding_like(100, 64, seed=1)
    index = HotIndex(64, "cosine", exact_below=500)
    index.add([str(i) for i in range(400)], data[:400])
    assert index.exact
    assert _recall(index, queries, _truth(data[:400], queries, 10)) == 1.0
    for start in range(400, 3000, 300):  # grows past the threshold and past its first capacity
        index.add([str(i) for i in range(start, min(start + 300, 3000))], data[start:start + 300])
    assert not index.exact and len(index) == 3000
    assert index._graph is not None and index._graph.get_max_elements() >= 3000
    assert _recall(index, queries, _truth(data, queries, 10)) >= 0.98
    first = index.query(queries[0], 3)
    assert [d for _, d in first] == sorted(d for _, d in first)
    np.testing.assert_allclose(first[0][1], 1 - float(data[int(first[0][0])] @ queries[0]), atol=1e-4)


def test_l2_distances_are_euclidean_in_both_modes() -> None:
    rng = np.random.default_rng(0)
    data = rng.standard_normal((300, 16)).astype(np.float32)
    for exact_below in (1000, 10):
        index = HotIndex(16, "l2", exact_below=exact_below)
        index.add([f"a{i}" for i in range(300)], data)
        assert index.exact == (exact_below == 1000)
        hits = index.query(data[7] + 0.01, 5)
        assert hits[0][0] == "a7"
        for ident, distance in hits:
            assert distance == pytest.approx(float(np.linalg.norm(data[int(ident[1:])] - data[7] - 0.01)), rel=1e-3)


def test_adding_an_id_again_replaces_its_vector() -> None:
    rng = np.random.default_rng(3)
    data = rng.standard_normal((50, 8)).astype(np.float32)
    for exact_below in (1000, 10):
        index = HotIndex(8, "l2", exact_below=exact_below)
        index.add([str(i) for i in range(50)], data)
        moved = data[3] + 100.0
        index.add(["0"], moved[None, :])
        assert len(index) == 50
        assert index.query(moved, 1)[0] == ("0", pytest.approx(0.0, abs=1e-3))
        assert index.query(data[0], 1)[0][0] != "0"


def test_filtered_query_only_returns_allowed_ids() -> None:
    data = embedding_like(600, 32, seed=5)
    index = HotIndex(32, "cosine", exact_below=100)
    index.add([f"{'a' if i % 5 else 'b'}{i}" for i in range(600)], data)
    hits = index.query(data[10], 7, allowed=lambda i: i.startswith("b"))
    assert len(hits) == 7 and all(i.startswith("b") for i, _ in hits)
    allowed = [i for i in range(600) if i % 5 == 0]
    truth = sorted(allowed, key=lambda i: -float(data[i] @ data[10]))[:7]
    assert [int(i[1:]) for i, _ in hits] == truth
    assert index.query(data[0], 3, allowed=lambda _: False) == []


def test_save_and_load_keep_ids_and_set_ef_again(tmp_path: Path) -> None:
    data, queries = embedding_like(2000, 48, seed=2), embedding_like(30, 48, seed=3)
    index = HotIndex(48, "cosine", exact_below=256, ef=100)
    index.add([f"x{i}" for i in range(2000)], data)
    index.save(tmp_path / "hot")
    loaded = HotIndex.load(tmp_path / "hot", ef=77)
    assert loaded._graph is not None and loaded._graph.ef == 77  # hnswlib alone would search with ef=10
    assert loaded.ids == index.ids
    same = HotIndex.load(tmp_path / "hot", ef=100)
    for q in queries:  # the same graph with the same ef answers the same
        assert same.query(q, 5) == index.query(q, 5)
    small = HotIndex(48, "cosine", exact_below=256)
    small.add(["only"], data[:1])
    small.save(tmp_path / "small")
    assert HotIndex.load(tmp_path / "small").query(data[0], 1)[0][0] == "only"
    meta = json.loads((tmp_path / "hot" / "meta.json").read_text())
    meta["ids"] = meta["ids"][:-1]  # a damaged save is refused, not trusted
    (tmp_path / "hot" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="no usable hot index"):
        HotIndex.load(tmp_path / "hot")


def test_open_builds_from_the_store_then_adds_only_what_is_new(tmp_path: Path) -> None:
    folder = tmp_path / "hot"
    with open_memory(tmp_path / "memory", embedder=word_embedder) as store:
        store.add_many([make_record(i, task="mnist1d" if i % 2 else "digits", arch=i % 5 != 0) for i in range(30)])
        where = MemoryFilter(task="mnist1d")
        index = HotIndex.open(folder, store, "arch", where)
        expected = {r.id for r in store.records(where) if r.arch_embedding}
        assert set(index.ids) == expected and index.dim == ARCH_DIM
        store.add_many([make_record(i) for i in (31, 33)])
        again = HotIndex.open(folder, store, "arch", where)
        assert set(again.ids) == expected | {"e31", "e33"}
        assert again.ids[:len(index.ids)] == index.ids  # loaded, then extended: labels kept
        target = store.get("e33")
        assert target is not None and again.query(target.arch_embedding or [], 1)[0][0] == "e33"
        text = HotIndex.open(tmp_path / "text", store, "text")
        assert len(text) == store.count()
        digits = HotIndex.open(folder, store, "arch", MemoryFilter(task="digits"))  # same folder, other filter
        assert set(digits.ids) == {r.id for r in store.records(MemoryFilter(task="digits")) if r.arch_embedding}
