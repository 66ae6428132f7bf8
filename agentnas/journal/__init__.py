"""The run journal: the append-only SQLite log of everything a run did (store.py), and the
run's tree rebuilt from it (tree.py)."""

from agentnas.journal.store import (
    JOURNAL_FILE,
    SCHEMA_VERSION,
    Entry,
    Journal,
    JournalConflict,
    JournalError,
    open_journal,
)

__all__ = ["JOURNAL_FILE", "SCHEMA_VERSION", "Entry", "Journal", "JournalConflict", "JournalError", "open_journal"]
