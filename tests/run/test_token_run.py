"""Discovery runs on token tasks rank by the task's metric, validation loss, lower is better:
the offline run on mqar-easy (the real CLI, the real sandbox), its leaderboard and `runs show`,
and a run where a model that looks ahead would have the lowest loss but fails as non_causal."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from rich.console import Console
from token_models import EVAL_ONLY, HONEST

from agentnas.agents.offline import OfflineAnalyst
from agentnas.agents.state import Candidate, Context, Draft
from agentnas.cli.view import execute_run
from agentnas.config import load_config
from agentnas.journal import open_journal
from agentnas.journal.tree import RunTree
from agentnas.run.assemble import Agents
from agentnas.run.settings import RunOptions
from agentnas.run.summary import summary
from agentnas.tasks import TokenFileTask

AGENTNAS = str(Path(sys.executable).parent / "agentnas")


# The mqar-easy run (the offline grammar's token models through the real CLI on a built-in task) takes
# minutes; the ranking by validation loss it shows is checked fast on `markov_run` below
# (test_a_look_ahead_model_is_never_the_best..., test_runs_show_and_report_rank_a_token_run_...).
@pytest.fixture(scope="module")
def mqar_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("mqar")
    run_dir = tmp / "run"
    proc = subprocess.run([AGENTNAS, "run", "--task", "mqar-easy", "--proposer", "offline", "--budget-evals", "4",
                           "--memory", "none", "--epochs", "1", "--run-dir", str(run_dir),
                           "--cache-dir", str(tmp / "cache")],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return run_dir


@pytest.mark.slow
def test_offline_run_on_mqar_easy_trains_four_models_and_its_best_has_the_lowest_validation_loss(
        mqar_run: Path) -> None:
    doc = summary(mqar_run)
    full = [e for e in doc["experiments"] if e["fidelity"] == "full"]
    assert len(full) == 4
    assert doc["metric"] == {"name": "loss", "higher_is_better": False}
    losses = {e["id"]: e["val_score"] for e in full if e["status"] == "ok"}
    assert len(losses) >= 2
    assert doc["best"]["id"] == min(losses, key=lambda i: losses[i])
    assert doc["best"]["val_score"] == min(losses.values())
    # the loss is not the accuracy: both are recorded, the run ranks by the loss
    assert all(e["val_score"] != e["val_accuracy"] for e in full if e["status"] == "ok")


@pytest.mark.slow
def test_runs_show_orders_the_leaderboard_by_validation_loss_ascending(mqar_run: Path) -> None:
    proc = subprocess.run([AGENTNAS, "runs", "show", str(mqar_run), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    board = [row["val_score"] for row in json.loads(proc.stdout)["leaderboard"]]
    assert len(board) >= 2 and board == sorted(board)
    text = subprocess.run([AGENTNAS, "runs", "show", str(mqar_run)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert text.returncode == 0, text.stderr[-2000:]
    # (the header holds the run's path, so it may wrap: words are compared, not lines)
    assert "by validation loss, lower is better" in " ".join(text.stdout.split())


@pytest.mark.slow
def test_report_of_the_mqar_run_ranks_models_by_validation_loss_lowest_first(mqar_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    proc = subprocess.run([AGENTNAS, "report", str(mqar_run), "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = out.read_text(encoding="utf-8")
    assert "Ranked by validation loss (lower is better" in page
    shown = [float(v) for v in re.findall(r"<h3>#\d+ [^<]*? · validation loss ([0-9.]+)", page)]
    assert len(shown) >= 2 and shown == sorted(shown)


def test_chat_and_runs_show_name_the_best_by_validation_loss_and_rank_it_first(mqar_run: Path) -> None:
    doc = summary(mqar_run)
    losses = {e["id"]: e["val_score"] for e in doc["experiments"] if e["fidelity"] == "full" and e["status"] == "ok"}
    best = min(losses, key=lambda i: losses[i])
    with open_journal(mqar_run, read_only=True) as journal:
        tree = RunTree.from_journal(journal)
    # a word every trained model's hypothesis holds: /ask then matches them all equally, and ranks by the metric
    words = [set(re.findall(r"[a-z0-9]+", tree.hypotheses[tree.nodes[i].hypothesis_id].text.lower())) for i in losses]
    common = sorted(w for w in set.intersection(*words) if len(w) > 3)
    assert common, words
    chat = subprocess.run([AGENTNAS, "chat", "--run-dir", str(mqar_run), "--offline"], capture_output=True, text=True,
                          input=f"/status\n/ask {common[0]}\n/quit\n", timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert chat.returncode == 0, chat.stderr[-2000:]
    assert (f"best by validation loss (lower is better) {best} val loss {losses[best]:.4f} test loss"
            in chat.stdout), chat.stdout
    asked = [line for line in chat.stdout.splitlines() if line.startswith("[")]
    ranked = [line[1:line.index("]")] for line in asked]
    assert ranked == sorted(losses, key=lambda i: losses[i])[:5], asked  # lowest loss first
    assert all("val loss" in line and "val acc" in line for line in asked)

    shown = subprocess.run([AGENTNAS, "runs", "show", str(mqar_run)], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr[-2000:]
    for h in doc["hypotheses"]:
        b = h["best"]
        if b is not None:  # the loss beside the test loss, never beside a test accuracy
            assert f"best {b['id']} val loss {b['val_score']:.4f} test loss {b['test_score']:.4f}" in shown.stdout


VOCAB, SEQ = 12, 16


# Trains honestly, then reads the next token when evaluated: its loss would be the lowest.
LOOK_AHEAD = EVAL_ONLY


def markov_stream(n: int, seed: int) -> np.ndarray:
    table = np.random.default_rng(0).dirichlet(np.full(VOCAB, 0.3), size=VOCAB)
    rng = np.random.default_rng(seed)
    out = np.zeros(n, np.int64)
    for i in range(1, n):
        out[i] = rng.choice(VOCAB, p=table[out[i - 1]])
    return out


# Honest too, narrower: its loss differs from HONEST's, so the leaderboard has two rows to order.
NARROW = HONEST.replace("width=32", "width=8")


class ThreeModels:
    """Proposes the look-ahead model and two honest ones, nothing else."""

    def propose(self, ctx: Context) -> list[Draft]:
        return [Draft(code=LOOK_AHEAD, description="looks ahead when evaluated"),
                Draft(code=HONEST, description="causal convolution"),
                Draft(code=NARROW, description="narrow causal convolution")]

    def refill(self, ctx: Context, failed: Candidate, reason: str, taken: set[str]) -> Draft | None:
        return None

    def new_hypothesis(self, tree: RunTree, rng: random.Random) -> str:
        return "a causal convolution"


def three_models(options: RunOptions, task: Any, journal: Any) -> Agents:
    researcher = ThreeModels()
    return Agents(researcher=researcher, hypothesiser=researcher, engineer=None, analyst=OfflineAnalyst())


def val_loss(code: str, task: TokenFileTask, cache: Path) -> float:
    """The validation loss per scored token of the untrained model, computed here (not in a sandbox)."""
    namespace: dict[str, Any] = {}
    exec(compile(code, "<model>", "exec"), namespace)  # the test's own model source
    torch.manual_seed(0)
    model = namespace["build_model"](VOCAB, SEQ).eval()
    data = task.load(cache)
    with torch.no_grad():
        logits = model(torch.from_numpy(data.x_val))
    return float(torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), torch.from_numpy(data.y_val).reshape(-1),
                                                   ignore_index=-100))


@pytest.fixture(scope="module")
def markov_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run on a small Markov token file that trains the three models above: (run dir, token file)."""
    tmp = tmp_path_factory.mktemp("markov")
    path = tmp / "markov.npz"
    np.savez(path, tokens_train=markov_stream(SEQ * 400 + 1, 1), tokens_val=markov_stream(SEQ * 40 + 1, 2),
             tokens_test=markov_stream(SEQ * 40 + 1, 3), seq_len=np.int64(SEQ), vocab_size=np.int64(VOCAB))
    run_dir = tmp / "run"
    cfg = load_config(None, cache_dir=tmp / "cache", slots=1, epochs=1)
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    options = RunOptions(task=str(path), run_dir=run_dir, budget_evals=3, k=3, train_per_expansion=3, epochs=1,
                         memory="none")
    assert execute_run(options, cfg, True, quiet, quiet, three_models) == 0
    return run_dir, path


def test_a_look_ahead_model_is_never_the_best_though_its_loss_would_be_lowest(markov_run: tuple[Path, Path],
                                                                              tmp_path: Path) -> None:
    run_dir, path = markov_run
    doc = summary(run_dir)
    by_code = {e["code_hash"]: e for e in doc["experiments"]}
    assert len(by_code) == 3
    from agentnas.fingerprint import code_hash

    cheat = by_code[code_hash(LOOK_AHEAD)]
    honest = [by_code[code_hash(HONEST)], by_code[code_hash(NARROW)]]
    assert cheat["status"] == "failed" and cheat["failure_kind"] == "non_causal"
    assert [e["status"] for e in honest] == ["ok", "ok"]
    assert honest[0]["val_score"] != honest[1]["val_score"]
    # the loss is not the accuracy: both are recorded, the run ranks by the loss
    assert all(e["val_score"] != e["val_accuracy"] for e in honest)
    # Were it scored, the look-ahead would beat both honest models by far: it reads the answers.
    assert val_loss(LOOK_AHEAD, TokenFileTask(path), tmp_path / "cache") < min(e["val_score"] for e in honest) / 2
    ranked = sorted(honest, key=lambda e: e["val_score"])
    assert doc["best"]["id"] == ranked[0]["id"]
    assert [row["id"] for row in doc["leaderboard"]] == [e["id"] for e in ranked]


def test_runs_show_and_report_rank_a_token_run_by_validation_loss_lowest_first(markov_run: tuple[Path, Path],
                                                                              tmp_path: Path) -> None:
    run_dir, _ = markov_run
    proc = subprocess.run([AGENTNAS, "runs", "show", str(run_dir), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    board = [row["val_score"] for row in json.loads(proc.stdout)["leaderboard"]]
    assert len(board) == 2 and board == sorted(board)
    text = subprocess.run([AGENTNAS, "runs", "show", str(run_dir)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert text.returncode == 0, text.stderr[-2000:]
    # (the header holds the run's path, so it may wrap: words are compared, not lines)
    assert "by validation loss, lower is better" in " ".join(text.stdout.split())
    out = tmp_path / "report.html"
    proc = subprocess.run([AGENTNAS, "report", str(run_dir), "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = out.read_text(encoding="utf-8")
    assert "Ranked by validation loss (lower is better" in page
    shown = [float(v) for v in re.findall(r"<h3>#\d+ [^<]*? · validation loss ([0-9.]+)", page)]
    assert len(shown) == 2 and shown == sorted(shown)
