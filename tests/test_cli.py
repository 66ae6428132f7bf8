"""The `agentnas` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from proctree import alive, descendants, with_default_signals

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def agentnas(*args: str, cwd: Path, env: dict[str, str] | None = None,
             timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentnas", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "agentnas.toml").write_text(f'cache_dir = "{tmp_path / "cache"}"\nslots = 2\n')
    return tmp_path


def test_help_lists_commands_and_each_command_has_help(work: Path) -> None:
    top = agentnas("--help", cwd=work)
    assert top.returncode == 0
    for command in ("evaluate", "tasks", "bench"):
        assert command in top.stdout
        assert agentnas(command, "--help", cwd=work).returncode == 0
    assert agentnas("bench", "sandbox", "--help", cwd=work).returncode == 0


def test_evaluate_json_reports_every_file_with_the_documented_keys(work: Path) -> None:
    bad = work / "broken.py"
    bad.write_text("def build_model(input_shape, num_classes)\n    pass\n")
    proc = agentnas("evaluate", str(EXAMPLES / "digits_mlp.py"), str(bad), "--task", "digits",
                    "--json", "--epochs", "3", cwd=work)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [Path(r["path"]).name for r in rows] == ["digits_mlp.py", "broken.py"]
    for row in rows:
        assert {"path", "status", "failure", "metrics", "params", "train_seconds", "wall_seconds",
                "onnx_path"} <= row.keys()
    good, broken = rows
    assert good["status"] == "ok" and good["failure"] is None
    assert 0.5 < good["metrics"]["val_accuracy"] <= 1.0 and 0.5 < good["metrics"]["test_accuracy"] <= 1.0
    assert good["params"] > 0 and Path(good["onnx_path"]).is_file()
    assert broken["status"] == "failed" and broken["failure"]["kind"] == "syntax" and broken["metrics"] is None


def test_evaluate_table_is_the_default_output(work: Path) -> None:
    proc = agentnas("evaluate", str(EXAMPLES / "digits_mlp.py"), "--task", "digits", "--epochs", "2", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "digits" in proc.stdout and "ok" in proc.stdout


def test_missing_candidate_file_is_a_usage_error(work: Path) -> None:
    proc = agentnas("evaluate", "nope.py", "--task", "digits", cwd=work)
    assert proc.returncode == 2 and "nope.py" in proc.stderr


def test_unknown_task_is_a_usage_error_listing_the_tasks(work: Path) -> None:
    proc = agentnas("evaluate", str(EXAMPLES / "digits_mlp.py"), "--task", "cifar-1000", cwd=work)
    assert proc.returncode == 2 and "mnist1d" in proc.stderr


def test_malformed_npz_task_is_a_clear_error(work: Path) -> None:
    path = work / "bad.npz"
    np.savez(path, x_train=np.zeros((10, 4), np.float32))
    proc = agentnas("evaluate", str(EXAMPLES / "digits_mlp.py"), "--task", str(path), cwd=work)
    assert proc.returncode == 2 and "bad.npz" in proc.stderr


@pytest.mark.parametrize(("problem", "arrays", "named"), [
    ("zero-width inputs", {"x_train": np.zeros((40, 0))}, "x_train"),
    ("test classes unseen in training", {"y_test": np.arange(10) % 5}, "y_test"),
    ("a label of 99999", {"y_train": np.where(np.arange(40) == 0, 99999, np.arange(40) % 4)}, "y_train"),
])
def test_npz_task_with_impossible_inputs_or_labels_exits_2_with_one_line(
        work: Path, problem: str, arrays: dict[str, np.ndarray], named: str) -> None:
    good = {"x_train": np.ones((40, 6)), "y_train": np.arange(40) % 4, "x_test": np.ones((10, 6)),
            "y_test": np.arange(10) % 4}
    good.update(arrays)
    if good["x_train"].shape[1] == 0:
        good["x_test"] = np.ones((10, 0))
    path = work / "task.npz"
    np.savez(path, **good)
    proc = agentnas("evaluate", str(EXAMPLES / "digits_mlp.py"), "--task", str(path), cwd=work)
    assert proc.returncode == 2, problem
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "task.npz" in lines[0] and named in lines[0], proc.stderr


def test_bad_config_value_exits_2_naming_the_field(work: Path) -> None:
    proc = agentnas("evaluate", str(EXAMPLES / "digits_mlp.py"), "--task", "digits", cwd=work,
                    env={"AGENTNAS_TIMEOUT_S": "soon"})
    assert proc.returncode == 2 and "timeout_s" in proc.stderr


def test_bad_flag_value_exits_2(work: Path) -> None:
    proc = agentnas("evaluate", str(EXAMPLES / "digits_mlp.py"), "--device", "tpu", cwd=work)
    assert proc.returncode == 2 and "device" in proc.stderr


def test_user_npz_task_is_evaluated(work: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 1, 8, 8)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    path = work / "toy.npz"
    np.savez(path, x_train=x[:200], y_train=y[:200], x_test=x[200:], y_test=y[200:])
    proc = agentnas("evaluate", str(EXAMPLES / "digits_mlp.py"), "--task", str(path), "--json",
                    "--epochs", "5", cwd=work)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["status"] == "ok" and row["metrics"]["test_accuracy"] > 0.7


def test_tasks_json_lists_the_published_mnist1d_baselines(work: Path) -> None:
    proc = agentnas("tasks", "--json", cwd=work)
    assert proc.returncode == 0
    specs = {s["name"]: s for s in json.loads(proc.stdout)}
    baselines = {b["name"].lower(): b["test_accuracy"] for b in specs["mnist1d"]["baselines"]}
    assert baselines == pytest.approx({"logistic": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91})


def test_unconfined_run_needs_the_unsafe_flag_and_is_reported_loudly(work: Path) -> None:
    refused = agentnas("evaluate", str(EXAMPLES / "digits_mlp.py"), "--task", "digits", "--isolation", "none",
                       cwd=work)
    assert refused.returncode == 2 and "--unsafe-no-isolation" in refused.stderr
    allowed = agentnas("evaluate", str(EXAMPLES / "digits_mlp.py"), "--task", "digits", "--isolation", "none",
                       "--unsafe-no-isolation", "--epochs", "1", "--json", cwd=work)
    assert allowed.returncode == 0 and "WITHOUT isolation" in allowed.stderr
    assert json.loads(allowed.stdout)[0]["isolation"] == "none"


def test_ctrl_c_stops_running_evaluations_promptly_and_leaves_no_sandbox(work: Path) -> None:
    slow = work / "slow.py"
    slow.write_text("import time\nimport torch.nn as nn\n\ndef build_model(input_shape, num_classes):\n"
                    "    time.sleep(300)\n    return nn.Linear(1, 1)\n")
    command = with_default_signals([sys.executable, "-m", "agentnas", "evaluate", str(slow), "--task", "digits"])
    proc = subprocess.Popen(command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # the sandbox is up and the candidate is sleeping in build_model
    sandbox = descendants(proc.pid)
    assert sandbox, "the evaluation should be running in a sandbox by now"
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 15
    assert proc.returncode == 130 and "interrupted" in stderr
    time.sleep(0.5)
    assert not [pid for pid in sandbox if alive(pid)], "sandbox processes outlived the interrupted run"
