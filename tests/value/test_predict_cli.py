"""`agentnas value pretrain` and `agentnas predict`, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from agentnas.value.pretrain import PretrainOptions, pretrain
from agentnas.value.zeroshot import ZeroShotPredictor

ROOT = Path(__file__).resolve().parents[2]
needs_data = pytest.mark.usefixtures("bench_data")


def agentnas(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ})


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory, bench_data: Path) -> Path:
    folder = tmp_path_factory.mktemp("value")
    options = PretrainOptions(per_space=12, mode="features", members=2, steps=200)
    report = pretrain(options, folder / "cache", folder / "model.pt")
    assert set(report["train_tau"]) == {"nb201", "macro"}
    return folder / "model.pt"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "agentnas.toml").write_text(f'cache_dir = "{tmp_path / "cache"}"\ntask = "mnist1d"\n')
    return tmp_path


@needs_data
def test_saved_ensemble_reloads_with_its_mode_and_scores(model_file: Path) -> None:
    predictor = ZeroShotPredictor.load(model_file)
    assert predictor.mode == "features" and len(predictor.heads) == 2
    dim = predictor.heads[0].dim
    mean, std = predictor.predict(torch.zeros(3, dim).numpy())
    assert mean.shape == std.shape == (3,) and (std >= 0).all()


@needs_data
def test_predict_scores_candidates_and_onnx_files_and_reports_bad_ones(model_file: Path, work: Path) -> None:
    onnx_file = work / "linear.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 10)), (torch.zeros(1, 1, 40),),
                          str(onnx_file), dynamo=False, external_data=False)
    broken = work / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    paths = [str(ROOT / "examples" / "mnist1d_cnn.py"), str(onnx_file), str(broken)]
    proc = agentnas("predict", *paths, "--model", str(model_file), "--json", cwd=work)
    assert proc.returncode == 1, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["path"] for r in rows] == paths[:2]
    assert all(set(r) == {"path", "mean", "std", "proxies"} and r["std"] >= 0 for r in rows)
    assert [r["proxies"] for r in rows] == [True, False]  # measured in the sandbox; a bare graph has none
    assert "broken.onnx" in proc.stderr


def test_predict_without_a_model_file_explains_how_to_make_one(work: Path) -> None:
    proc = agentnas("predict", str(ROOT / "examples" / "mnist1d_cnn.py"), "--model", str(work / "none.pt"),
                    cwd=work)
    assert proc.returncode == 2 and "agentnas value pretrain" in proc.stderr


def test_pretrain_rejects_an_unknown_space(work: Path) -> None:
    proc = agentnas("value", "pretrain", "--spaces", "nb201,darts", "--out", str(work / "m.pt"), cwd=work)
    assert proc.returncode == 2 and "spaces" in proc.stderr


@pytest.mark.slow  # ~90 s: encodes ~70 architectures with proxies and times 40 sandboxed exports
@needs_data
def test_bench_value_reports_taus_beside_baselines_calibration_and_latency(work: Path) -> None:
    proc = agentnas("bench", "value", "--json", "--mode", "features", "--train-n", "15", "--test-n", "15",
                    "--cross-n", "12", "--members", "2", "--steps", "100", cwd=work)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for part in ("within_nb201", "nb201_to_macro", "macro_to_nb201"):
        assert {"tau", "params_tau", "flops_tau", "heads_tau", "committee_tau", "prior_weight"} <= report[part].keys()
        assert -1 <= report[part]["tau"] <= 1 and report[part]["n_test"] == 15
    assert report["nb201_to_macro"]["prior_weight"] == 1.0  # one training space: equal say
    assert set(report["committee_members_tau"]["macro"]) == {"log_flops", "log_layer_outputs", "proxy_naswot",
                                                             "proxy_synflow", "proxy_gradnorm", "proxy_jacob_cov"}
    assert report["latency"]["with_proxies"] == report["latency"]["n"]
    assert 0 <= report["online_nb201"]["within_1sigma"] <= report["online_nb201"]["within_2sigma"] <= 1
    assert report["latency"]["p50_seconds"] > 0
    assert 0 < report["online_nb201"]["update_s_p50"] <= report["online_nb201"]["update_s_max"]
