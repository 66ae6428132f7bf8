"""`agentnas memory ls|show` on a store that mixes a token task (scored by loss, lower is
better) with a classification task (scored by accuracy), through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from memory_support import ROOT, make_record, word_embedder

from agentnas.memory import open_memory
from agentnas.records import ExperimentStatus, Metrics

# mqar-easy records: losses with the next-token accuracies beside them; t2 failed.
TOKEN = {"t0": (1.2, 1.25, 0.41, 0.40), "t1": (2.5, 2.6, 0.12, 0.11)}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mixed") / "memory"
    records = [make_record(i, task="mnist1d") for i in range(3)]  # e0, e1 ok (accuracy); e2 failed
    for i, (key, (val, test, val_acc, test_acc)) in enumerate(TOKEN.items()):
        records.append(make_record(10 + i, task="mqar-easy", id=key, status=ExperimentStatus.OK, metrics=Metrics(
            metric="loss", val_loss=val, test_loss=test, val_accuracy=val_acc, test_accuracy=test_acc)))
    records.append(make_record(12, task="mqar-easy", id="t2", status=ExperimentStatus.FAILED))
    with open_memory(path, embedder=word_embedder) as s:
        s.add_many(records)
    return path


def memory(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "AGENTNAS_MEMORY": str(store),
           "AGENTNAS_CACHE_DIR": str(store.parent / "cache")}
    return subprocess.run([sys.executable, "-m", "agentnas", "memory", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120, check=False)


def test_ls_json_gives_each_score_with_its_metric_and_val_accuracy_only_as_an_accuracy(store: Path) -> None:
    done = memory(store, "ls", "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["id"]: r for r in json.loads(done.stdout)}
    assert set(rows) == {"e0", "e1", "e2", "t0", "t1", "t2"}
    for key, (val, test, val_acc, test_acc) in TOKEN.items():
        assert rows[key]["metric"] == "loss"
        assert (rows[key]["score"], rows[key]["test_score"]) == (val, test)
        assert (rows[key]["val_accuracy"], rows[key]["test_accuracy"]) == (val_acc, test_acc)  # never the loss
    for key in ("e0", "e1"):
        assert rows[key]["metric"] == "accuracy" and rows[key]["score"] == rows[key]["val_accuracy"] is not None
    for key in ("e2", "t2"):
        assert rows[key]["metric"] is None and rows[key]["score"] is None and rows[key]["val_accuracy"] is None


def test_score_bounds_are_raw_values_in_the_metric_units(store: Path) -> None:
    done = memory(store, "ls", "--json", "--task", "mqar-easy", "--max-score", "2.0")
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in json.loads(done.stdout)] == ["t0"]  # the loss of at most 2.0 (the better one)


def test_table_heads_the_score_by_its_metric(store: Path) -> None:
    tokens = memory(store, "ls", "--task", "mqar-easy")
    assert tokens.returncode == 0, tokens.stderr
    assert "val loss" in tokens.stdout and "val acc" in tokens.stdout
    assert "1.2000" in tokens.stdout and "0.4100" in tokens.stdout
    classes = memory(store, "ls", "--task", "mnist1d")
    assert "val acc" in classes.stdout and "loss" not in classes.stdout and "metric" not in classes.stdout
    mixed = memory(store, "ls")
    assert "val score" in mixed.stdout and "metric" in mixed.stdout
    shown = memory(store, "show", "t0")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "metric: loss (lower is better)" in lines and "score: 1.2" in lines and "val_accuracy: 0.41" in lines
