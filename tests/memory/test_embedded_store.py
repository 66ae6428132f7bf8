"""The embedded store with other processes: writers side by side, readers beside them, a long hold,
writers killed mid-write or with records still queued."""

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
    EmbeddedStore,
    EmptyStore,
    MemorySpecError,
    StoreLockedError,
    exact_similar,
    open_memory,
    read_holder,
)

# A writer process: opens the store, adds records e{offset}, e{offset+1}, ... printing "wrote N"
# after each add returns, and waits for stdin to close (or loops until killed with `forever`).
# With `hold` it makes its adds inside one session, so it holds the store until it is killed.
WRITER = """
import contextlib, sys
sys.path.insert(0, "tests/memory")
from memory_support import make_record, word_embedder
from agentnas.memory import open_memory
store = open_memory(sys.argv[1], embedder=word_embedder)
print("open", flush=True)
n, mode, offset = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0
forever = mode in ("forever", "hold")
i = 0
with store.session() if mode == "hold" else contextlib.nullcontext():
    while i < n or forever:
        store.add(make_record(offset + i, hypothesis="x " * 2000 + str(offset + i)))
        i += 1
        print(f"wrote {i}", flush=True)
print("done", flush=True)
sys.stdin.read()
store.close()
print("closed", flush=True)
"""

# Holds the store (one session) until stdin closes or it is killed.
HOLDER = """
import sys
sys.path.insert(0, "tests/memory")
from memory_support import word_embedder
from agentnas.memory import open_memory
store = open_memory(sys.argv[1], embedder=word_embedder)
with store.session():
    print("held", flush=True)
    sys.stdin.read()
store.close()
"""


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _finish(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""


def test_two_writer_processes_share_the_store_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    first = run_python(WRITER, str(path), "12", "once", "0")
    second = run_python(WRITER, str(path), "12", "once", "100")
    try:
        wait_for_line(first, "done")
        wait_for_line(second, "done")
        # Each sees the other's records while both are open.
        with open_memory(path, embedder=word_embedder) as store:
            assert set(store.ids()) == {f"e{i}" for i in range(12)} | {f"e{i}" for i in range(100, 112)}
        _finish(first)
        _finish(second)
    finally:
        _stop(first)
        _stop(second)
    with open_memory(path, embedder=word_embedder, read_only=True) as store:
        assert store.count() == 24 and store.note == ""
        for record in store.records():
            i = int(record.id[1:])
            assert record.lesson == f"lesson {i}" and record.hypothesis.endswith(str(i))
    assert not list((path / "queue").glob("*.jsonl"))  # everything queued was stored


def test_a_long_hold_is_waited_for_then_a_clear_error_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    holder = run_python(HOLDER, str(path))
    try:
        wait_for_line(holder, "held")
        second = subprocess.run(
            [sys.executable, "-c", "import sys; from agentnas.memory import open_memory\n"
                                   "with open_memory(sys.argv[1], wait_s=0.5).session(): pass", str(path)],
            capture_output=True, text=True, timeout=120)
        assert second.returncode != 0
        assert "StoreLockedError" in second.stderr
        assert f"pid {holder.pid}" in second.stderr
        assert "--memory http://" in second.stderr and "chroma run" in second.stderr
        store = open_memory(path, embedder=word_embedder, wait_s=0)  # an existing store opens; holding it waits
        with pytest.raises(StoreLockedError) as caught, store.session():
            pass
        assert caught.value.holder is not None and caught.value.holder.pid == holder.pid
        held = read_holder(path)
        assert held is not None and held.pid == holder.pid and held.mode == "write"
    finally:
        _stop(holder)
    # The lock dies with its holder (kill -9 included): the store can be held again.
    assert read_holder(path) is None
    with store.session():
        assert store.ids() == []
    store.close()


# Opens the store, then at a line on stdin adds e7 and prints how many records the store's
# queue holds after the add returned.
QUEUER = """
import sys
sys.path.insert(0, "tests/memory")
from memory_support import make_record, word_embedder
from agentnas.memory import open_memory
store = open_memory(sys.argv[1], embedder=word_embedder)
store.write_wait_s = 0.2
print("open", flush=True)
sys.stdin.readline()
store.add(make_record(7))
print(f"added, queued {store.pending()}", flush=True)
sys.stdin.read()
"""


def test_an_add_queued_while_another_process_holds_the_store_survives_kill_9(tmp_path: Path) -> None:
    """The add returns while the store is held elsewhere, so its record is only queued; both
    processes are then killed with SIGKILL, and the next open stores the record whole."""
    path = tmp_path / "memory"
    writer = run_python(QUEUER, str(path))
    holder = None
    try:
        wait_for_line(writer, "open")
        holder = run_python(HOLDER, str(path))
        wait_for_line(holder, "held")
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert wait_for_line(writer, "added") == "added, queued 1"
    finally:
        _stop(writer)
        if holder is not None:
            _stop(holder)
    assert len(list((path / "queue").glob("*.jsonl"))) == 1
    with open_memory(path, embedder=word_embedder, read_only=True) as reader:
        assert reader.ids() == []  # readers never write: the record waits in the queue
    with open_memory(path, embedder=word_embedder) as store:
        assert store.ids() == ["e7"]
        stored = store.get("e7")
        assert stored is not None
        assert stored.model_dump(exclude={"text_embedding", "code_hash"}) == \
            make_record(7).model_dump(exclude={"text_embedding", "code_hash"})
        hits = store.similar(stored.arch_embedding or [], "arch", 1)
        assert [h.record.id for h in hits] == ["e7"]
    assert not list((path / "queue").glob("*.jsonl"))


def test_a_long_hold_elsewhere_leaves_reads_to_a_snapshot_and_writes_queued(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    store = open_memory(path, embedder=word_embedder)
    assert isinstance(store, EmbeddedStore)
    store.add_many([make_record(0), make_record(1)])
    store.read_wait_s = store.write_wait_s = 0.2
    holder = run_python(HOLDER, str(path))
    try:
        wait_for_line(holder, "held")
        assert sorted(store.ids()) == ["e0", "e1"]
        with store.session(read_only=True):
            assert store._held().note.startswith("read from a snapshot") and f"pid {holder.pid}" in store._held().note
            assert [h.record.id for h in store.similar(make_record(1).arch_embedding or [], "arch", 1)] == ["e1"]
        store.add(make_record(2))  # returns: the record is queued, durable, until the store is free
        assert store.pending() == 1 and "e2" not in store.ids()
        _finish(holder)
        assert sorted(store.ids()) == ["e0", "e1", "e2"] and store.pending() == 0
    finally:
        _stop(holder)
        store.close()


def test_readers_read_a_snapshot_while_a_writer_holds_the_store(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    writer = run_python(WRITER, str(path), "0", "hold")
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
    with open_memory(path, embedder=word_embedder) as store, store.session():
        assert isinstance(store, EmbeddedStore)
        store.add(committed)
        chroma = store._held()
        torn = make_record(0, arch_embedding=make_record(50).arch_embedding)
        never = make_record(1)
        chroma._arch.upsert(ids=["e0", "e1"], embeddings=np.asarray([torn.arch_embedding, never.arch_embedding]),
                            metadatas=[{"task": "mnist1d", "rev": "torn"}, {"task": "mnist1d", "rev": "never"}])
        chroma._write_intent(["e0", "e1"])
        # Before any repair, reads already ignore the uncommitted vectors (their rev differs).
        assert [h.record.id for h in store.similar(torn.arch_embedding or [], "arch", 2)] != ["e0", "e1"]
        assert all(h.record.id != "e1" for h in store.similar(never.arch_embedding or [], "arch", 2))
    assert (path / INTENT_FILE).exists()
    with open_memory(path, embedder=word_embedder) as store, store.session():  # the next hold repairs
        assert isinstance(store, EmbeddedStore)
        assert not (path / INTENT_FILE).exists()
        assert store.ids() == ["e0"]
        hits = store.similar(committed.arch_embedding or [], "arch", 5)
        assert [h.record.id for h in hits] == ["e0"] and hits[0].distance < 1e-3
        assert store._held()._arch.count() == 1


def test_a_store_written_with_another_layout_is_refused_not_misread(tmp_path: Path) -> None:
    from agentnas.memory import ARCH_DIM, MemoryStoreError

    path = tmp_path / "memory"
    with open_memory(path, embedder=word_embedder) as store, store.session():
        assert isinstance(store, EmbeddedStore)
        store.add(make_record(0))
        store._held()._arch.modify(metadata={"agentnas_schema": 1, "dim": ARCH_DIM, "arch_version": 99})
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
