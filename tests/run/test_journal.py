"""The run journal: append-only, idempotent, durable across a kill."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentnas.journal import Journal, JournalConflict, JournalError, open_journal


def test_entries_come_back_in_append_order_with_their_payloads(tmp_path: Path) -> None:
    with open_journal(tmp_path) as j:
        j.append("node", "n1", {"parent": None, "text": "root"})
        j.append("experiment", "e1", {"node": "n1", "val": 0.5})
        j.append("node", "n2", {"parent": "n1", "text": "child"})
        assert [e.key for e in j.entries()] == ["n1", "e1", "n2"]
        assert [e.key for e in j.entries("node")] == ["n1", "n2"]
        assert [e.key for e in j.entries(("node", "experiment"), after=1)] == ["e1", "n2"]
        assert j.get("experiment", "e1").payload == {"node": "n1", "val": 0.5}  # type: ignore[union-attr]
        assert j.count("node") == 2 and j.last_seq() == 3


def test_reappending_the_same_entry_is_idempotent_and_a_different_one_is_refused(tmp_path: Path) -> None:
    with open_journal(tmp_path) as j:
        first = j.append("experiment", "e1", {"val": 0.5, "b": [1, 2]})
        again = j.append("experiment", "e1", {"b": [1, 2], "val": 0.5})
        assert again.seq == first.seq and j.count("experiment") == 1
        with pytest.raises(JournalConflict, match="e1"):
            j.append("experiment", "e1", {"val": 0.9})
        assert j.get("experiment", "e1").payload["val"] == 0.5  # type: ignore[union-attr]


def test_the_database_itself_refuses_updates_and_deletes(tmp_path: Path) -> None:
    with open_journal(tmp_path) as j:
        j.append("node", "n1", {"x": 1})
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE entries SET payload='{}'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM entries")
    db.close()


def test_a_reader_sees_committed_entries_while_the_writer_is_open(tmp_path: Path) -> None:
    writer = open_journal(tmp_path)
    writer.append("node", "n1", {"x": 1})
    with open_journal(tmp_path, read_only=True) as reader:
        assert [e.key for e in reader.entries()] == ["n1"]
        with pytest.raises(JournalError, match="read-only"):
            reader.append("node", "n2", {})
    writer.close()


def test_a_file_that_is_not_a_journal_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "journal.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match="not an agentnas journal"):
        Journal(bad)
    assert bad.read_bytes() == b"this is not sqlite" * 100  # nothing overwritten
    with pytest.raises(JournalError, match="no journal"):
        open_journal(tmp_path / "absent", read_only=True)


def test_kill_during_appends_leaves_every_committed_entry_whole(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from agentnas.journal import open_journal
        j = open_journal({str(tmp_path)!r})
        i = 0
        while True:
            j.append("event", str(i), {{"i": i, "blob": "x" * 5000}})
            if i == 50:
                print("ready", flush=True)
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.kill()
    proc.wait()
    with open_journal(tmp_path) as j:
        rows = list(j.entries("event"))
        assert len(rows) > 50
        assert [int(e.key) for e in rows] == list(range(len(rows)))
        assert all(e.payload == {"i": int(e.key), "blob": "x" * 5000} for e in rows)
        j.append("event", "after", {"ok": True})  # still writable


def test_a_journal_written_before_payloads_were_versioned_reads_and_upgrades(tmp_path: Path) -> None:
    import sqlite3

    from agentnas.journal.tree import RunTree
    from agentnas.records import SCHEMA_VERSION

    with open_journal(tmp_path) as j:  # the shapes version 1 wrote: no graph hash, slot, refill, fidelity fraction
        j.append("hypothesis", "h000", {"text": "wider", "source": "researcher", "iteration": 0})
        j.append("node", "i00000-c0", {"hypothesis_id": "h000", "parent_id": None, "iteration": 0, "code": "x = 1\n",
                                       "arch": None, "status": "scored", "operator": "seed", "description": "d",
                                       "params": 10, "mean": 0.5, "std": 0.1, "code_hash": "abc"})
        j.append("experiment", "i00000-c0", {"node_id": "i00000-c0", "status": "ok", "val_accuracy": 0.9,
                                             "test_accuracy": 0.8, "iteration": 0, "fidelity": "full"})
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        db.execute("DELETE FROM meta WHERE name='payloads'")  # as an old journal has it
    with open_journal(tmp_path, read_only=True) as j:
        assert j.payload_version == 1
        tree = RunTree.from_journal(j)
    assert tree.best() is not None and tree.best().val_accuracy == 0.9  # type: ignore[union-attr]
    assert tree.search.visits("h000") == 1
    with open_journal(tmp_path) as j:
        assert j.payload_version == SCHEMA_VERSION


def test_a_journal_from_a_newer_agentnas_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    import sqlite3

    from agentnas.journal import JournalError

    with open_journal(tmp_path) as j:
        j.append("event", "e", {"kind": "x"})
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('payloads', '99')")
    before = (tmp_path / "journal.sqlite").read_bytes()
    with pytest.raises(JournalError, match="newer agentnas"):
        open_journal(tmp_path)
    assert (tmp_path / "journal.sqlite").read_bytes() == before
