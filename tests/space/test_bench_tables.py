"""The benchmark table loaders: where they look, what they read, the README's stated facts."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest

from agentnas.space import BENCH_DATA_ENV, MacroRecord, Nb201Record, bench_data_dir, load_macro, load_nb201


@pytest.mark.parametrize(
    ("dataset", "best_test"),
    [("cifar10", 94.37), ("cifar100", 73.51), ("imagenet16", 47.31)],
)
def test_nb201_tables_hold_the_readme_best_accuracies(dataset: str, best_test: float, bench_data: Path) -> None:
    table = load_nb201(dataset, bench_data)  # type: ignore[arg-type]
    assert len(table) == 15625
    best = max(table.values(), key=lambda r: r.test_acc_200)
    assert round(best.test_acc_200, 2) == best_test
    assert best.rank == 1  # rank 1 is the best by test accuracy
    assert all(isinstance(r, Nb201Record) and r.arch == arch for arch, r in table.items())


def test_nb201_cifar10_mean_test_accuracy_is_about_87(bench_data: Path) -> None:
    mean = statistics.fmean(r.test_acc_200 for r in load_nb201("cifar10", bench_data).values())
    assert mean == pytest.approx(87.06, abs=0.01)


def test_macro_table_holds_the_readme_accuracies(bench_data: Path) -> None:
    table = load_macro(bench_data)
    assert len(table) == 6561
    assert round(max(r.mean_acc for r in table.values()), 2) == 93.13
    assert statistics.fmean(r.mean_acc for r in table.values()) == pytest.approx(90.25, abs=0.01)
    record = table["00000000"]
    assert isinstance(record, MacroRecord) and record.code == "00000000"
    assert len(record.test_acc) == 3 and record.params == 387882 and record.flops == 7713280


def test_default_folder_is_shared_data_beside_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BENCH_DATA_ENV, raising=False)
    import agentnas

    expected = Path(agentnas.__file__).resolve().parent.parent.parent / "shared" / "data"
    if not expected.is_dir():
        pytest.skip(f"no shared data folder at {expected}")
    assert bench_data_dir().resolve() == expected.resolve()


def test_env_var_and_argument_choose_the_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bench_data: Path
) -> None:
    monkeypatch.setenv(BENCH_DATA_ENV, str(bench_data))
    assert bench_data_dir() == bench_data
    assert bench_data_dir(tmp_path) == tmp_path.resolve()  # the argument wins over the env var
    monkeypatch.setenv(BENCH_DATA_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match=f"elsewhere.*{BENCH_DATA_ENV}"):
        load_macro()
    assert len(load_nb201("cifar10", bench_data)) == 15625


def test_missing_folder_or_table_raises_file_not_found_naming_the_place(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "absent"))):
        load_nb201("cifar10", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="nasbench201_cifar100.json"):
        load_nb201("cifar100", tmp_path)  # the folder exists but holds no table
    with pytest.raises(FileNotFoundError, match="nas-bench-macro_cifar10.json"):
        load_macro(tmp_path)


def test_unknown_dataset_raises_value_error() -> None:
    with pytest.raises(ValueError, match="imagenet16"):
        load_nb201("imagenet", Path("."))  # type: ignore[arg-type]


def test_tables_are_parsed_once_and_callers_cannot_change_the_cache(bench_data: Path) -> None:
    first = load_nb201("cifar10", bench_data)
    arch = next(iter(first))
    del first[arch]
    second = load_nb201("cifar10", bench_data)
    assert arch in second and len(second) == 15625
    assert second[arch] is load_nb201("cifar10", bench_data)[arch]  # the same parsed records, not a re-read
    macro = load_macro(bench_data)
    assert macro["22222222"] is load_macro(bench_data)["22222222"]
