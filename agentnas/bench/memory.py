"""`agentnas bench memory`: recall and latency of the hot index and the Chroma backends.

Data: `n` embedding-like vectors, unit-norm draws around 100 random centres (a cluster
spread that gives a cosine of about 0.8 within a cluster, like sentence embeddings of one
topic), and `queries` held-out draws from the same mixture. The baseline is exact search
(numpy, cosine, one BLAS thread), which also gives the true top 10 that recall@10 is
measured against.

- hot: `HotIndex` (hnswlib) filled 1,000 vectors at a time (so it grows and resizes as in
  a run), queried one vector at a time, as the novelty check does;
- embedded: `ChromaStore` on a `PersistentClient` in a temporary folder, records of the
  memory's own shape written 1,000 at a time, queried with `similar` (record parsing
  included);
- server: the same against a `chroma run` started on 127.0.0.1 for the benchmark.

The top-level keys (`recall_at_10`, `query_p50_ms`, `query_p99_ms`, `insert_per_s`) are
the hot index's; the other measurements sit beside them under their backend's name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agentnas.encode.embed import TEXT_DIM
from agentnas.memory.base import MemoryStore
from agentnas.memory.hot import HotIndex
from agentnas.records import ExperimentRecord

Log = Callable[[str], None] | None
BATCH = 1000


def embedding_like(n: int, dim: int, seed: int, centres: int = 100, spread: float = 0.5) -> np.ndarray:
    """Unit vectors around `centres` random directions (see the module docstring)."""
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(12345).standard_normal((centres, dim)).astype(np.float32)
    x = means[rng.integers(0, centres, n)] + spread * rng.standard_normal((n, dim)).astype(np.float32)
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def _percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {"query_p50_ms": float(np.percentile(ms, 50)), "query_p99_ms": float(np.percentile(ms, 99))}


def _recall(found: Sequence[Sequence[int]], truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(map(int, f[:k])) & set(map(int, t[:k]))) / k for f, t in zip(found, truth,
                                                                                                strict=True)]))


def exact_truth(data: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, dict[str, float]]:
    """True top-k of each query, and the latency of exact search one query at a time."""
    truth = np.argsort(-(queries @ data.T), axis=1, kind="stable")[:, :k]
    times = []
    for q in queries[: min(len(queries), 200)]:
        t0 = time.perf_counter()
        scores = data @ q
        np.argpartition(-scores, k)[:k]
        times.append(time.perf_counter() - t0)
    return truth, _percentiles(times)


def bench_hot(data: np.ndarray, queries: np.ndarray, truth: np.ndarray, k: int, M: int, ef_construction: int,
              ef: int) -> dict[str, Any]:
    index = HotIndex(data.shape[1], "cosine", M=M, ef_construction=ef_construction, ef=ef)
    ids = [str(i) for i in range(len(data))]
    t0 = time.perf_counter()
    for start in range(0, len(data), BATCH):
        index.add(ids[start:start + BATCH], data[start:start + BATCH])
    insert_s = time.perf_counter() - t0
    times, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = index.query(q, k)
        times.append(time.perf_counter() - t0)
        found.append([int(i) for i, _ in hits])
    return {"recall_at_10": _recall(found, truth, k), **_percentiles(times), "insert_per_s": len(data) / insert_s,
            "exact_mode": index.exact, "M": M, "ef_construction": ef_construction, "ef": ef}


def _records(data: np.ndarray, start: int) -> list[ExperimentRecord]:
    return [ExperimentRecord(id=str(start + i), task="bench", hypothesis="", text_embedding=[float(v) for v in row])
            for i, row in enumerate(data)]


def bench_store(store: MemoryStore, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, k: int
                ) -> dict[str, Any]:
    t0 = time.perf_counter()
    for start in range(0, len(data), BATCH):
        store.add_many(_records(data[start:start + BATCH], start))
    insert_s = time.perf_counter() - t0
    times, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = store.similar(q, "text", k)
        times.append(time.perf_counter() - t0)
        found.append([int(h.record.id) for h in hits])
    return {"recall_at_10": _recall(found, truth, k), **_percentiles(times), "insert_per_s": len(data) / insert_s}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chroma_executable() -> str:
    beside = Path(sys.executable).with_name("chroma")
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if not found:
        raise FileNotFoundError("the `chroma` command was not found beside Python or on PATH")
    return found


def start_server(folder: Path, timeout_s: float = 60.0) -> tuple[subprocess.Popen[bytes], str]:
    """`chroma run` on 127.0.0.1 and a free port, in its own process group; waits for its heartbeat."""
    port = _free_port()
    proc = subprocess.Popen([chroma_executable(), "run", "--path", str(folder), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma run exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as reply:  # noqa: S310
                reply.read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError(f"chroma run did not answer on {url} within {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def run_memory_bench(n: int, *, dim: int = TEXT_DIM, queries: int = 500, k: int = 10,
                     backends: Sequence[str] = ("hot", "embedded"), seed: int = 0, M: int = 16,
                     ef_construction: int = 200, ef: int = 128, log: Log = None) -> dict[str, Any]:
    """Measure every backend asked for on the same data; see the module docstring."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # one BLAS thread: numpy's own threads only add noise on a busy machine
        return _run(n, dim, queries, k, backends, seed, M, ef_construction, ef, log)


def _run(n: int, dim: int, queries: int, k: int, backends: Sequence[str], seed: int, M: int, ef_construction: int,
         ef: int, log: Log) -> dict[str, Any]:
    from agentnas.memory.registry import open_memory

    say = log or (lambda _m: None)
    data, query = embedding_like(n, dim, seed), embedding_like(queries, dim, seed + 1)
    say(f"exact search over {n} x {dim} ...")
    truth, exact = exact_truth(data, query, k)
    report: dict[str, Any] = {"n": n, "dim": dim, "queries": queries, "k": k, "cpus": os.cpu_count(),
                              "exact": exact}
    if "hot" in backends:
        say("hot index (hnswlib) ...")
        hot = bench_hot(data, query, truth, k, M, ef_construction, ef)
        report.update({key: hot[key] for key in ("recall_at_10", "query_p50_ms", "query_p99_ms", "insert_per_s")})
        report["hot"] = hot
    if dim != TEXT_DIM and ("embedded" in backends or "server" in backends):
        raise ValueError(f"the Chroma backends store hypothesis vectors of {TEXT_DIM} dimensions")

    def no_embedder(texts: Sequence[str]) -> np.ndarray:
        raise AssertionError("every benchmark record has its vector")

    if "embedded" in backends:
        say("chroma embedded ...")
        with tempfile.TemporaryDirectory(prefix="agentnas-bench-memory-") as tmp, \
                open_memory(Path(tmp) / "store", embedder=no_embedder) as store, store.session():
            report["embedded"] = bench_store(store, data, query, truth, k)  # one hold, as a bulk reader would
    if "server" in backends:
        say("chroma server ...")
        with tempfile.TemporaryDirectory(prefix="agentnas-bench-memory-") as tmp:
            proc, url = start_server(Path(tmp) / "server")
            try:
                with open_memory(url, embedder=no_embedder) as store:
                    report["server"] = bench_store(store, data, query, truth, k)
            finally:
                stop_server(proc)
    return report
