"""Objectives and cost limits of a run: a checked candidate's costs are measured from the graph
its real sandbox check exported and one over a limit is an `over_budget` failure naming the
figure (never trained); a run records its objectives and limits and journals each experiment's
costs; bad flags and configurations are one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentnas.agents.state import Candidate, Context
from agentnas.config import CostsConfig
from agentnas.encode.costs import read_costs_beside
from agentnas.evaluator import EvalOptions, Evaluator, IsolationUnavailable, get_isolation
from agentnas.journal import open_journal
from agentnas.records import Costs
from agentnas.run.costs import cost_check
from agentnas.run.roles import SandboxChecker
from agentnas.run.settings import RunError, RunOptions
from agentnas.tasks import get_task

MLP = '''import math
import torch.nn as nn


def build_model(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), {hidden}), nn.ReLU(),
                         nn.Linear({hidden}, num_classes))
'''
SMALL, BIG = MLP.format(hidden=16), MLP.format(hidden=2048)  # about 4 KB and 1 MB of float32 weights
CTX = Context(iteration=0, seed=0, task="digits", hypothesis_id="h0", hypothesis="small and fast")
TINY = ["--task", "digits", "--epochs", "1", "--memory", "none", "--k", "2", "--train-per-expansion", "1",
        "--value-model", "none", "--max-params", "20000"]


@pytest.fixture(scope="module")
def check_evaluator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluator]:
    """The check step of a run: build, shape, export, in the real sandbox, no training."""
    try:
        get_isolation("auto")
    except IsolationUnavailable as e:
        pytest.skip(f"no isolation here: {e}")
    work = tmp_path_factory.mktemp("check")
    options = EvalOptions(check_only=True, require_export=True, slots=1, device="cpu", timeout_s=60.0,
                          memory_limit_gb=1.0)
    with Evaluator(get_task("digits"), options, cache_dir=work / "cache", out_dir=work / "out") as ev:
        yield ev


def check(evaluator: Evaluator, root: Path, options: RunOptions, config: CostsConfig | None = None,
          ctx: Context = CTX) -> dict[str, Candidate]:
    costs = cost_check(config or CostsConfig(repeats=10, warmup=2), options, get_isolation("auto"))
    checker = SandboxChecker(evaluator, root, options.max_params, costs=costs)
    drafts = [Candidate(id="small", code=SMALL, operator="sample"), Candidate(id="big", code=BIG, operator="sample")]
    return {c.id: c for c in checker.check(ctx, drafts)}


def test_limits_set_by_chat_are_held_at_the_check_and_latency_is_measured_for_them(
        check_evaluator: Evaluator, tmp_path: Path) -> None:
    # the run itself asked for no limit and no latency; the user then said "below 0.5 MB", "under 1e-6 ms"
    sized = check(check_evaluator, tmp_path / "a", RunOptions(run_dir=tmp_path),
                  ctx=CTX.model_copy(update={"max_size_mb": 0.5}))
    assert (sized["big"].failure_kind, sized["small"].status) == ("over_budget", "checked")
    assert "chat constraint" in (sized["big"].failure_message or "")
    timed = check(check_evaluator, tmp_path / "b", RunOptions(run_dir=tmp_path),
                  ctx=CTX.model_copy(update={"max_latency_ms": 1e-6}))
    assert timed["small"].failure_kind == "over_budget" and "latency" in (timed["small"].failure_message or "")


def test_a_candidate_over_the_size_limit_fails_over_budget_with_its_size_and_the_other_is_measured(
        check_evaluator: Evaluator, tmp_path: Path) -> None:
    out = check(check_evaluator, tmp_path, RunOptions(run_dir=tmp_path, max_size_mb=0.5))

    big, small = out["big"], out["small"]
    assert (big.status, big.failure_kind) == ("failed", "over_budget")
    assert big.failure_message is not None and "MB, over the limit of 0.5 MB (--max-size-mb)" in big.failure_message
    assert big.params is not None and big.params > 100_000
    assert small.status == "checked" and small.onnx_path is not None
    costs = read_costs_beside(small.onnx_path)
    assert isinstance(costs, Costs) and costs.size_mb < 0.5 and costs.params == small.params
    assert costs.latency == []  # no latency limit, no latency objective: not measured ("auto")


def test_a_latency_limit_measures_latency_and_fails_what_is_slower(check_evaluator: Evaluator,
                                                                  tmp_path: Path) -> None:
    out = check(check_evaluator, tmp_path, RunOptions(run_dir=tmp_path, max_latency_ms=1e-6))

    for c in out.values():
        assert (c.status, c.failure_kind) == ("failed", "over_budget")
        assert c.failure_message is not None and "batch-1 latency is" in c.failure_message
        assert "over the limit of 1e-06 ms (--max-latency-ms)" in c.failure_message


def test_a_latency_objective_measures_latency_for_every_candidate_without_rejecting_any(
        check_evaluator: Evaluator, tmp_path: Path) -> None:
    out = check(check_evaluator, tmp_path, RunOptions(run_dir=tmp_path, objectives=("val_accuracy", "latency_ms")))

    for c in out.values():
        assert c.status == "checked"
        costs = read_costs_beside(c.onnx_path)
        assert costs is not None and costs.latency_ms is not None and costs.latency_at(1) is not None


def test_a_configuration_that_turns_off_a_needed_figure_is_refused_naming_both() -> None:
    options = RunOptions(run_dir=Path("r"), max_latency_ms=5.0)
    with pytest.raises(RunError, match=r'--max-latency-ms needs .*latency = "never"'):
        cost_check(CostsConfig(latency="never"), options, None)
    with pytest.raises(RunError, match="--max-size-mb needs .*enabled = false"):
        cost_check(CostsConfig(enabled=False), RunOptions(run_dir=Path("r"), max_size_mb=1.0), None)
    assert cost_check(CostsConfig(enabled=False), RunOptions(run_dir=Path("r")), None) is None
    torch_objective = RunOptions(run_dir=Path("r"), objectives=("val_accuracy", "torch_latency_ms"))
    with pytest.raises(RunError, match=r'objective torch_latency_ms needs .*torch = "never"'):
        cost_check(CostsConfig(torch="never"), torch_objective, None)
    # torch is timed where the run evaluates, and only when asked for
    assert cost_check(CostsConfig(), torch_objective, None, "cuda").torch_device == "cuda"  # type: ignore[union-attr]
    assert cost_check(CostsConfig(), options, None, "cpu").torch_device is None  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------ the CLI

def agentnas(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "AGENTNAS_CONFIG")}
    return subprocess.run([sys.executable, "-m", "agentnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("costrun")
    (work / "agentnas.toml").write_text(f'cache_dir = "{work / "cache"}"\nslots = 1\n\n[costs]\nrepeats = 10\n')
    return work


def test_a_run_records_its_objectives_and_limits_and_journals_each_experiments_costs(work: Path) -> None:
    # the objective is the latency through torch; the limit is ONNX Runtime's: both are measured
    run_dir = work / "run"
    proc = agentnas("run", *TINY, "--run-dir", str(run_dir), "--budget-evals", "1", "--objectives",
                    "val_accuracy,torch_latency_ms", "--max-latency-ms", "10000", "--max-size-mb", "50", cwd=work)
    assert proc.returncode == 0, proc.stderr

    with open_journal(run_dir, read_only=True) as j:
        config = j.get("run", "config")
        assert config is not None
        experiments = [e.payload for e in j.entries("experiment")]
        measured = [e.payload["costs"] for e in j.entries("node") if e.payload.get("status") == "trained"]
    assert config.payload["objectives"] == ["val_accuracy", "torch_latency_ms"]
    assert measured and measured[0] == experiments[0]["costs"]  # the node row has them from its check
    assert (config.payload["max_latency_ms"], config.payload["max_size_mb"]) == (10000.0, 50.0)
    assert len(experiments) == 1 and experiments[0]["status"] == "ok"
    costs = Costs.model_validate(experiments[0]["costs"])
    assert costs.params == experiments[0]["params"] and costs.macs > 0 and costs.size_bytes > 4 * costs.params
    assert costs.latency_at(1) is not None and costs.latency_at(1).runs == 10  # type: ignore[union-attr]
    assert {x.engine for x in costs.latency} == {"onnxruntime-cpu", "torch-cpu"}
    front = agentnas("runs", "front", str(run_dir), "--json", cwd=work)  # the run's own objectives
    assert front.returncode == 0, front.stderr
    assert [m["torch_latency_ms"] for m in json.loads(front.stdout)["front"]] == [costs.torch_latency_ms]


@pytest.mark.parametrize(("flags", "says"), [
    (["--objectives", "val_accuracy,speed"], "unknown objective 'speed'"),
    (["--objectives", "latency_ms,latency_ms"], "'latency_ms' is given twice"),
    (["--objectives", ""], "separated by commas"),
    (["--max-latency-ms", "0"], "--max-latency-ms 0.0: input should be greater than 0"),
    (["--max-latency-ms", "fast"], "Invalid value for '--max-latency-ms'"),
    (["--max-size-mb", "-1"], "--max-size-mb -1.0: input should be greater than 0"),
    (["--max-size-mb", "inf"], "--max-size-mb inf: input should be a finite number"),
])
def test_a_bad_objective_or_limit_is_one_line_and_exit_2(work: Path, flags: list[str], says: str) -> None:
    proc = agentnas("run", *TINY, "--run-dir", str(work / "bad"), "--budget-evals", "1", *flags, cwd=work)

    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert says in lines[0] and "Traceback" not in proc.stderr
    assert not (work / "bad").exists()


def test_a_latency_limit_that_the_configuration_cannot_measure_is_refused_before_the_run_starts(
        work: Path, tmp_path: Path) -> None:
    config = tmp_path / "never.toml"
    config.write_text(f'cache_dir = "{work / "cache"}"\nslots = 1\n\n[costs]\nlatency = "never"\n')
    proc = agentnas("run", *TINY, "--run-dir", str(tmp_path / "run"), "--budget-evals", "1",
                    "--max-latency-ms", "5", "--config", str(config), cwd=work)

    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert lines[-1] == 'error: --max-latency-ms needs the candidates\' latency, which [costs] latency = "never" ' \
                        "turns off", proc.stderr
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_evaluate_reports_the_costs_of_each_exported_model_with_latency_when_configured(work: Path,
                                                                                       tmp_path: Path) -> None:
    config = tmp_path / "always.toml"
    config.write_text(f'cache_dir = "{work / "cache"}"\nslots = 1\n\n[costs]\nlatency = "always"\nrepeats = 5\n')
    example = Path(__file__).resolve().parents[2] / "examples" / "digits_mlp.py"
    proc = agentnas("evaluate", str(example), "--task", "digits", "--epochs", "1", "--json", "--out",
                    str(tmp_path / "out"), "--config", str(config), cwd=work)
    assert proc.returncode == 0, proc.stderr

    [row] = json.loads(proc.stdout)
    costs = Costs.model_validate(row["costs"])
    assert costs.size_bytes == Path(row["onnx_path"]).stat().st_size and costs.macs > 0
    assert costs.latency_at(1) is not None and costs.latency_at(1).runs == 5  # type: ignore[union-attr]
