"""Every bad flag value is one line on stderr and exit 2, before anything is started or
written; the config file named by $AGENTNAS_CONFIG must exist like one given by --config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MLP = str(ROOT / "examples" / "digits_mlp.py")
RUN = ["run", "--task", "digits", "--budget-evals", "1", "--memory", "none"]


def agentnas(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "AGENTNAS_CONFIG"}
    return subprocess.run([sys.executable, "-m", "agentnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**base, "COLUMNS": "200", **(env or {})})


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "agentnas.toml").write_text(f'cache_dir = "{tmp_path / "cache"}"\nslots = 1\n')
    (tmp_path / "a-file").write_text("not a directory")
    return tmp_path


BAD = [
    ([*RUN, "--k", "0"], "--k"),
    ([*RUN, "--train-per-expansion", "0"], "--train-per-expansion"),
    ([*RUN, "--beta", "-1"], "--beta"),
    ([*RUN, "--max-params", "0"], "--max-params"),
    ([*RUN, "--max-macs", "-1"], "--max-macs"),
    ([*RUN, "--fidelity-epochs", "0"], "--fidelity-epochs"),
    ([*RUN, "--seed", "-1"], "--seed"),
    ([*RUN, "--keep", "0"], "--keep"),
    ([*RUN, "--keep", "1.5"], "--keep"),
    ([*RUN, "--budget-evals", "0"], "--budget-evals"),
    ([*RUN, "--budget-time", "0"], "--budget-time"),
    ([*RUN, "--budget-time", "soon"], "--budget-time"),
    ([*RUN, "--epochs", "0"], "epochs"),
    ([*RUN, "--timeout", "0"], "timeout"),
    ([*RUN, "--slots", "0"], "slots"),
    ([*RUN, "--device", "tpu"], "device"),
    ([*RUN, "--isolation", "jail"], "isolation"),
    ([*RUN, "--proposer", "oracle"], "--proposer"),
    ([*RUN, "--executor", "cloud"], "--executor"),
    ([*RUN, "--ray-address", "auto"], "--ray-address"),
    ([*RUN, "--search", "rea"], "--search"),
    ([*RUN, "--value-model", "missing.pt"], "--value-model"),
    ([*RUN, "--from-memory"], "--from-memory"),
    ([*RUN, "--run-dir", "a-file"], "--run-dir"),
    ([*RUN, "--task", "nope"], "nope"),
    ([*RUN, "--config", "missing.toml"], "missing.toml"),
    (["run", "--task", "digits"], "budget"),
    (["replay", "nowhere", "--retrain", "-1"], "--retrain"),
    (["replay", "nowhere", "--seeds", "0"], "--seeds"),
    (["replay", "nowhere", "--fork-at", "-1"], "--fork-at"),
    (["replay", "nowhere", "--fork-at", "1", "--budget-evals", "0"], "--budget-evals"),
    (["replay", "nowhere", "--fork-at", "1", "--proposer", "oracle"], "--proposer"),
    (["replay", "nowhere", "--budget-evals", "3"], "--fork-at"),
    (["replay", "nowhere"], "nowhere"),
    (["runs", "show", "nowhere"], "nowhere"),
    (["report", "nowhere", "--top", "0"], "--top"),
    (["report", "nowhere"], "nowhere"),
    (["evaluate", MLP, "--epochs", "0"], "epochs"),
    (["evaluate", MLP, "--seed", "-1"], "seed"),
    (["evaluate", MLP, "--timeout", "0"], "timeout"),
    (["evaluate", MLP, "--memory-limit", "0"], "memory_limit"),
    (["evaluate", MLP, "--slots", "0"], "slots"),
]


@pytest.mark.parametrize(("args", "named"), BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD])
def test_a_bad_flag_value_is_one_line_and_exit_2(work: Path, args: list[str], named: str) -> None:
    proc = agentnas(*args, cwd=work)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0], proc.stderr
    assert not (work / "agentnas-runs").exists()  # nothing was started


@pytest.mark.parametrize("args", [["bench", "sandbox", "--n", "0"], ["bench", "value", "--steps", "0"],
                                  ["bench", "llm", "--n", "0"]])
def test_a_bad_bench_count_is_a_usage_error(work: Path, args: list[str]) -> None:
    proc = agentnas(*args, cwd=work)
    assert proc.returncode == 2 and "Invalid value" in proc.stderr and "Traceback" not in proc.stderr


def test_a_missing_config_file_from_the_environment_is_an_error_like_the_flag(work: Path) -> None:
    by_env = agentnas(*RUN, cwd=work, env={"AGENTNAS_CONFIG": str(work / "missing.toml")})
    by_flag = agentnas(*RUN, "--config", str(work / "missing.toml"), cwd=work)
    for proc in (by_env, by_flag):
        assert proc.returncode == 2 and "missing.toml" in proc.stderr and "does not exist" in proc.stderr
    assert "AGENTNAS_CONFIG" in by_env.stderr


def test_the_executor_help_names_the_ray_extra(work: Path) -> None:
    proc = agentnas("run", "--help", cwd=work)
    assert proc.returncode == 0 and "agentnas[ray]" in proc.stdout


def test_a_value_click_cannot_parse_or_an_unknown_option_is_one_line_and_exit_2() -> None:
    import subprocess
    import sys

    for args in (["run", "--k", "abc", "--budget-evals", "1"], ["run", "--budget-evals", "1", "--nosuch"],
                 ["nosuch"]):
        done = subprocess.run([sys.executable, "-m", "agentnas", *args], capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "--help" in lines[0], done.stderr
