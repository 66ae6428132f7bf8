"""A Ray node killed mid-batch: every evaluation still completes, exactly once.

The head and a second node (session fixture) each have one CPU. A driver process evaluates a
batch through the ray executor; as soon as an evaluation has started on the second node, the
test kills that node (SIGKILL to every process of its session: raylet, workers, agents). The
executor's attempt log (JSON lines written by the trusted Ray task around each evaluation)
shows what ran where.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from executor_support import AUTH_ENV, ROOT, RayNode, processes_mentioning, session_of, write_candidates

from agentnas.evaluator import EvalOptions, open_executor
from agentnas.tasks import get_task

DRIVER = """
import json, sys
from pathlib import Path
from agentnas.evaluator import EvalOptions, open_executor
from agentnas.tasks import get_task

address, options, log, cache, out, answer, *paths = sys.argv[1:]
with open_executor("ray", get_task("digits"), EvalOptions.model_validate_json(options), cache_dir=Path(cache),
                   out_dir=Path(out), ray_address=address, attempt_log=Path(log)) as executor:
    results = executor.evaluate([Path(p) for p in paths])
Path(answer).write_text(json.dumps([r.model_dump(mode="json") for r in results]))
"""


def read_attempts(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def wait_for_start_on(node: RayNode, log: Path, driver: subprocess.Popen[str], timeout_s: float) -> dict[str, Any]:
    """The first attempt that started in a process of `node`, while it still runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for attempt in read_attempts(log):
            if attempt["event"] == "start" and session_of(attempt["pid"]) == node.sid:
                return attempt
        assert driver.poll() is None, f"the driver ended before the node was used: {driver.communicate()}"
        time.sleep(0.05)
    raise AssertionError(f"no evaluation started on the second node within {timeout_s:.0f} s: {read_attempts(log)}")


def test_node_killed_mid_batch_every_evaluation_completes_exactly_once(
        ray_cluster: Any, options: EvalOptions, cache_dir: Path, tmp_path: Path) -> None:
    paths = write_candidates(tmp_path / "candidates", 6, sleep=1.0)
    log, out, answer = tmp_path / "attempts.jsonl", tmp_path / "kept", tmp_path / "results.json"
    worker: RayNode = ray_cluster.second
    driver: subprocess.Popen[str] | None = None
    try:
        worker.wait_started()
        driver = subprocess.Popen(
            [sys.executable, "-c", DRIVER, ray_cluster.address, options.model_dump_json(), str(log), str(cache_dir),
             str(out), str(answer), *map(str, paths)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True,
            env={**os.environ, **AUTH_ENV})
        interrupted = wait_for_start_on(worker, log, driver, timeout_s=90)
        worker.kill()
        _, stderr = driver.communicate(timeout=120)
    finally:
        worker.kill()
        if driver is not None and driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert worker.wait_gone() == [], "processes of the killed node survived"
    assert processes_mentioning(str(worker.folder)) == [], "a sandbox of the killed node survived"
    assert driver.returncode == 0, stderr[-3000:]

    # The caller got one result per path, in order, each a real score, its ONNX kept by the caller.
    results = json.loads(answer.read_text())
    assert [r["path"] for r in results] == [str(p) for p in paths]
    for r in results:
        assert r["status"] == "ok", r
        assert r["metrics"]["val_accuracy"] > 0.5, r  # chance is 0.1
        assert r["onnx_path"] is not None and Path(r["onnx_path"]).is_relative_to(out)
        assert Path(r["onnx_path"]).is_file()

    attempts = read_attempts(log)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for a in attempts:
        by_key.setdefault(a["key"], []).append(a)
    # One submission per path, and each evaluation ran to its end exactly once.
    assert sorted(events[0]["path"] for events in by_key.values()) == sorted(map(str, paths))
    for key, events in by_key.items():
        ends = [e for e in events if e["event"] == "end"]
        assert len(ends) == 1, f"evaluation {key} of {events[0]['path']} completed {len(ends)} times: {events}"
    # The one running on the killed node never ended there, and was run again on a live node.
    retried = by_key[interrupted["key"]]
    assert not any(e["event"] == "end" and e["pid"] == interrupted["pid"] for e in retried)
    [end] = [e for e in retried if e["event"] == "end"]
    assert end["node"] != interrupted["node"]
    assert [e["event"] for e in retried].count("start") >= 2


@pytest.mark.slow  # ~20 s more on top of the kill above
def test_a_worker_lost_on_every_try_gives_a_crash_result_and_the_batch_goes_on(
        ray_cluster: Any, options: EvalOptions, cache_dir: Path, tmp_path: Path) -> None:
    [slow] = write_candidates(tmp_path / "slow", 1, sleep=30.0)
    [quick] = write_candidates(tmp_path / "quick", 1)
    log = tmp_path / "attempts.jsonl"
    with open_executor("ray", get_task("digits"), options, cache_dir=cache_dir, ray_address=ray_cluster.address,
                       max_retries=0, max_in_flight=1, attempt_log=log) as executor, ThreadPoolExecutor(1) as pool:
        batch = pool.submit(executor.evaluate, [slow, quick])
        deadline = time.monotonic() + 90
        while not any(a["event"] == "start" for a in read_attempts(log)):
            assert time.monotonic() < deadline and not batch.done(), batch.result() if batch.done() else "no start"
            time.sleep(0.05)
        [started] = read_attempts(log)
        os.kill(started["pid"], signal.SIGKILL)  # the Ray worker running the evaluation, mid-evaluation
        lost, ok = batch.result(timeout=120)
    assert lost.path == str(slow) and not lost.ok
    assert lost.failure is not None and lost.failure.kind == "crash"
    assert "Ray worker died and the 0 retries were used up" in lost.failure.message
    assert ok.path == str(quick) and ok.ok, ok
