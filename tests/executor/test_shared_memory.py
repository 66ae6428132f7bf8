"""Runs on several machines share one `chroma run` server: two writer processes at once lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from executor_support import ROOT

from agentnas.bench.memory import start_server, stop_server
from agentnas.memory import MemoryFilter, open_memory
from agentnas.memory.arch import ARCH_DIM

PER_WRITER = 200

# One writer: its own connection, records of its own run, written 10 at a time so that the two
# writers interleave (both also race to create the collections on their first write).
WRITER = """
import hashlib, sys
import numpy as np
from agentnas.memory import open_memory
from agentnas.memory.arch import ARCH_DIM
from agentnas.records import ExperimentRecord, Metrics

url, run, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

def embed(texts):  # a cheap stand-in for MiniLM: one seeded unit vector per text
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for row, text in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        v = np.random.default_rng(seed).standard_normal(384)
        out[row] = v / np.linalg.norm(v)
    return out

records = [ExperimentRecord(id=f"{run}-{i}", run_id=run, task="digits", hypothesis=f"{run} idea {i}",
                            code=f"# {run} {i}", metrics=Metrics(val_accuracy=i / n, test_accuracy=i / n),
                            arch_embedding=[float(i % 7)] * ARCH_DIM if i % 2 else None)
           for i in range(n)]
with open_memory(url, embedder=embed) as store:
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for start in range(0, n, 10):
        store.add_many(records[start:start + 10])
print("done", flush=True)
"""


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    proc, url = start_server(tmp_path / "chroma")
    try:
        yield url
    finally:
        stop_server(proc)
    assert proc.poll() is not None, "the chroma server outlived the test"


def test_two_writer_processes_on_one_chroma_server_lose_nothing(chroma_url: str) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, chroma_url, run, str(PER_WRITER)], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True) for run in ("run-a", "run-b")]
    try:
        for w in writers:  # both connected before either writes
            assert w.stdout is not None and w.stdout.readline().strip() == "ready", w.communicate()[1][-2000:]
        for w in writers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        outcomes = [w.communicate(timeout=120) for w in writers]
    finally:
        for w in writers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()
    for w, (out, err) in zip(writers, outcomes, strict=True):
        assert w.returncode == 0 and out.strip() == "done", err[-2000:]

    with open_memory(chroma_url, embedder=lambda texts: pytest.fail("nothing should need embedding")) as store:
        for run in ("run-a", "run-b"):
            ids = store.ids(MemoryFilter(run_id=run))
            assert sorted(ids) == sorted(f"{run}-{i}" for i in range(PER_WRITER)), f"{run} lost records"
        assert store.count() == 2 * PER_WRITER
        sample = store.get_many([f"run-b-{PER_WRITER - 1}", "run-a-3"])
        assert [r.hypothesis for r in sample] == [f"run-b idea {PER_WRITER - 1}", "run-a idea 3"]
        assert sample[1].arch_embedding == [3.0] * ARCH_DIM
