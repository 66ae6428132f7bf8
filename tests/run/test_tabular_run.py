"""`agentnas run` on a tabular task: table lookups of validation accuracy only, journaled as
each query ends, resumable to the same search an uninterrupted run makes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AGENTNAS = str(Path(sys.executable).parent / "agentnas")
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}


def run(run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AGENTNAS, "run", "--task", "nb201-cifar10", "--run-dir", str(run_dir), "--seed", "4",
                           "--memory", "none", "--json", *args], capture_output=True, text=True, env=ENV,
                          timeout=300, check=False)


@pytest.mark.parametrize("method", ["rea"])
def test_a_tabular_run_resumes_to_the_same_search_as_an_uninterrupted_one(tmp_path: Path, method: str) -> None:
    whole = run(tmp_path / "whole", "--search", method, "--budget-evals", "30")
    assert whole.returncode == 0, whole.stderr
    first = run(tmp_path / "split", "--search", method, "--budget-evals", "12")
    assert first.returncode == 0, first.stderr
    again = run(tmp_path / "split", "--search", method, "--budget-evals", "30")
    assert again.returncode == 0, again.stderr
    a, b = json.loads(whole.stdout), json.loads(again.stdout)
    keys = [x["key"] for x in b["experiments"]]
    assert len(keys) == len(set(keys)) == 30  # nothing queried twice
    assert keys[:12] == [x["key"] for x in json.loads(first.stdout)["experiments"]]
    assert keys == [x["key"] for x in a["experiments"]]
    assert b["best"]["val_accuracy"] == max(x["val_accuracy"] for x in b["experiments"])
    shown = subprocess.run([AGENTNAS, "runs", "show", str(tmp_path / "split"), "--json"], capture_output=True,
                           text=True, env=ENV, timeout=120, check=True)
    assert json.loads(shown.stdout)["experiments"] == b["experiments"]


def test_tabular_runs_refuse_what_a_table_cannot_do(tmp_path: Path) -> None:
    llm = run(tmp_path / "a", "--proposer", "llm", "--budget-evals", "5")
    assert llm.returncode == 2 and "tabular space" in llm.stderr
    bogus = run(tmp_path / "b", "--search", "annealing", "--budget-evals", "5")
    assert bogus.returncode == 2 and "unknown --search" in bogus.stderr
    front = run(tmp_path / "f", "--search", "nsga2", "--budget-evals", "5")
    assert front.returncode == 2 and "nsga2 searches for a front" in front.stderr and "Traceback" not in front.stderr
    assert not (tmp_path / "f" / "journal.sqlite").exists()  # refused before anything is written
    real = subprocess.run([AGENTNAS, "run", "--task", "digits", "--search", "rea", "--budget-evals", "2",
                           "--run-dir", str(tmp_path / "c")], capture_output=True, text=True, env=ENV, timeout=120,
                          check=False)
    assert real.returncode == 2 and "applies to tabular tasks" in real.stderr
