"""`ChromaStore`: the memory in Chroma, embedded (`PersistentClient`) or on a server (`HttpClient`).

Two collections, one item per experiment id in each:
- `agentnas-experiments`: the hypothesis text vector (cosine), the hypothesis as the
  document, and as metadata the filter fields plus the whole record as JSON (all but the
  text vector, which is the item's own embedding) and `rev`, a hash of that JSON;
- `agentnas-architectures`: the architecture vector (Euclidean, see arch.py) of the
  experiments that have a graph, with the same filter fields and the `rev` it was written for.

Embeddings are always passed explicitly (no Chroma embedding function). A write puts the
architecture item first and the experiment item last: the experiment item is the commit
point. An architecture hit counts only when its `rev` equals its experiment's, so a
process killed between the two writes leaves the record absent (first write) or whole
with its previous architecture vector unused. The embedded store also keeps an intent file
of the ids being written and repairs them the next time it is opened for writing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentnas.encode.embed import TEXT_DIM
from agentnas.fingerprint import code_hash
from agentnas.memory.arch import ARCH_DIM, ARCH_VERSION
from agentnas.memory.base import Hit, MemoryFilter, MemoryStore, SearchBy
from agentnas.memory.lock import MemoryStoreError, StoreLock
from agentnas.memory.text import TextEmbedder
from agentnas.records import ExperimentRecord

EXPERIMENTS = "agentnas-experiments"
ARCHITECTURES = "agentnas-architectures"
SCHEMA_VERSION = 1
INTENT_FILE = "pending-writes.json"
SQLITE_FILE = "chroma.sqlite3"
# HNSW settings of Chroma's own index (the hot index has its own, see hot.py).
HNSW = {"ef_construction": 200, "ef_search": 128, "max_neighbors": 16}
# Chroma saves its index after this many writes in one client's life, and each new client
# replays the writes made since the last save. Processes share an embedded store by opening
# it for short sections (embedded.py), each writing a few records: with Chroma's default of
# 1000, a store written that way was saved almost never, and every open replayed the whole
# tail (0.43 s per open at 600 records, growing). A tail of at most 128 keeps an open cheap;
# a save rewrites the index files (~35 MB at 20,000 experiments), once per 128 writes.
SYNC_THRESHOLD = 128


def where_clause(where: MemoryFilter | None) -> dict[str, Any] | None:
    """A `MemoryFilter` as a Chroma `where` (None when it filters nothing)."""
    if where is None:
        return None
    terms: list[dict[str, Any]] = []
    for name in ("task", "status", "run_id", "hypothesis_id", "failure_kind", "code_hash", "onnx_text_hash"):
        value = getattr(where, name)
        if value is not None:
            terms.append({name: str(value)})
    if where.min_score is not None:
        terms.append({"score": {"$gte": float(where.min_score)}})
    if where.max_score is not None:
        terms.append({"score": {"$lte": float(where.max_score)}})
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _metadata(record: ExperimentRecord) -> dict[str, str | int | float | bool]:
    """The filter fields (Chroma metadata cannot hold None: absent fields are left out)."""
    meta: dict[str, str | int | float | bool] = {
        "task": record.task, "status": str(record.status), "run_id": record.run_id, "code_hash": record.code_hash,
        "created_at": record.created_at.timestamp()}
    optional = {"hypothesis_id": record.hypothesis_id, "parent_id": record.parent_id,
                "onnx_text_hash": record.onnx_text_hash, "score": record.score,
                "failure_kind": str(record.failure.kind) if record.failure is not None else None,
                "params": record.params}
    meta.update({k: v for k, v in optional.items() if v is not None})
    return meta


def _record_json(record: ExperimentRecord) -> str:
    return record.model_dump_json(exclude={"text_embedding"})


def _rev(record_json: str) -> str:
    return hashlib.sha256(record_json.encode()).hexdigest()[:16]


def prepare_records(records: Sequence[ExperimentRecord], embedder: TextEmbedder | None) -> list[ExperimentRecord]:
    """The records as a store keeps them: one per id (the last wins, as in separate adds),
    each with its text vector and code hash, every vector checked."""
    unique = list({r.id: r for r in records}.values())
    missing = [i for i, r in enumerate(unique) if r.text_embedding is None]
    if missing:
        if embedder is None:
            raise MemoryStoreError("records without text_embedding need a text embedder")
        vectors = embedder([unique[i].hypothesis for i in missing])
        for i, vector in zip(missing, vectors, strict=True):
            unique[i] = unique[i].model_copy(update={"text_embedding": [float(v) for v in vector]})
    out: list[ExperimentRecord] = []
    for r in unique:
        if r.code and not r.code_hash:
            r = r.model_copy(update={"code_hash": code_hash(r.code)})
        text_dim = len(r.text_embedding or [])
        if text_dim != TEXT_DIM:
            raise ValueError(f"experiment {r.id}: text_embedding has {text_dim} dimensions, expected {TEXT_DIM}")
        if r.arch_embedding is not None and len(r.arch_embedding) != ARCH_DIM:
            raise ValueError(f"experiment {r.id}: arch_embedding has {len(r.arch_embedding)} dimensions, "
                             f"expected {ARCH_DIM} (agentnas.memory.arch, version {ARCH_VERSION})")
        values = [*(r.text_embedding or []), *(r.arch_embedding or [])]
        if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
            raise ValueError(f"experiment {r.id}: an embedding is not finite")
        out.append(r)
    return out


class ChromaStore(MemoryStore):
    """A `MemoryStore` on a Chroma client. Build it with `agentnas.memory.open_memory`."""

    def __init__(self, client: Any, *, backend: str, location: str, embedder: TextEmbedder | None = None,
                 lock: StoreLock | None = None, read_only: bool = False, note: str = "",
                 store_dir: Path | None = None, on_close: Callable[[], None] | None = None) -> None:
        self._client, self._lock, self._embedder = client, lock, embedder
        self.backend, self.location, self.read_only, self.note = backend, location, read_only, note
        self._store_dir, self._on_close = store_dir, on_close
        self._batch: int | None = None
        self._closed = False
        self._exp = self._collection(EXPERIMENTS, "cosine", TEXT_DIM, {})
        self._arch = self._collection(ARCHITECTURES, "l2", ARCH_DIM, {"arch_version": ARCH_VERSION})
        if not read_only and store_dir is not None:
            self._repair_intent()

    def _collection(self, name: str, space: str, dim: int, extra: dict[str, int]) -> Any:
        wanted = {"agentnas_schema": SCHEMA_VERSION, "dim": dim, **extra}
        collection = self._client.get_or_create_collection(
            name, metadata=wanted, configuration={"hnsw": {"space": space, **HNSW, "sync_threshold": SYNC_THRESHOLD}},
            embedding_function=None)
        found = collection.metadata or {}
        for key, value in wanted.items():
            if found.get(key) != value:
                raise MemoryStoreError(
                    f"the memory at {self.location} holds {name} with {key}={found.get(key)!r}, this agentnas "
                    f"writes {key}={value!r}: open it with the agentnas version that wrote it, export it there "
                    f"(`agentnas memory export`) and import it into a new store")
        if not self.read_only:
            hnsw = (collection.configuration_json or {}).get("hnsw") or {}
            if hnsw.get("sync_threshold", SYNC_THRESHOLD) > SYNC_THRESHOLD:  # a store made before it was set
                collection.modify(configuration={"hnsw": {"sync_threshold": SYNC_THRESHOLD}})
        return collection

    # -- writing

    def add_many(self, records: Sequence[ExperimentRecord]) -> None:
        if self.read_only:
            raise PermissionError(f"the memory at {self.location} is open read-only ({self.note or 'reader'})")
        prepared = prepare_records(records, self._embedder)
        if not prepared:
            return
        if self._batch is None:
            self._batch = max(1, int(self._client.get_max_batch_size()))
        with self._gate():
            for start in range(0, len(prepared), self._batch):
                self._write(prepared[start:start + self._batch])
            self._clear_intent()

    def _write(self, chunk: list[ExperimentRecord]) -> None:
        docs = {r.id: _record_json(r) for r in chunk}
        metas = {r.id: {**_metadata(r), "rev": _rev(docs[r.id])} for r in chunk}
        self._write_intent([r.id for r in chunk])
        with_arch = [r for r in chunk if r.arch_embedding is not None]
        without_arch = [r.id for r in chunk if r.arch_embedding is None]
        if with_arch:
            self._arch.upsert(ids=[r.id for r in with_arch],
                              embeddings=np.asarray([r.arch_embedding for r in with_arch], dtype=np.float32),
                              metadatas=[{k: v for k, v in metas[r.id].items()} for r in with_arch])
        if without_arch:
            self._arch.delete(ids=without_arch)
        self._exp.upsert(ids=[r.id for r in chunk],
                         embeddings=np.asarray([r.text_embedding for r in chunk], dtype=np.float32),
                         metadatas=[{**metas[r.id], "record": docs[r.id]} for r in chunk],
                         documents=[r.hypothesis for r in chunk])

    @contextlib.contextmanager
    def _gate(self) -> Iterator[None]:
        if self._lock is not None and self._lock.held:
            with self._lock.write_gate():
                yield
        else:
            yield

    def _write_intent(self, ids: list[str]) -> None:
        if self._store_dir is None:
            return
        path = self._store_dir / INTENT_FILE
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"ids": ids}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _clear_intent(self) -> None:
        if self._store_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                (self._store_dir / INTENT_FILE).unlink()

    def _repair_intent(self) -> None:
        """Finish the writes a killed writer left: each id's architecture item is made to
        agree with its experiment item (the commit point), or removed with it."""
        assert self._store_dir is not None
        path = self._store_dir / INTENT_FILE
        try:
            ids = [str(i) for i in json.loads(path.read_text(encoding="utf-8"))["ids"]]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):
            ids = self._arch.get(include=[])["ids"]  # unreadable intent: check every architecture item
        with self._gate():
            present = {r.id: r for r in self.get_many(ids)}
            stale = [i for i in ids if i not in present or present[i].arch_embedding is None]
            if stale:
                self._arch.delete(ids=stale)
            keep = [present[i] for i in ids if i in present and present[i].arch_embedding is not None]
            if keep:
                self._arch.upsert(ids=[r.id for r in keep],
                                  embeddings=np.asarray([r.arch_embedding for r in keep], dtype=np.float32),
                                  metadatas=[{**_metadata(r), "rev": _rev(_record_json(r))} for r in keep])
            self._clear_intent()

    # -- reading

    def _parse(self, id: str, meta: dict[str, Any], embedding: Any) -> ExperimentRecord:
        try:
            record = ExperimentRecord.model_validate_json(meta["record"])
        except (KeyError, ValueError) as e:
            raise MemoryStoreError(f"experiment {id} in {self.location} is unreadable: {e}") from e
        if embedding is None:
            return record
        return record.model_copy(update={"text_embedding": [float(v) for v in embedding]})

    def get_many(self, ids: Sequence[str]) -> list[ExperimentRecord]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        got = self._exp.get(ids=wanted, include=["metadatas", "embeddings"])
        embeddings = got["embeddings"] if got["embeddings"] is not None else [None] * len(got["ids"])
        found = {i: self._parse(i, m, e) for i, m, e in zip(got["ids"], got["metadatas"], embeddings, strict=True)}
        return [found[i] for i in wanted if i in found]

    def _revs(self, ids: list[str]) -> dict[str, str]:
        got = self._exp.get(ids=ids, include=["metadatas"])
        return {i: str(m.get("rev", "")) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    def ids(self, where: MemoryFilter | None = None) -> list[str]:
        return list(self._exp.get(where=where_clause(where), include=[])["ids"])

    def count(self, where: MemoryFilter | None = None) -> int:
        return int(self._exp.count()) if where_clause(where) is None else len(self.ids(where))

    def similar(self, vector: Sequence[float] | np.ndarray, by: SearchBy = "text", k: int = 10,
                where: MemoryFilter | None = None) -> list[Hit]:
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        dim = TEXT_DIM if by == "text" else ARCH_DIM
        if by not in ("text", "arch"):
            raise ValueError(f"unknown search {by!r}; expected text or arch")
        if query.size != dim:
            raise ValueError(f"a {by} query needs {dim} dimensions, got {query.size}")
        collection = self._exp if by == "text" else self._arch
        if k <= 0:
            return []
        include = ["metadatas", "distances", "embeddings"] if by == "text" else ["metadatas", "distances"]
        try:  # Chroma answers a k larger than the collection (or an empty one) with what it has
            got = collection.query(query_embeddings=query[None, :], n_results=k,
                                   where=where_clause(where), include=include)
        except Exception as e:  # chromadb raises its own InternalError (e.g. an index behind its log)
            if self.read_only:
                return exact_similar(self, query, by, k, where)
            raise MemoryStoreError(f"search in {self.location} failed: {type(e).__name__}: {e}") from e
        ids, distances, metas = got["ids"][0], got["distances"][0], got["metadatas"][0]
        if not ids:
            return []
        if by == "text":
            embeddings = got["embeddings"][0]
            return [Hit(record=self._parse(i, m, e), distance=float(d), by="text")
                    for i, d, m, e in zip(ids, distances, metas, embeddings, strict=True)]
        revs = self._revs(list(ids))
        records = {r.id: r for r in self.get_many(list(ids))}
        return [Hit(record=records[i], distance=float(np.sqrt(max(float(d), 0.0))), by="arch")
                for i, d, m in zip(ids, distances, metas, strict=True)
                if i in records and revs.get(i) == m.get("rev")]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._client.close()
        if self._lock is not None:
            self._lock.release()
        if self._on_close is not None:
            self._on_close()


def chroma_settings() -> object:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def open_chroma(path: Path, *, embedder: TextEmbedder | None, lock: StoreLock | None, read_only: bool,
                note: str = "", location: str | None = None, store_dir: Path | None = None,
                on_close: Callable[[], None] | None = None) -> ChromaStore:
    """A `ChromaStore` on the folder; any failure of Chroma to open it is a `MemoryStoreError`
    naming the store, and leaves nothing open."""
    import chromadb

    where = location or str(path)
    try:
        client: Any = chromadb.PersistentClient(path=str(path), settings=chroma_settings())  # type: ignore[arg-type]
    except Exception as e:  # chromadb raises its own types (and OSError, sqlite3 errors) for a damaged folder
        raise MemoryStoreError(f"cannot open the memory store at {where}: {type(e).__name__}: {e}") from e
    try:
        return ChromaStore(client, backend="embedded", location=where, embedder=embedder, lock=lock,
                           read_only=read_only, note=note, store_dir=store_dir, on_close=on_close)
    except BaseException as e:
        with contextlib.suppress(Exception):
            client.close()
        if isinstance(e, Exception) and not isinstance(e, MemoryStoreError):
            raise MemoryStoreError(f"cannot open the memory store at {where}: {type(e).__name__}: {e}") from e
        raise


def exact_similar(store: MemoryStore, query: np.ndarray, by: SearchBy, k: int,
                  where: MemoryFilter | None = None) -> list[Hit]:
    """Exact nearest neighbours over every matching record (numpy): the fallback when an
    index cannot answer, and the reference the indexes are tested against."""
    records = [r for r in store.records(where) if (r.text_embedding if by == "text" else r.arch_embedding)]
    if not records or k <= 0:
        return []
    q = np.asarray(query, dtype=np.float64).reshape(-1)
    matrix = np.asarray([r.text_embedding if by == "text" else r.arch_embedding for r in records], dtype=np.float64)
    if by == "text":
        norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(q)), 1e-12)
        distances = 1.0 - (matrix @ q) / np.maximum(norms, 1e-12)
    else:
        distances = np.linalg.norm(matrix - q, axis=1)
    order = np.argsort(distances, kind="stable")[:k]
    return [Hit(record=records[i], distance=float(distances[i]), by=by) for i in order]
