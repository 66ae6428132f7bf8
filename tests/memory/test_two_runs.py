"""Two real `agentnas run` processes side by side on one embedded memory store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from memory_support import word_embedder

from agentnas.journal import open_journal
from agentnas.memory import open_memory

AGENTNAS = str(Path(sys.executable).parent / "agentnas")


@pytest.mark.slow
def test_two_runs_side_by_side_on_one_embedded_store_both_finish_and_store_every_experiment(
        tmp_path: Path) -> None:
    store = tmp_path / "memory"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
    runs = {name: tmp_path / f"run-{name}" for name in ("a", "b")}
    procs = {name: subprocess.Popen(
        [AGENTNAS, "run", "--task", "digits", "--budget-evals", "2", "--epochs", "1", "--memory", str(store),
         "--run-dir", str(run_dir), "--cache-dir", str(tmp_path / "cache"), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path, start_new_session=True)
        for name, run_dir in runs.items()}
    expected: set[str] = set()
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err[-3000:]
            with open_journal(runs[name], read_only=True) as journal:
                entry = journal.get("run", "id")
                assert entry is not None
                run_id = entry.payload["id"]
            experiments = json.loads(out)["experiments"]
            assert len(experiments) == 2
            expected |= {f"{run_id}/{e['id']}" for e in experiments}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=30)
    assert len(expected) == 4
    with open_memory(store, embedder=word_embedder, read_only=True) as memory:
        assert set(memory.ids()) == expected
        assert all(r.arch_embedding and r.text_embedding for r in memory.records())
    assert not list((store / "queue").glob("*.jsonl"))  # nothing left queued: both runs stored theirs
