"""Token tasks on the command line, run as a user runs it: `tasks`, `evaluate`, `encode`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TOKEN_EXAMPLES = ("attention", "linear_attention", "gru", "gated_conv", "mamba")


def agentnas(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "agentnas.toml").write_text(f'cache_dir = "{tmp_path / "cache"}"\nslots = 2\n')
    return tmp_path


@pytest.fixture
def tiny_tokens(work: Path) -> Path:
    """A user's token file: a repeating pattern with noise, 16-token sequences, vocabulary 10."""
    rng = np.random.default_rng(0)
    stream = np.tile(np.arange(10), 400)
    noise = rng.random(len(stream)) < 0.1
    stream[noise] = rng.integers(0, 10, int(noise.sum()))
    path = work / "pattern.npz"
    np.savez(path, tokens_train=stream[:3000], tokens_val=stream[3000:3500], tokens_test=stream[3500:],
             seq_len=np.int64(16))
    return path


def test_tasks_shows_each_kind_with_its_contract_and_metric_direction(work: Path) -> None:
    table = agentnas("tasks", cwd=work)
    assert table.returncode == 0, table.stderr
    assert "causal_lm candidate contract" in table.stdout
    assert "build_model(vocab_size: int, seq_len: int)" in table.stdout
    specs = {s["name"]: s for s in json.loads(agentnas("tasks", "--json", cwd=work).stdout)}
    for name in ("mqar-easy", "mqar", "mqar-hard", "stdlib-chars"):
        assert specs[name]["kind"] == "causal_lm"
        assert specs[name]["metric"] == {"name": "loss", "higher_is_better": False}
        assert "non_causal" in " ".join(specs[name]["contract"]["rules"])
    assert specs["mnist1d"]["kind"] == "classification" and specs["mnist1d"]["metric"]["higher_is_better"]


def test_evaluate_scores_a_token_model_by_loss_in_bits_and_accuracy(work: Path, tiny_tokens: Path) -> None:
    table = agentnas("evaluate", str(EXAMPLES / "tokens_gru.py"), "--task", str(tiny_tokens), cwd=work)
    assert table.returncode == 0, table.stderr
    assert "val loss" in table.stdout and "val bits" in table.stdout
    proc = agentnas("evaluate", str(EXAMPLES / "tokens_gated_conv.py"), "--task", str(tiny_tokens), "--json",
                    cwd=work)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["status"] == "ok", row["failure"]
    m = row["metrics"]
    assert m["metric"] == "loss" and m["val_score"] == m["val_loss"]
    assert m["val_loss"] < np.log(10) and m["val_accuracy"] > 0.5     # the pattern is mostly predictable
    import onnx

    graph = onnx.load(row["onnx_path"]).graph                          # exported with its token input
    assert graph.input[0].name == "tokens"
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_evaluate_refuses_a_malformed_token_file_in_one_line(work: Path) -> None:
    path = work / "broken.npz"
    np.savez(path, tokens_train=np.arange(100))
    proc = agentnas("evaluate", str(EXAMPLES / "tokens_gru.py"), "--task", str(path), cwd=work)
    assert proc.returncode == 2
    assert "missing tokens_test" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_every_token_example_exports_and_encodes_with_its_int64_token_input(work: Path,
                                                                          tiny_tokens: Path) -> None:
    files = [str(EXAMPLES / f"tokens_{name}.py") for name in TOKEN_EXAMPLES]
    proc = agentnas("encode", *files, "--task", str(tiny_tokens), "--json", cwd=work, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(rows) == len(TOKEN_EXAMPLES)
    for row in rows:
        assert row.get("features") and row.get("vector"), row
