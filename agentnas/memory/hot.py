"""The hot index: nearest neighbours in the run's own process (hnswlib), for the hot path.

Novelty checks and the value model's nearest-neighbour features ask for neighbours many
times per iteration; a round trip to Chroma (or a server) each time is too slow, so the
run keeps an hnswlib index of one kind of vector (text or arch) in memory:

- below `exact_below` vectors it keeps a numpy matrix and searches exactly (an HNSW graph
  of a few hundred points buys nothing and its recall is not guaranteed);
- at `exact_below` it builds the HNSW graph, and grows it with `resize_index` (doubling)
  when an add would overflow it;
- `save(dir)` writes the graph (or the matrix), the id of every label and the settings,
  meta.json last, each file atomically; `load(dir)` reads them back and sets `ef`
  explicitly, since hnswlib does not save it (a loaded index would search with ef=10);
- `open(dir, store)` loads what was saved and adds what the store gained since, or builds
  from the store when nothing usable was saved.

Distances: "cosine" -> 1 - cosine similarity; "l2" -> Euclidean distance (hnswlib's
squared L2 is square-rooted), the same units as `MemoryStore.similar`.
Defaults (M=16, ef_construction=200, ef=128) measured with `agentnas bench memory`:
recall@10 >= 0.99 at 100k x 384 with p50 under 1 ms on this project's 2-core machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import hnswlib
import numpy as np

from agentnas.memory.base import MemoryFilter, MemoryStore, SearchBy

Space = Literal["cosine", "l2"]
FORMAT = 1
META_FILE, GRAPH_FILE, MATRIX_FILE = "meta.json", "index.bin", "vectors.npy"


class HotIndex:
    """Vectors of one dimension and space, keyed by experiment id (re-adding an id replaces it)."""

    def __init__(self, dim: int, space: Space = "cosine", *, M: int = 16, ef_construction: int = 200,
                 ef: int = 128, exact_below: int = 2048) -> None:
        if space not in ("cosine", "l2"):
            raise ValueError(f"unknown space {space!r}; expected cosine or l2")
        self.dim, self.space, self.M, self.ef_construction = dim, space, M, ef_construction
        self.ef, self.exact_below = ef, exact_below
        self.ids: list[str] = []
        self.source = ""  # what it was built from (see `open`), saved with it
        self._label: dict[str, int] = {}
        self._matrix = np.zeros((0, dim), dtype=np.float32)  # exact mode only
        self._graph: hnswlib.Index | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def exact(self) -> bool:
        return self._graph is None

    def _clean(self, vectors: np.ndarray | Sequence[Sequence[float]] | Sequence[float]) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        array = array.reshape(1, -1) if array.ndim == 1 else array
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(f"expected vectors of {self.dim} dimensions, got shape {array.shape}")
        if self.space == "cosine":  # hnswlib normalises cosine vectors itself; the matrix must match it
            norms = np.linalg.norm(array, axis=1, keepdims=True)
            array = array / np.maximum(norms, 1e-12)
        return np.ascontiguousarray(array)

    def add(self, ids: Sequence[str], vectors: np.ndarray | Sequence[Sequence[float]]) -> None:
        array = self._clean(vectors)
        if len(ids) != len(array):
            raise ValueError(f"{len(ids)} ids for {len(array)} vectors")
        last = {i: n for n, i in enumerate(ids)}  # the last vector of a repeated id wins
        labels = []
        for i in ids:
            if i not in self._label:
                self._label[i] = len(self.ids)
                self.ids.append(i)
            labels.append(self._label[i])
        keep = sorted(last.values())
        labels_arr = np.asarray([labels[n] for n in keep], dtype=np.int64)
        array = array[keep]
        if self._graph is None:
            grown = np.zeros((len(self.ids), self.dim), dtype=np.float32)
            grown[:len(self._matrix)] = self._matrix
            grown[labels_arr] = array
            self._matrix = grown
            if len(self.ids) >= self.exact_below:
                self._build_graph()
            return
        needed = len(self.ids)
        if needed > self._graph.get_max_elements():
            self._graph.resize_index(max(needed, 2 * self._graph.get_max_elements()))
        self._graph.add_items(array, labels_arr)

    def _build_graph(self) -> None:
        graph = hnswlib.Index(space="cosine" if self.space == "cosine" else "l2", dim=self.dim)
        graph.init_index(max_elements=max(2 * len(self._matrix), 1024), ef_construction=self.ef_construction,
                         M=self.M)
        graph.add_items(self._matrix, np.arange(len(self._matrix)))
        graph.set_ef(self.ef)
        self._graph, self._matrix = graph, np.zeros((0, self.dim), dtype=np.float32)

    def set_ef(self, ef: int) -> None:
        self.ef = ef
        if self._graph is not None:
            self._graph.set_ef(ef)

    def _distances(self, matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
        if self.space == "cosine":
            # einsum, not `@`: BLAS splits even this small product over its threads, and on a
            # busy 2-core machine that made one query 16 ms instead of 0.1 ms (measured).
            return np.asarray(1.0 - np.einsum("ij,j->i", matrix, query))
        return np.asarray(np.sqrt(np.maximum(((matrix - query) ** 2).sum(axis=1), 0.0)))

    def query(self, vector: np.ndarray | Sequence[float], k: int = 10,
              allowed: Callable[[str], bool] | None = None) -> list[tuple[str, float]]:
        """Up to `k` (id, distance) pairs, nearest first; `allowed(id)` filters candidates."""
        if k <= 0 or not self.ids:
            return []
        query = self._clean(vector)[0]
        if self._graph is None or allowed is not None:
            return self._exact_query(query, k, allowed)
        k = min(k, len(self.ids))
        labels, distances = self._graph.knn_query(query, k=k, num_threads=1)
        dist = distances[0] if self.space == "cosine" else np.sqrt(np.maximum(distances[0], 0.0))
        return [(self.ids[int(lab)], float(d)) for lab, d in zip(labels[0], dist, strict=True)]

    def query_many(self, vectors: np.ndarray, k: int = 10) -> np.ndarray:
        """Labels (n, k) of the nearest neighbours of each row (for benchmarks)."""
        queries = self._clean(vectors)
        k = min(k, len(self.ids))
        if self._graph is None:
            return np.stack([np.argsort(self._distances(self._matrix, q), kind="stable")[:k] for q in queries])
        labels, _ = self._graph.knn_query(queries, k=k, num_threads=1)
        return np.asarray(labels, dtype=np.int64)

    def _exact_query(self, query: np.ndarray, k: int, allowed: Callable[[str], bool] | None
                     ) -> list[tuple[str, float]]:
        # A filtered query searches the allowed vectors exactly: hnswlib's filter can come
        # back short of k (and fails then), and a filter usually leaves a small subset.
        if allowed is None:
            labels, matrix = None, self._matrix
        else:
            labels = np.asarray([n for n, i in enumerate(self.ids) if allowed(i)], dtype=np.int64)
            if labels.size == 0:
                return []
            matrix = self._matrix[labels] if self._graph is None else \
                self._clean(np.asarray(self._graph.get_items(labels), dtype=np.float32))
        distances = self._distances(matrix, query)
        k = min(k, len(distances))
        nearest = np.argpartition(distances, k - 1)[:k] if k < len(distances) else np.arange(len(distances))
        order = nearest[np.argsort(distances[nearest], kind="stable")]
        return [(self.ids[int(n if labels is None else labels[n])], float(distances[n])) for n in order]

    # -- persistence

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tag = f".tmp-{os.getpid()}"
        if self._graph is None:
            tmp = folder / (MATRIX_FILE + tag)
            with open(tmp, "wb") as f:
                np.save(f, self._matrix)
            os.replace(tmp, folder / MATRIX_FILE)
        else:
            tmp = folder / (GRAPH_FILE + tag)
            self._graph.save_index(str(tmp))
            os.replace(tmp, folder / GRAPH_FILE)
        meta = {"format": FORMAT, "dim": self.dim, "space": self.space, "M": self.M,
                "ef_construction": self.ef_construction, "exact_below": self.exact_below,
                "mode": "exact" if self._graph is None else "hnsw", "source": self.source, "ids": self.ids}
        tmp = folder / (META_FILE + tag)
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, folder / META_FILE)

    @classmethod
    def load(cls, folder: Path, ef: int = 128) -> HotIndex:
        """Read a saved index; raises ValueError when it is missing, damaged or inconsistent."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            index = cls(int(meta["dim"]), meta["space"], M=int(meta["M"]),
                        ef_construction=int(meta["ef_construction"]), ef=ef, exact_below=int(meta["exact_below"]))
            ids = [str(i) for i in meta["ids"]]
            if meta["mode"] == "exact":
                matrix = np.load(folder / MATRIX_FILE, allow_pickle=False)
                if matrix.shape != (len(ids), index.dim):
                    raise ValueError(f"matrix of shape {matrix.shape} for {len(ids)} ids")
                index._matrix = matrix.astype(np.float32)
            else:
                graph = hnswlib.Index(space=index.space, dim=index.dim)
                graph.load_index(str(folder / GRAPH_FILE), max_elements=max(2 * len(ids), 1024))
                if graph.get_current_count() != len(ids):
                    raise ValueError(f"{graph.get_current_count()} vectors for {len(ids)} ids")
                graph.set_ef(ef)  # never saved by hnswlib: without this it searches with ef=10
                index._graph = graph
        except (OSError, KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"no usable hot index in {folder}: {e}") from e
        index.ids = ids
        index.source = str(meta.get("source", ""))
        index._label = {i: n for n, i in enumerate(ids)}
        return index

    @classmethod
    def from_store(cls, store: MemoryStore, by: SearchBy, where: MemoryFilter | None = None,
                   **settings: int) -> HotIndex:
        """Build from every matching record of the store that has a vector of this kind."""
        from agentnas.encode.embed import TEXT_DIM
        from agentnas.memory.arch import ARCH_DIM

        index = cls(TEXT_DIM if by == "text" else ARCH_DIM, "cosine" if by == "text" else "l2", **settings)
        index.add_records(store, store.ids(where), by)
        return index

    def add_records(self, store: MemoryStore, ids: Sequence[str], by: SearchBy, batch: int = 512) -> int:
        """Add the vectors of these store records (those that have one); returns how many."""
        added = 0
        for start in range(0, len(ids), batch):
            records = store.get_many(ids[start:start + batch])
            pairs = [(r.id, r.text_embedding if by == "text" else r.arch_embedding) for r in records]
            pairs = [(i, v) for i, v in pairs if v]
            if pairs:
                self.add([i for i, _ in pairs], np.asarray([v for _, v in pairs], dtype=np.float32))
                added += len(pairs)
        return added

    @classmethod
    def open(cls, folder: Path, store: MemoryStore, by: SearchBy, where: MemoryFilter | None = None,
             ef: int = 128, **settings: int) -> HotIndex:
        """Load the index saved in `folder` and add the store's records it lacks; build it
        from the store when nothing usable is saved there, or what is saved was built from
        another store, kind or filter. Saves the result."""
        from agentnas.encode.embed import TEXT_DIM
        from agentnas.memory.arch import ARCH_DIM

        source = f"{store.backend}:{store.location}|{by}|{where.model_dump_json() if where else ''}"
        try:
            index = cls.load(folder, ef=ef)
        except ValueError:
            index = None
        if index is None or index.source != source or \
                (index.dim, index.space) != ((TEXT_DIM, "cosine") if by == "text" else (ARCH_DIM, "l2")):
            index = cls.from_store(store, by, where, ef=ef, **settings)  # nothing saved, or saved for another query
        else:
            known = set(index.ids)
            index.add_records(store, [i for i in store.ids(where) if i not in known], by)
        index.source = source
        index.save(folder)
        return index
