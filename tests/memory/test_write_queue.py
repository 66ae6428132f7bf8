"""The write queue of the embedded store: what a drain stores, keeps aside and ignores."""

from __future__ import annotations

from pathlib import Path

from memory_support import make_record, word_embedder

from agentnas.memory import open_memory
from agentnas.memory.chroma import prepare_records
from agentnas.memory.queue import QUEUE_DIR, WriteQueue, drain, pending
from agentnas.records import ExperimentRecord


def _ready(*ids: int, **fields: object) -> list[ExperimentRecord]:
    return prepare_records([make_record(i, **fields) for i in ids], word_embedder)


def test_a_cut_short_line_is_ignored_and_an_unreadable_line_is_kept_aside(tmp_path: Path) -> None:
    queue = WriteQueue(tmp_path)
    queue.append(_ready(1))
    with open(queue.path, "a", encoding="utf-8") as f:
        f.write('{"t": 5, "record": {"id": "from another version"}}\n')  # whole, but not a record
        f.write('{"t": 6, "record": {"id": "e2", "hyp')  # the write of an add that never returned
    assert pending(tmp_path) == 1
    stored: list[ExperimentRecord] = []
    assert drain(tmp_path, stored.extend) == 1
    assert [r.id for r in stored] == ["e1"]
    assert not queue.path.exists()
    kept = queue.path.with_name(queue.path.name + ".unreadable")
    assert "from another version" in kept.read_text()
    assert drain(tmp_path, stored.extend) == 0 and len(stored) == 1  # kept aside, never drained again


def test_a_record_the_store_refuses_is_kept_aside_and_the_others_are_stored(tmp_path: Path) -> None:
    WriteQueue(tmp_path).append(_ready(1, 2, 3))
    stored: list[str] = []

    def write(records: list[ExperimentRecord]) -> None:
        if any(r.id == "e2" for r in records):
            raise ValueError("e2: not for this store")
        stored.extend(r.id for r in records)

    drain(tmp_path, write)
    assert stored == ["e1", "e3"]
    (aside,) = (tmp_path / QUEUE_DIR).glob("refused-*")
    assert ExperimentRecord.model_validate_json(aside.read_text().strip()).id == "e2"
    assert pending(tmp_path) == 0


def test_an_append_after_a_drain_starts_a_new_file_and_is_not_lost(tmp_path: Path) -> None:
    queue = WriteQueue(tmp_path)
    queue.append(_ready(1))
    stored: list[ExperimentRecord] = []
    drain(tmp_path, stored.extend)
    queue.append(_ready(2))
    assert pending(tmp_path) == 1
    drain(tmp_path, stored.extend)
    assert [r.id for r in stored] == ["e1", "e2"]


def test_the_last_queued_version_of_an_experiment_wins_across_processes_queues(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    with open_memory(path, embedder=word_embedder) as store:
        first, second = WriteQueue(path), WriteQueue(path)  # as two processes would queue
        second.append(_ready(4, lesson="old"))
        first.append(_ready(4, lesson="new"))
        assert store.ids() == ["e4"]  # a call takes the store, which stores the queue first
        got = store.get("e4")
        assert got is not None and got.lesson == "new"
