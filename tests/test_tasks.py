"""Tasks: built-in data (mnist1d, digits), user .npz files, the registry, reference examples."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from agentnas.paths import load_module, shipped_dir
from agentnas.tasks import (
    TASK_NAMES,
    DigitsTask,
    Mnist1dTask,
    NpzTask,
    Task,
    TaskData,
    TaskError,
    get_task,
)
from agentnas.tasks import mnist1d as mnist1d_module
from agentnas.tasks.splits import stratified_split

SPLIT_NAMES = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def assert_same_data(a: TaskData, b: TaskData) -> None:
    for key in SPLIT_NAMES:
        x, y = getattr(a, key), getattr(b, key)
        assert x.dtype == y.dtype and np.array_equal(x, y), key


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mnist1d-cache")


@pytest.fixture(scope="module")
def mnist1d_data(mnist1d_cache: Path) -> TaskData:
    return Mnist1dTask().load(mnist1d_cache)


@pytest.fixture(scope="module")
def trainer() -> ModuleType:
    return load_module(shipped_dir("sandbox") / "train.py", "agentnas_test_sandbox_train")


# --------------------------------------------------------------------------- mnist1d


def test_mnist1d_splits_have_documented_sizes_shapes_and_dtypes(mnist1d_data: TaskData) -> None:
    d = mnist1d_data
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (3500, 500, 1000)
    for x in (d.x_train, d.x_val, d.x_test):
        assert x.shape[1:] == (1, 40) and x.dtype == np.float32
    for y in (d.y_train, d.y_val, d.y_test):
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    # The validation split is stratified: each class's share of train, about 50 each.
    expected = np.bincount(np.concatenate([d.y_train, d.y_val])) * 500 / 4000
    assert np.abs(np.bincount(d.y_val) - expected).max() < 1


def test_mnist1d_val_rows_are_carved_from_train_without_overlap(mnist1d_data: TaskData) -> None:
    train_rows = {row.tobytes() for row in mnist1d_data.x_train}
    val_rows = {row.tobytes() for row in mnist1d_data.x_val}
    test_rows = {row.tobytes() for row in mnist1d_data.x_test}
    assert len(train_rows) == 3500 and len(val_rows) == 500  # signals are continuous: unique
    assert not train_rows & val_rows and not train_rows & test_rows and not val_rows & test_rows


def test_mnist1d_second_load_reads_the_cache(mnist1d_cache: Path, mnist1d_data: TaskData,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(list(mnist1d_cache.glob("mnist1d-*.npz"))) == 1
    assert not list(mnist1d_cache.glob("*.tmp"))  # the atomic write left nothing behind

    def no_generation() -> TaskData:
        raise AssertionError("regenerated although the cache exists")

    monkeypatch.setattr(mnist1d_module, "_generate", no_generation)
    assert_same_data(Mnist1dTask().load(mnist1d_cache), mnist1d_data)


def test_mnist1d_generation_is_deterministic_and_leaves_global_rngs_alone(
        tmp_path: Path, mnist1d_data: TaskData) -> None:
    np.random.seed(1234)
    random.seed(1234)
    expected = (np.random.random(3), random.random())  # the streams after seeding alone
    np.random.seed(1234)
    random.seed(1234)
    fresh = Mnist1dTask().load(tmp_path)  # a new cache dir: generated again from scratch
    assert np.array_equal(np.random.random(3), expected[0])
    assert random.random() == expected[1]
    assert_same_data(fresh, mnist1d_data)  # same arrays, val carved with the same fixed seed


@pytest.mark.parametrize("damage", ["garbage", "truncated zip"])
def test_mnist1d_corrupt_cache_is_rebuilt(tmp_path: Path, mnist1d_cache: Path,
                                          mnist1d_data: TaskData, damage: str) -> None:
    good = next(mnist1d_cache.glob("mnist1d-*.npz"))
    bad = tmp_path / good.name
    bad.write_bytes(b"not an npz" if damage == "garbage" else good.read_bytes()[:5000])
    assert_same_data(Mnist1dTask().load(tmp_path), mnist1d_data)
    assert bad.stat().st_size == good.stat().st_size


def test_mnist1d_spec_records_the_published_baselines() -> None:
    spec = Mnist1dTask().spec
    assert spec.input_shape == (1, 40) and spec.num_classes == 10
    published = {b.name: b.test_accuracy for b in spec.baselines}
    assert published == {"logistic": 0.32, "mlp": 0.68, "cnn": 0.94, "gru": 0.91}
    assert all("Greydanus" in b.source for b in spec.baselines)
    assert spec.metric.higher_is_better


# --------------------------------------------------------------------------- digits


def test_digits_has_stratified_60_20_20_split_of_8x8_images(tmp_path: Path) -> None:
    task = DigitsTask()
    d = task.load(tmp_path)
    assert task.spec.input_shape == (1, 8, 8) and task.spec.num_classes == 10
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (1079, 359, 359)
    for x in (d.x_train, d.x_val, d.x_test):
        assert x.shape[1:] == (1, 8, 8) and x.dtype == np.float32
        assert x.min() >= 0.0 and x.max() <= 1.0
    for y in (d.y_val, d.y_test):
        assert y.dtype == np.int64 and np.bincount(y, minlength=10).min() >= 34
    assert_same_data(d, DigitsTask().load(tmp_path))


def test_stratified_split_is_seeded_and_keeps_class_shares() -> None:
    y = np.repeat(np.arange(4), [40, 30, 20, 10])
    keep, held = stratified_split(y, 10, seed=3)
    assert np.bincount(y[held]).tolist() == [4, 3, 2, 1]
    assert np.array_equal(np.sort(np.concatenate([keep, held])), np.arange(100))
    again_keep, again_held = stratified_split(y, 10, seed=3)
    assert np.array_equal(held, again_held) and np.array_equal(keep, again_keep)
    assert not np.array_equal(held, stratified_split(y, 10, seed=4)[1])


# --------------------------------------------------------------------------- npz


def valid_arrays(with_val: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.normal(size=(40, 3, 4)), "y_train": np.arange(40) % 4,
        "x_test": rng.normal(size=(12, 3, 4)), "y_test": np.arange(12) % 4,
    }
    if with_val:
        arrays |= {"x_val": rng.normal(size=(8, 3, 4)), "y_val": np.arange(8) % 4}
    return arrays


def write_npz(path: Path, arrays: dict[str, Any]) -> Path:
    np.savez(path, **arrays)
    return path


def test_npz_task_reads_a_valid_file(tmp_path: Path) -> None:
    arrays = valid_arrays()
    task = NpzTask(write_npz(tmp_path / "my_task.npz", arrays))
    assert task.spec.name == "my_task"
    assert task.spec.input_shape == (3, 4)
    assert task.spec.num_classes == 4  # the training classes 0..3
    d = task.load(tmp_path)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    np.testing.assert_allclose(d.x_val, arrays["x_val"].astype(np.float32))
    assert np.array_equal(d.y_test, arrays["y_test"])


def test_npz_task_without_val_carves_it_from_train_with_a_fixed_seed(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "noval.npz", valid_arrays(with_val=False))
    first, second = NpzTask(path).load(tmp_path), NpzTask(path).load(tmp_path)
    assert (len(first.y_train), len(first.y_val)) == (36, 4)  # 10 % of 40
    assert np.bincount(first.y_val).tolist() == [1, 1, 1, 1]
    assert_same_data(first, second)


def test_npz_task_accepts_integer_valued_float_labels_and_int_inputs(tmp_path: Path) -> None:
    arrays = valid_arrays()
    arrays["y_train"] = arrays["y_train"].astype(np.float64)
    arrays["x_train"] = np.ones((40, 3, 4), dtype=np.int16)
    d = NpzTask(write_npz(tmp_path / "t.npz", arrays)).load(tmp_path)
    assert d.y_train.dtype == np.int64 and d.x_train.dtype == np.float32


def _with(**changes: Any) -> Callable[[Path], Path]:
    """A builder writing the valid arrays with `changes` (None deletes a key)."""
    def build(path: Path) -> Path:
        arrays: dict[str, Any] = valid_arrays()
        for key, value in changes.items():
            if value is None:
                arrays.pop(key)
            else:
                arrays[key] = value
        return write_npz(path, arrays)
    return build


def _raw_bytes(data: bytes) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        path.write_bytes(data)
        return path
    return build


def _npy_array(path: Path) -> Path:
    with path.open("wb") as f:
        np.save(f, np.zeros(3))
    return path


def _truncated_zip(path: Path) -> Path:
    write_npz(path, valid_arrays())
    path.write_bytes(path.read_bytes()[:200])
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


MALFORMED: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing file": (lambda p: p, "no such file"),
    "a directory": (_directory, "not a file"),
    "not a zip": (_raw_bytes(b"this is not an npz archive"), "not a valid .npz"),
    "truncated zip": (_truncated_zip, "not a valid .npz"),
    "a single .npy array": (_npy_array, "single array"),
    "missing key": (_with(y_test=None), "missing keys ['y_test']"),
    "unexpected key": (_with(x_valid=np.zeros((2, 3, 4))), "unexpected keys ['x_valid']"),
    "x_val without y_val": (_with(y_val=None), "has x_val but not y_val"),
    "y_val without x_val": (_with(x_val=None), "has y_val but not x_val"),
    "mismatched lengths": (_with(y_train=np.arange(39) % 4), "x_train has 40 rows but y_train has 39"),
    "non-integer labels": (_with(y_train=np.linspace(0, 3, 40)), "non-integer labels"),
    "NaN labels": (_with(y_val=np.array([0, 1, 2, 3, 0, 1, 2, np.nan])), "non-integer labels"),
    "negative labels": (_with(y_test=np.arange(12) - 1), "negative labels"),
    "one class only": (_with(y_train=np.zeros(40, dtype=int)), "fewer than 2 classes"),
    "inconsistent shapes": (_with(x_test=np.zeros((12, 3, 5))), "input shapes differ"),
    "NaN inputs": (_with(x_val=np.full((8, 3, 4), np.nan)), "non-finite"),
    "inf inputs": (_with(x_train=np.full((40, 3, 4), np.inf)), "non-finite"),
    "overflow to float32": (_with(x_test=np.full((12, 3, 4), 1e300)), "too large for float32"),
    "object array": (_with(x_train=np.array([[1.0], "a"] * 20, dtype=object)), "object arrays"),
    "string inputs": (_with(x_train=np.full((40, 3), "a")), "expected real numbers"),
    "complex inputs": (_with(x_train=np.ones((40, 3, 4), dtype=complex)), "expected real numbers"),
    "empty split": (_with(x_test=np.zeros((0, 3, 4)), y_test=np.zeros(0, dtype=int)),
                    "test split is empty"),
    "flat inputs": (_with(x_train=np.zeros(40), x_val=np.zeros(8), x_test=np.zeros(12)),
                    "at least one axis"),
    "2-D labels": (_with(y_train=(np.arange(40) % 4)[:, None]), "one label per example"),
    "string labels": (_with(y_train=np.array(["a", "b"] * 20)), "integer class indices"),
    "huge label": (_with(y_test=np.full(12, 10**9)), "fewer than 100000 classes"),
    "zero-width inputs": (_with(x_train=np.zeros((40, 0)), x_val=np.zeros((8, 0)), x_test=np.zeros((12, 0))),
                          "x_train has shape (40, 0): each example holds no values"),
    "a zero-width inner axis": (_with(x_val=np.zeros((8, 3, 0))), "x_val has shape (8, 3, 0)"),
    "test class unseen in training": (_with(y_test=np.arange(12) % 5), "y_test has labels 4 that y_train never uses"),
    "val class unseen in training": (_with(y_val=np.array([0, 1, 2, 3, 0, 1, 2, 7])),
                                     "y_val has labels 7 that y_train never uses"),
    "a stray label of 99999": (_with(y_train=np.where(np.arange(40) == 5, 99999, np.arange(40) % 4)),
                               "largest label 99999 makes 100000 classes"),
    "labels counted from 1": (_with(y_train=np.arange(40) % 4 + 1, y_val=np.arange(8) % 4 + 1,
                                    y_test=np.arange(12) % 4 + 1), "labels counted from 1"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_npz_raises_task_error_naming_file_and_problem(tmp_path: Path,
                                                                 case: str) -> None:
    build, expected = MALFORMED[case]
    path = build(tmp_path / "bad.npz")
    with pytest.raises(TaskError) as info:
        NpzTask(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message


# --------------------------------------------------------------------------- registry


def test_get_task_knows_the_builtin_names() -> None:
    assert set(TASK_NAMES) == {"mnist1d", "digits", "nb201-cifar10", "nb201-cifar100", "nb201-imagenet16",
                               "macro-cifar10", "mqar-easy", "mqar", "mqar-hard", "stdlib-chars"}
    assert isinstance(get_task("mnist1d"), Mnist1dTask)
    assert isinstance(get_task("digits"), DigitsTask)


def test_get_task_reads_npz_paths(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "user.npz", valid_arrays())
    task = get_task(str(path))
    assert isinstance(task, NpzTask) and task.spec.name == "user"
    with pytest.raises(TaskError, match="no such file"):
        get_task(str(tmp_path / "absent.npz"))


def test_get_task_rejects_unknown_names_listing_the_known_ones() -> None:
    with pytest.raises(TaskError) as info:
        get_task("cifar10")
    message = str(info.value)
    assert "cifar10" in message and "mnist1d" in message and "digits" in message
    assert ".npz" in message


# --------------------------------------------------------------------------- examples

EXAMPLES: dict[str, Task] = {
    "mnist1d_logistic": Mnist1dTask(), "mnist1d_mlp": Mnist1dTask(),
    "mnist1d_cnn": Mnist1dTask(), "mnist1d_gru": Mnist1dTask(),
    "digits_mlp": DigitsTask(), "digits_cnn": DigitsTask(),
}


def example(name: str) -> ModuleType:
    return load_module(shipped_dir("examples") / f"{name}.py", f"example_{name}")


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_builds_and_gives_logits_for_its_task(name: str, tmp_path: Path) -> None:
    spec = EXAMPLES[name].spec
    torch.manual_seed(0)
    model = example(name).build_model(spec.input_shape, spec.num_classes)
    x = torch.randn(5, *spec.input_shape)
    assert model(x).shape == (5, spec.num_classes)
    model.eval()
    torch.onnx.export(model, (x,), str(tmp_path / f"{name}.onnx"), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    onnx.checker.check_model(onnx.load(str(tmp_path / f"{name}.onnx")))


@pytest.mark.parametrize("name", ["mnist1d_logistic", "mnist1d_mlp", "mnist1d_cnn", "mnist1d_gru"])
def test_mnist1d_examples_follow_the_given_input_shape(name: str) -> None:
    model = example(name).build_model((2, 64), 7)
    assert model(torch.randn(3, 2, 64)).shape == (3, 7)


# The CNN trains for half a minute: slow; test_example_builds_and_gives_logits_for_its_task[digits_cnn]
# builds it, and the MLP here shows the recipe learns digits.
@pytest.mark.parametrize("name", ["digits_mlp", pytest.param("digits_cnn", marks=pytest.mark.slow)])
def test_digits_examples_learn_digits_with_the_task_recipe(name: str, tmp_path: Path,
                                                           trainer: ModuleType) -> None:
    task = DigitsTask()
    d = task.load(tmp_path)
    recipe = task.spec.recipe
    torch.manual_seed(recipe.seed)
    model = example(name).build_model(task.spec.input_shape, task.spec.num_classes)
    trainer.train(model, d.x_train, d.y_train, recipe.model_dump())
    logits = trainer.predict(model, d.x_val, recipe.eval_batch_size)
    assert logits.shape == (len(d.y_val), 10)
    assert float(np.mean(logits.argmax(1) == d.y_val)) > 0.85
