"""`agentnas encode`, run as a user runs it: candidates exported in the sandbox, .onnx files
read with the safe loader, one answer per path."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from encode_support import EXAMPLES

from agentnas.encode import load_onnx, onnx_to_text


def agentnas(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=240, env={**os.environ, "AGENTNAS_CONFIG": str(cwd / "agentnas.toml")})


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder whose config puts every cache (task data, encodings) in a temp folder."""
    folder = tmp_path_factory.mktemp("encode-cli")
    (folder / "agentnas.toml").write_text(f'cache_dir = "{folder / "cache"}"\n')
    return folder


def test_a_candidate_is_exported_in_the_sandbox_and_printed_as_text(
        work: Path, example_onnx: Callable[[str], Path]) -> None:
    corrupt = work / "corrupt.onnx"
    corrupt.write_bytes(example_onnx("mnist1d_cnn").read_bytes()[:100])
    proc = agentnas("encode", str(EXAMPLES / "mnist1d_cnn.py"), str(corrupt), cwd=work)
    assert proc.returncode == 1, proc.stderr
    # the sandbox's export (batch 1, the task's input shape) reads as the trusted export does
    expected = onnx_to_text(load_onnx(example_onnx("mnist1d_cnn")))
    assert proc.stdout == f"==> {EXAMPLES / 'mnist1d_cnn.py'} <==\n{expected}"
    assert f"{corrupt}:" in proc.stderr and "mnist1d_cnn.py" not in proc.stderr


def test_json_reports_text_hash_chunks_features_and_vector_per_good_path(
        work: Path, example_onnx: Callable[[str], Path]) -> None:
    broken = work / "broken.py"
    broken.write_text("def build_model(input_shape, num_classes):\n    raise RuntimeError('no model today')\n")
    onnx_file = example_onnx("mnist1d_gru")
    paths = [str(EXAMPLES / "mnist1d_mlp.py"), str(work / "missing.onnx"), str(broken), str(onnx_file)]
    proc = agentnas("encode", *paths, "--json", cwd=work)
    assert proc.returncode == 1, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["path"] for r in records] == [paths[0], paths[3]]
    for r in records:
        assert {"path", "text", "text_sha256", "chunks", "features", "vector"} <= r.keys()
        assert r["text_sha256"] == hashlib.sha256(r["text"].encode()).hexdigest()
        assert r["chunks"] == 1 and r["features"]["params"] > 0
        assert set(r["vector"]) == {"dim", "norm", "head"} and len(r["vector"]["head"]) == 8
        assert r["vector"]["dim"] > 384
    assert records[1]["text"] == onnx_to_text(load_onnx(onnx_file))
    assert "missing.onnx: no such file" in proc.stderr
    assert "broken.py" in proc.stderr and "no model today" in proc.stderr
    assert (work / "cache" / "encodings").is_dir()


def test_an_unknown_task_is_a_usage_error(work: Path) -> None:
    proc = agentnas("encode", str(EXAMPLES / "mnist1d_cnn.py"), "--task", "cifar-1000", cwd=work)
    assert proc.returncode == 2 and "mnist1d" in proc.stderr and not proc.stdout
