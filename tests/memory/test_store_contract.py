"""The `MemoryStore` contract, run against both backends: embedded and a `chroma run` server."""

from __future__ import annotations

import numpy as np
import pytest
from memory_support import make_record, word_embedder

from agentnas.encode.embed import TEXT_DIM
from agentnas.memory import ARCH_DIM, MemoryFilter, MemoryStore, exact_similar
from agentnas.records import ExperimentStatus, FailureKind


def test_added_record_comes_back_whole_with_its_vectors(store: MemoryStore) -> None:
    record = make_record(7)
    store.add(record)
    got = store.get("e7")
    assert got is not None
    vectors_and_hash = {"text_embedding", "arch_embedding", "code_hash"}  # the store fills the last two
    assert got.model_dump(exclude=vectors_and_hash) == record.model_dump(exclude=vectors_and_hash)
    assert got.arch_embedding == record.arch_embedding
    assert got.text_embedding is not None and len(got.text_embedding) == TEXT_DIM
    np.testing.assert_allclose(got.text_embedding, word_embedder([record.hypothesis])[0], atol=1e-6)
    assert store.get("missing") is None


def test_adding_an_id_again_replaces_it_and_never_duplicates(store: MemoryStore) -> None:
    store.add_many([make_record(i) for i in range(4)])
    store.add(make_record(2))  # the same record again: idempotent
    changed = make_record(1, lesson="a new lesson", arch=False)
    store.add(changed)
    assert store.count() == 4
    assert sorted(store.ids()) == ["e0", "e1", "e2", "e3"]
    got = store.get("e1")
    assert got is not None and got.lesson == "a new lesson" and got.arch_embedding is None
    # The architecture vector it had is gone from architecture search.
    assert "e1" not in [h.record.id for h in store.similar(make_record(1).arch_embedding or [], "arch", 10)]


def test_a_batch_with_a_repeated_id_keeps_the_last(store: MemoryStore) -> None:
    store.add_many([make_record(0, lesson="first"), make_record(0, lesson="second")])
    assert store.count() == 1
    assert store.get("e0").lesson == "second"  # type: ignore[union-attr]


def test_code_hash_is_filled_from_the_code(store: MemoryStore) -> None:
    from agentnas.fingerprint import code_hash

    store.add(make_record(3))
    got = store.get("e3")
    assert got is not None and got.code_hash == code_hash(make_record(3).code)


def test_filters_match_the_reference_filter(store: MemoryStore) -> None:
    records = [make_record(i, task="mnist1d" if i % 2 else "digits", run_id=f"run-{i % 3}") for i in range(24)]
    store.add_many(records)
    filters = [
        MemoryFilter(task="digits"), MemoryFilter(status=ExperimentStatus.FAILED),
        MemoryFilter(run_id="run-1", task="mnist1d"), MemoryFilter(min_score=0.55),
        MemoryFilter(min_score=0.52, max_score=0.6), MemoryFilter(failure_kind=FailureKind.SHAPE, task="digits"),
        MemoryFilter(hypothesis_id="h2"), MemoryFilter(code_hash=records[5].code_hash or "none"),
        MemoryFilter(onnx_text_hash=records[4].onnx_text_hash), MemoryFilter(task="nothing"),
    ]
    for where in filters:
        expected = sorted(r.id for r in records if where.matches(r))
        assert sorted(store.ids(where)) == expected, where
        assert store.count(where) == len(expected)
    assert len(store.ids(MemoryFilter(min_score=0.55))) > 0  # the score filter selects something real


def test_text_search_returns_the_exact_nearest_with_filters(store: MemoryStore) -> None:
    records = [make_record(i, task="mnist1d" if i % 2 else "digits") for i in range(40)]
    store.add_many(records)
    rng = np.random.default_rng(1)
    for where in (None, MemoryFilter(task="digits"), MemoryFilter(min_score=0.6)):
        for _ in range(5):
            query = rng.standard_normal(TEXT_DIM).astype(np.float32)
            got = store.similar(query, "text", 5, where)
            want = exact_similar(store, query, "text", 5, where)
            assert [h.record.id for h in got] == [h.record.id for h in want]
            np.testing.assert_allclose([h.distance for h in got], [h.distance for h in want], atol=1e-4)
            assert all(where is None or where.matches(h.record) for h in got)


def test_hypothesis_search_finds_the_experiment_in_words(store: MemoryStore) -> None:
    store.add_many([make_record(i) for i in range(8)])
    query = word_embedder(["hypothesis 5: try wider convolutions for the signal"])[0]
    assert store.similar(query, "text", 1)[0].record.id == "e5"


def test_architecture_search_skips_records_without_a_graph(store: MemoryStore) -> None:
    records = [make_record(i, arch=i % 4 != 0) for i in range(16)]
    store.add_many(records)
    target = records[5]
    hits = store.similar(target.arch_embedding or [], "arch", 20)
    assert hits[0].record.id == "e5" and hits[0].distance == pytest.approx(0.0, abs=1e-3)
    assert {h.record.id for h in hits} == {r.id for r in records if r.arch_embedding}
    distances = [h.distance for h in hits]
    assert distances == sorted(distances)
    want = exact_similar(store, np.asarray(target.arch_embedding), "arch", 20)
    np.testing.assert_allclose(distances, [h.distance for h in want], rtol=1e-3, atol=1e-3)
    failed_only = store.similar(target.arch_embedding or [], "arch", 20, MemoryFilter(status=ExperimentStatus.FAILED))
    assert failed_only and all(h.record.status == ExperimentStatus.FAILED for h in failed_only)


def test_bad_vectors_are_refused_and_nothing_is_stored(store: MemoryStore) -> None:
    good = make_record(0)
    with pytest.raises(ValueError, match="arch_embedding has 3 dimensions"):
        store.add_many([good, make_record(1, arch_embedding=[1.0, 2.0, 3.0])])
    with pytest.raises(ValueError, match="not finite"):
        store.add(make_record(2, arch_embedding=[float("nan")] * ARCH_DIM))
    with pytest.raises(ValueError, match="dimensions"):
        store.similar([0.0] * 5, "text")
    assert store.count() == 0


def test_records_iterate_in_write_order_and_query_newest_first(store: MemoryStore) -> None:
    order = [5, 1, 9, 3, 7]
    for i in order:
        store.add(make_record(i))
    assert [r.id for r in store.records(batch=2)] == [f"e{i}" for i in order]
    assert [r.id for r in store.query()] == ["e9", "e7", "e5", "e3", "e1"]  # by creation time
    assert [r.id for r in store.query(limit=2)] == ["e7", "e3"]  # the newest two writes, newest created first


def test_empty_store_answers_empty(store: MemoryStore) -> None:
    assert store.count() == 0 and store.ids() == [] and list(store.records()) == []
    assert store.similar([0.1] * TEXT_DIM, "text") == []
    assert store.similar([0.1] * ARCH_DIM, "arch") == []
