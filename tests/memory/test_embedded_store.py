"""The embedded store with other processes: one writer, readers beside it, a writer killed mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from memory_support import make_record, run_python, wait_for_line, word_embedder

from agentnas.memory import (
    EmptyStore,
    MemorySpecError,
    StoreLockedError,
    exact_similar,
    open_memory,
    read_holder,
)

# A writer process: opens the store, adds records e0, e1, ... printing "wrote N" after each
# add returns, and waits for stdin to close (or loops until killed with `forever`).
WRITER = """
import sys
sys.path.insert(0, "tests/memory")
from memory_support import make_record, word_embedder
from agentnas.memory import open_memory
store = open_memory(sys.argv[1], embedder=word_embedder)
print("open", flush=True)
n, forever = int(sys.argv[2]), sys.argv[3] == "forever"
i = 0
while i < n or forever:
    store.add(make_record(i, hypothesis="x " * 2000 + str(i)))
    i += 1
    print(f"wrote {i}", flush=True)
print("done", flush=True)
sys.stdin.read()
store.close()
"""


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_second_writer_process_gets_a_clear_error_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    holder = run_python(WRITER, str(path), "2", "once")
    try:
        wait_for_line(holder, "done")
        second = subprocess.run(
            [sys.executable, "-c", "import sys; from agentnas.memory import open_memory; open_memory(sys.argv[1])",
             str(path)], capture_output=True, text=True, timeout=120)
        assert second.returncode != 0
        assert "StoreLockedError" in second.stderr
        assert f"pid {holder.pid}" in second.stderr
        assert "--memory http://" in second.stderr and "chroma run" in second.stderr
        # In this process too, and the holder's details are readable.
        with pytest.raises(StoreLockedError) as caught:
            open_memory(path, embedder=word_embedder, wait_s=0)
        assert caught.value.holder is not None and caught.value.holder.pid == holder.pid
        assert caught.value.holder.mode == "write"
        held = read_holder(path)
        assert held is not None and held.pid == holder.pid
    finally:
        _stop(holder)
    # The lock dies with its holder (kill -9 included): the store opens again, intact.
    assert read_holder(path) is None
    with open_memory(path, embedder=word_embedder) as store:
        assert sorted(store.ids()) == ["e0", "e1"]


def test_readers_read_a_snapshot_while_a_writer_is_writing(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    writer = run_python(WRITER, str(path), "0", "forever")
    try:
        wait_for_line(writer, "wrote 20")
        for _ in range(3):  # several snapshots while the writer keeps going
            with open_memory(path, embedder=word_embedder, read_only=True) as reader:
                assert "snapshot" in reader.note and f"pid {writer.pid}" in reader.note
                count = reader.count()
                assert count >= 20
                records = list(reader.records())
                assert len(records) == count and all(r.lesson == f"lesson {r.id[1:]}" for r in records)
                query = np.asarray(records[3].arch_embedding)
                hits = reader.similar(query, "arch", 3)
                assert [h.record.id for h in hits] == [h.record.id for h in exact_similar(reader, query, "arch", 3)]
                assert reader.similar(word_embedder([records[0].hypothesis])[0], "text", 1)
                with pytest.raises(PermissionError):
                    reader.add(make_record(999))
        # The command line reads it too.
        listing = subprocess.run([sys.executable, "-m", "agentnas", "memory", "ls", "--memory", str(path), "--json",
                                  "--limit", "5"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert listing.returncode == 0, listing.stderr
        assert "snapshot" in listing.stderr
        assert len(__import__("json").loads(listing.stdout)) == 5
    finally:
        _stop(writer)
    with open_memory(path, embedder=word_embedder) as store:  # the live store was never disturbed
        assert store.count() >= 20
        assert len(list(store.records())) == store.count()


def test_kill_during_writes_leaves_each_record_absent_or_whole(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    for round_ in range(2):
        writer = run_python(WRITER, str(path), "0", "forever")
        line = wait_for_line(writer, f"wrote {5 + 7 * round_}")
        os.killpg(writer.pid, signal.SIGKILL)  # mid-loop: most likely inside an add
        writer.wait(timeout=30)
        acknowledged = int(line.split()[1])
        with open_memory(path, embedder=word_embedder) as store:
            ids = store.ids()
            assert {f"e{i}" for i in range(acknowledged)} <= set(ids)  # every add that returned is kept
            for record in store.records():
                i = int(record.id[1:])
                whole = make_record(i, hypothesis="x " * 2000 + str(i))
                assert record.model_dump(exclude={"text_embedding", "code_hash"}) == \
                    whole.model_dump(exclude={"text_embedding", "code_hash"})
                hits = store.similar(record.arch_embedding or [], "arch", 1)
                assert hits and hits[0].record.id == record.id and hits[0].distance < 1e-3
            # The store takes writes again after the kill.
            extra = 1000 + round_
            store.add(make_record(extra, hypothesis="x " * 2000 + str(extra)))
            assert store.get(f"e{extra}") is not None


def test_a_torn_write_is_repaired_from_the_committed_record(tmp_path: Path) -> None:
    """What a kill between the two collection writes leaves, made on purpose: the architecture
    item of e0 rewritten for a version that never committed, e1 only in the architecture
    collection, and the intent file naming both."""
    from agentnas.memory.chroma import INTENT_FILE

    path = tmp_path / "memory"
    committed = make_record(0)
    with open_memory(path, embedder=word_embedder) as store:
        store.add(committed)
        torn = make_record(0, arch_embedding=make_record(50).arch_embedding)
        never = make_record(1)
        store._arch.upsert(ids=["e0", "e1"], embeddings=np.asarray([torn.arch_embedding, never.arch_embedding]),
                           metadatas=[{"task": "mnist1d", "rev": "torn"}, {"task": "mnist1d", "rev": "never"}])
        store._write_intent(["e0", "e1"])
        # Before any repair, reads already ignore the uncommitted vectors (their rev differs).
        assert [h.record.id for h in store.similar(torn.arch_embedding or [], "arch", 2)] != ["e0", "e1"]
        assert all(h.record.id != "e1" for h in store.similar(never.arch_embedding or [], "arch", 2))
    assert (path / INTENT_FILE).exists()
    with open_memory(path, embedder=word_embedder) as store:  # the writer's open repairs
        assert not (path / INTENT_FILE).exists()
        assert store.ids() == ["e0"]
        hits = store.similar(committed.arch_embedding or [], "arch", 5)
        assert [h.record.id for h in hits] == ["e0"] and hits[0].distance < 1e-3
        assert store._arch.count() == 1


def test_a_store_written_with_another_layout_is_refused_not_misread(tmp_path: Path) -> None:
    from agentnas.memory import ARCH_DIM, MemoryStoreError

    path = tmp_path / "memory"
    with open_memory(path, embedder=word_embedder) as store:
        store.add(make_record(0))
        store._arch.modify(metadata={"agentnas_schema": 1, "dim": ARCH_DIM, "arch_version": 99})
    with pytest.raises(MemoryStoreError, match="arch_version=99"):
        open_memory(path, embedder=word_embedder)
    assert read_holder(path) is None  # the failed open released its lock


def test_missing_store_reads_as_empty_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nothing-here"
    with open_memory(path, embedder=word_embedder, read_only=True) as store:
        assert isinstance(store, EmptyStore)
        assert store.count() == 0 and store.similar([0.0] * 384) == []
    assert not path.exists()


def test_a_folder_that_is_not_a_memory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(MemorySpecError, match="not empty"):
        open_memory(tmp_path, embedder=word_embedder)
    with pytest.raises(MemorySpecError, match="not a folder"):
        open_memory(tmp_path / "notes.txt", embedder=word_embedder)
    with pytest.raises(MemorySpecError, match="expected"):
        open_memory("ftp://host/x", embedder=word_embedder)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_unreachable_server_is_a_clear_error() -> None:
    from agentnas.memory import MemoryStoreError

    with pytest.raises(MemoryStoreError, match="cannot reach the Chroma server"):
        open_memory("http://127.0.0.1:9", embedder=word_embedder, timeout_s=2)
