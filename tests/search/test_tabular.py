"""The tabular benchmark tasks: registered, lookups of validation accuracy only, test
accuracy kept for the report, and no data to train on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentnas.run.search import run_search
from agentnas.search import Budget, Nb201Grammar, Observation, RegularizedEvolution, SearchResult
from agentnas.search.tabular import table_evaluator
from agentnas.space import load_macro, load_nb201
from agentnas.tasks import TASK_NAMES, TabularTask, TaskError, get_task

NAMES = ("nb201-cifar10", "nb201-cifar100", "nb201-imagenet16", "macro-cifar10")
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_the_four_tabular_tasks_are_registered_with_their_shapes() -> None:
    assert set(NAMES) <= set(TASK_NAMES)
    shapes = {n: (get_task(n).spec.input_shape, get_task(n).spec.num_classes) for n in NAMES}
    assert shapes["nb201-imagenet16"] == ((3, 16, 16), 120)
    assert shapes["nb201-cifar100"] == ((3, 32, 32), 100)
    assert all(isinstance(get_task(n), TabularTask) for n in NAMES)


def test_a_tabular_task_has_no_data_to_train_on(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="tabular benchmark"):
        get_task("nb201-cifar10").load(tmp_path)


def test_nb201_lookup_is_the_validation_accuracy_and_test_is_separate(bench_data: Path) -> None:
    task = get_task("nb201-cifar10")
    assert isinstance(task, TabularTask)
    row = load_nb201("cifar10")[BEST_C10]
    assert task.evaluate(BEST_C10) == row.val_acc_200
    assert task.test_accuracy(BEST_C10) == row.test_acc_200
    assert task.optimum_keys() == frozenset({BEST_C10})
    assert len(task.architectures()) == 15625


def test_macro_search_sees_run_one_and_the_report_the_mean_of_the_others(bench_data: Path) -> None:
    task = get_task("macro-cifar10")
    assert isinstance(task, TabularTask)
    code, row = next(iter(load_macro().items()))
    assert task.evaluate(code) == row.test_acc[0]
    assert task.test_accuracy(code) == pytest.approx((row.test_acc[1] + row.test_acc[2]) / 2)
    assert len(task.optimum_keys()) >= 1


def test_unknown_architectures_and_low_fidelities_are_clear_errors(bench_data: Path) -> None:
    task = get_task("nb201-cifar100")
    assert isinstance(task, TabularTask)
    with pytest.raises(TaskError, match="not an architecture"):
        task.evaluate("|bogus~0|")
    with pytest.raises(TaskError, match="fidelity"):
        task.evaluate(BEST_C10, 0.5)


def test_the_search_never_sees_test_accuracy(bench_data: Path) -> None:
    task = get_task("nb201-cifar10")
    assert isinstance(task, TabularTask)
    assert not any("test" in f for f in (*Observation.model_fields, *SearchResult.model_fields))
    seen: list[Observation] = []
    inner = table_evaluator(task)

    def spy(key: str, fidelity: float) -> Observation:
        obs = inner(key, fidelity)
        seen.append(obs)
        return obs

    tree = run_search(RegularizedEvolution(Nb201Grammar()), spy, Budget(evals=30), seed=0)
    assert len(seen) == 30
    for obs, r in zip(seen, tree.results, strict=True):
        assert obs.val_accuracy == task.evaluate(r.key) != task.test_accuracy(r.key)
    dumped = json.dumps([r.model_dump() for r in tree.results] + [n.model_dump() for n in tree.nodes.values()])
    assert "test" not in dumped
    floats = {v for r in tree.results for v in r.model_dump().values() if isinstance(v, float)}
    assert floats - {1.0} == {task.evaluate(r.key) for r in tree.results}  # besides fidelity and cost: val only


def test_evaluating_a_candidate_on_a_tabular_task_is_a_usage_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    example = Path(__file__).resolve().parents[2] / "examples" / "mnist1d_cnn.py"
    (tmp_path / "agentnas.toml").write_text(f'cache_dir = "{tmp_path / "cache"}"\n')
    done = subprocess.run([sys.executable, "-m", "agentnas", "evaluate", str(example), "--task", "nb201-cifar10"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "tabular benchmark" in done.stderr and "Traceback" not in done.stderr
