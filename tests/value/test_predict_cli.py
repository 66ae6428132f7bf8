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


def test_predict_scores_candidates_and_onnx_files_from_the_same_inputs_and_reports_bad_ones(work: Path) -> None:
    onnx_file = work / "linear.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 10)), (torch.zeros(1, 1, 40),),
                          str(onnx_file), dynamo=False, external_data=False)
    broken = work / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    paths = [str(ROOT / "examples" / "mnist1d_cnn.py"), str(onnx_file), str(broken)]
    proc = agentnas("predict", *paths, "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["path"] for r in rows] == paths
    assert all(set(r) == {"path", "status", "error", "mean", "std", "proxies", "percentile", "rank"} for r in rows)
    ok, bad = rows[:2], rows[2]
    assert [r["status"] for r in ok] == ["ok", "ok"] and all(r["std"] >= 0 for r in ok)
    assert [r["proxies"] for r in ok] == [False, False]  # the .onnx has none, so neither is used
    assert "linear.onnx" in proc.stderr and "graph alone" in proc.stderr
    assert sorted(r["rank"] for r in ok) == [1, 2]
    assert all(0 <= r["percentile"] <= 100 for r in ok)
    assert bad["status"] == "failed" and bad["mean"] is None and "broken.onnx" in bad["error"]


def test_a_candidate_and_its_exported_graph_get_the_same_score_and_percentile(work: Path) -> None:
    evaluated = agentnas("evaluate", str(ROOT / "examples" / "mnist1d_cnn.py"), "--epochs", "1", "--json",
                         "--out", str(work / "out"), cwd=work)
    assert evaluated.returncode == 0, evaluated.stderr
    exported = Path(json.loads(evaluated.stdout)[0]["onnx_path"])
    bare = work / "cnn.onnx"
    bare.write_bytes(exported.read_bytes())  # without the proxies.json the evaluator wrote beside it
    cnn = str(ROOT / "examples" / "mnist1d_cnn.py")
    both = agentnas("predict", cnn, str(bare), "--json", cwd=work)
    assert both.returncode == 0, both.stderr
    py, onnx = json.loads(both.stdout)
    assert py["mean"] == pytest.approx(onnx["mean"], abs=1e-6) and py["percentile"] == onnx["percentile"]
    assert py["proxies"] is onnx["proxies"] is False
    alone = agentnas("predict", cnn, cwd=work)  # on its own the candidate keeps its proxies
    assert alone.returncode == 0, alone.stderr
    assert "percentile: the share of 100 architectures the offline grammar samples for mnist1d" in alone.stdout
    (row,) = [line.split() for line in alone.stdout.splitlines() if line.endswith("mnist1d_cnn.py")]
    assert row[0] == "1" and row[4:8] == ["%", "graph", "+", "proxies"] and 0 <= float(row[3]) <= 100


def test_predict_reports_a_file_that_does_not_fit_the_task_on_its_row_and_predicts_the_others(work: Path) -> None:
    files = sorted(str(p) for p in (ROOT / "examples").glob("*.py"))
    # the task is mnist1d: digits_cnn needs images, the tokens_* models token sequences
    proc = agentnas("predict", *files, "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    rows = {Path(r["path"]).stem: r for r in json.loads(proc.stdout)}
    assert set(rows) == {Path(f).stem for f in files}
    for name, row in rows.items():
        if name == "digits_cnn" or name.startswith("tokens_"):
            assert row["status"] == "failed" and "build_model raised" in row["error"] and row["rank"] is None
        else:
            assert row["status"] == "ok" and row["proxies"] and 0 <= row["percentile"] <= 100
    fits = [name for name in rows if name != "digits_cnn" and not name.startswith("tokens_")]
    assert sorted(r["rank"] for r in rows.values() if r["rank"]) == list(range(1, len(fits) + 1))


def test_predict_of_a_missing_file_is_a_usage_error(work: Path) -> None:
    proc = agentnas("predict", str(ROOT / "examples" / "mnist1d_cnn.py"), str(work / "absent.py"), cwd=work)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "absent.py" in proc.stderr


@pytest.mark.slow  # ~90 s: scores the task's 100 reference architectures with this model
@needs_data
def test_a_value_model_of_ones_own_gets_its_reference_scored_once_and_cached(model_file: Path, work: Path) -> None:
    cnn = str(ROOT / "examples" / "mnist1d_cnn.py")
    first = agentnas("predict", cnn, "--model", str(model_file), "--json", cwd=work)
    assert first.returncode == 0, first.stderr
    assert "scoring 100 reference architectures for mnist1d" in first.stderr
    (row,) = json.loads(first.stdout)
    assert 0 <= row["percentile"] <= 100 and row["proxies"]
    again = agentnas("predict", cnn, "--model", str(model_file), "--json", cwd=work)
    assert again.returncode == 0 and "scoring" not in again.stderr  # from the cache
    assert json.loads(again.stdout) == [row]


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
