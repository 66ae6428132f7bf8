"""Export and import a memory as JSONL: one `ExperimentRecord` per line, vectors included.

The file moves a memory between machines and between backends (embedded <-> server)
without re-encoding anything: the architecture vector needs the sandbox, so it travels
with the record. Export writes a temporary file and renames it, so an interrupted export
never leaves a half file under the name asked for. Import reads and validates every line
before it writes anything: a bad file stores nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from agentnas.encode.embed import TEXT_DIM
from agentnas.memory.arch import ARCH_DIM
from agentnas.memory.base import MemoryFilter, MemoryStore
from agentnas.records import ExperimentRecord


class TransferError(ValueError):
    """The file cannot be imported; the message names the line."""


def export_jsonl(store: MemoryStore, path: Path, where: MemoryFilter | None = None) -> int:
    """Write every matching record (oldest first) to `path`; returns how many."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    count = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for record in store.records(where):
                f.write(record.model_dump_json() + "\n")
                count += 1
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return count


def read_jsonl(path: Path) -> list[ExperimentRecord]:
    """Parse and check every line; raises `TransferError` at the first bad one."""
    records: list[ExperimentRecord] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TransferError(f"cannot read {path}: {e}") from e
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = ExperimentRecord.model_validate_json(line)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(line)"
            raise TransferError(f"{path} line {n}: {where}: {first['msg']}") from e
        if record.text_embedding is not None and len(record.text_embedding) != TEXT_DIM:
            raise TransferError(f"{path} line {n}: text_embedding has {len(record.text_embedding)} dimensions, "
                                f"expected {TEXT_DIM}")
        if record.arch_embedding is not None and len(record.arch_embedding) != ARCH_DIM:
            raise TransferError(f"{path} line {n}: arch_embedding has {len(record.arch_embedding)} dimensions, "
                                f"expected {ARCH_DIM}")
        records.append(record)
    return records


def import_jsonl(store: MemoryStore, path: Path, batch: int = 256) -> int:
    """Upsert every record of the file (by id: importing twice changes nothing); returns how many."""
    records = read_jsonl(path)
    for start in range(0, len(records), batch):
        store.add_many(records[start:start + batch])
    return len(records)
