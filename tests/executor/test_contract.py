"""The `Executor` contract, run against both backends: `local` and `ray` (on the session's Ray head)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from executor_support import write_candidates

from agentnas.evaluator import EvalOptions, Executor, open_executor
from agentnas.records import EvalResult, FailureKind
from agentnas.tasks import get_task

SYNTAX_ERROR = "def build_model(input_shape, num_classes)\n    return None\n"


@pytest.fixture(scope="module")
def executors(tmp_path_factory: pytest.TempPathFactory, options: EvalOptions, cache_dir: Path,
              request: pytest.FixtureRequest) -> Iterator[dict[str, Executor]]:
    """Both backends, open for the whole module (a warm sandbox each), each keeping ONNX in its own folder."""
    cluster = request.getfixturevalue("ray_cluster")
    task = get_task("digits")
    opened: dict[str, Executor] = {}
    try:
        opened["local"] = open_executor("local", task, options, cache_dir=cache_dir,
                                        out_dir=tmp_path_factory.mktemp("kept-local"))
        opened["ray"] = open_executor("ray", task, options, cache_dir=cache_dir,
                                      out_dir=tmp_path_factory.mktemp("kept-ray"), ray_address=cluster.address)
        yield opened
    finally:
        for executor in opened.values():
            executor.close()


@pytest.fixture(params=["local", "ray"])
def executor(request: pytest.FixtureRequest, executors: dict[str, Executor]) -> Executor:
    return executors[str(request.param)]


def test_one_result_per_path_in_order_failures_included(executor: Executor, tmp_path: Path) -> None:
    good = write_candidates(tmp_path, 2)
    broken = tmp_path / "broken.py"
    broken.write_text(SYNTAX_ERROR)
    missing = tmp_path / "missing.py"
    paths = [good[0], broken, missing, good[1], good[0]]
    seen: list[str] = []
    results = executor.evaluate(paths, on_result=lambda r: seen.append(r.path))
    assert [r.path for r in results] == [str(p) for p in paths]
    assert sorted(seen) == sorted(str(p) for p in paths), "on_result must see every result exactly once"
    assert [r.ok for r in results] == [True, False, False, True, True]
    assert results[1].failure is not None and results[1].failure.kind == FailureKind.SYNTAX
    assert results[2].failure is not None and results[2].failure.kind == FailureKind.IMPORT
    for r in (results[0], results[3], results[4]):
        assert r.metrics is not None and r.metrics.val_accuracy > 0.5, r  # chance is 0.1
        assert r.task == "digits" and r.epochs == 2
    assert results[0].metrics == results[4].metrics, "the same file under the same seed scored differently"


def test_onnx_is_kept_by_the_caller_where_the_evaluator_keeps_it(executor: Executor, tmp_path: Path) -> None:
    [path] = write_candidates(tmp_path, 1)
    [result] = executor.evaluate([path])
    assert result.ok and result.onnx_path is not None
    onnx = Path(result.onnx_path)
    assert onnx.is_file() and onnx.stat().st_size > 0
    assert (onnx.parent / "model.py").read_bytes() == path.read_bytes()
    assert onnx.parent.name.startswith("digits-")


def test_ray_scores_equal_local_scores(executors: dict[str, Executor], tmp_path: Path) -> None:
    paths = write_candidates(tmp_path, 2)

    def scores(results: list[EvalResult]) -> list[object]:
        return [(r.status, r.metrics, r.params, r.isolation) for r in results]

    assert scores(executors["ray"].evaluate(paths)) == scores(executors["local"].evaluate(paths))


def test_an_empty_batch_gives_no_results(executor: Executor) -> None:
    assert executor.evaluate([]) == []
