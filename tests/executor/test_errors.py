"""Bad set-ups get clear errors, fast: no Ray installed, bad addresses, no cluster, a cluster
that cannot take an evaluation. Nothing is started that is not stopped again."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from executor_support import free_port
from typer.testing import CliRunner

from agentnas.cli import app
from agentnas.evaluator import (
    EvalOptions,
    ExecutorError,
    ExecutorUnavailable,
    IsolationUnavailable,
    check_ray_address,
    open_executor,
)
from agentnas.tasks import get_task


def test_without_ray_the_ray_executor_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                             options: EvalOptions, cache_dir: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ExecutorUnavailable, match=r"pip install 'agentnas\[ray\]'"):
        open_executor("ray", get_task("digits"), options, cache_dir=cache_dir)


def test_without_ray_the_cli_exits_2_with_the_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.chdir(tmp_path)  # no agentnas.toml here
    result = CliRunner().invoke(app, ["bench", "executor", "--executors", "ray", "--task", "digits", "--n", "1"])
    assert result.exit_code == 2, result.output
    assert "agentnas[ray]" in result.output


def test_unknown_executor_is_a_clear_error(options: EvalOptions, cache_dir: Path) -> None:
    with pytest.raises(ExecutorError, match="unknown executor 'dask'.*local, ray"):
        open_executor("dask", get_task("digits"), options, cache_dir=cache_dir)


def test_ray_address_is_refused_with_the_local_executor(options: EvalOptions, cache_dir: Path) -> None:
    with pytest.raises(ExecutorError, match="only applies to --executor ray"):
        open_executor("local", get_task("digits"), options, cache_dir=cache_dir, ray_address="auto")


@pytest.mark.parametrize("address", ["auto", "10.0.0.5:6379", "head-node.cluster.local:6379", "[::1]:6379",
                                     " 127.0.0.1:8000 "])
def test_ray_address_accepts_auto_and_host_port(address: str) -> None:
    assert check_ray_address(address) == address.strip()


@pytest.mark.parametrize("address", ["", "localhost", "http://10.0.0.5:6379", "10.0.0.5:0", "10.0.0.5:70000",
                                     "10.0.0.5:", ":6379", "a b:6379"])
def test_ray_address_rejects_anything_else(address: str) -> None:
    with pytest.raises(ExecutorError, match="expected 'auto' or HOST:PORT"):
        check_ray_address(address)


def test_unconfined_candidates_need_the_unsafe_flag_on_ray_too(options: EvalOptions, cache_dir: Path) -> None:
    unsafe = options.model_copy(update={"isolation": "none"})
    with pytest.raises(IsolationUnavailable, match="--unsafe-no-isolation"):
        open_executor("ray", get_task("digits"), unsafe, cache_dir=cache_dir, ray_address="auto")


def test_no_cluster_at_the_address_fails_fast(options: EvalOptions, cache_dir: Path) -> None:
    pytest.importorskip("ray")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(ExecutorError, match=f"no Ray cluster answers at {address}"):
        open_executor("ray", get_task("digits"), options, cache_dir=cache_dir, ray_address=address)
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize(("change", "message"), [
    ({"device": "cuda"}, "has no GPU"),
    ({"memory_limit_gb": 100_000.0}, "no node of the Ray cluster can take one evaluation"),
    ({"threads_per_slot": 64}, "no node of the Ray cluster can take one evaluation"),
])
def test_a_cluster_that_cannot_take_an_evaluation_is_refused_at_once(
        ray_cluster: Any, options: EvalOptions, cache_dir: Path, change: dict[str, Any], message: str) -> None:
    # Rather than queueing tasks no node will ever run (Ray would wait forever).
    with pytest.raises(ExecutorError, match=message):
        open_executor("ray", get_task("digits"), options.model_copy(update=change), cache_dir=cache_dir,
                      ray_address=ray_cluster.address)
    import ray

    assert not ray.is_initialized(), "the failed executor left its connection open"
