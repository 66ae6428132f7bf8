"""A user's classification task from one `.npz` file.

The file holds `x_train, y_train, x_test, y_test` and optionally `x_val, y_val`
(both or neither). Everything is validated when the task is built, so a malformed
file fails at once with a message naming the file and the problem, not minutes
later inside the sandbox.

Labels are class indices. The classes are the training labels: C = max(y_train) + 1,
and every class 0..C-1 must have a training example (a class nobody can learn from is a
mislabelled file: labels counted from 1, a stray 99999). Validation and test labels must
be classes of training, so a score never counts a class the model could not learn.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from agentnas.tasks.base import Recipe, Task, TaskData, TaskError, TaskSpec
from agentnas.tasks.splits import stratified_split

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL_KEYS = ("x_val", "y_val")
SPLITS = ("train", "val", "test")

# Without a val split, this share of train (stratified, fixed seed) becomes val.
VAL_FRACTION = 0.1
VAL_SEED = 0

# A safe default for an unknown dataset: Adam at its usual rate, annealed, long enough
# for small models to converge on a few thousand examples. Config may override it.
DEFAULT_RECIPE = Recipe(optimizer="adam", lr=1e-3, schedule="cosine", epochs=30,
                        batch_size=64, seed=0)

# num_classes is max label + 1, so a stray huge label would make an absurd output layer.
MAX_CLASSES = 100_000

# What np.load and NpzFile.__getitem__ raise for a file that is not a readable npz.
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


class NpzTask(Task):
    """A task read and validated from `path`; its name is the file's stem."""

    def __init__(self, path: str | Path, recipe: Recipe | None = None) -> None:
        self.path = Path(path)
        self._data, num_classes = _read_and_validate(self.path)
        d = self._data
        self.spec = TaskSpec(
            name=self.path.stem,
            input_shape=tuple(int(s) for s in d.x_train.shape[1:]),
            num_classes=num_classes,
            recipe=recipe or DEFAULT_RECIPE,
            description=(f"User task from {self.path.name}: {len(d.y_train)} train / "
                         f"{len(d.y_val)} val / {len(d.y_test)} test, "
                         f"input {tuple(d.x_train.shape[1:])}, {num_classes} classes."),
        )

    def load(self, cache_dir: Path) -> TaskData:
        # The file is the cache; it was read and checked once, at construction.
        return self._data


def _fail(path: Path, problem: str) -> TaskError:
    return TaskError(f"{path}: {problem}")


def _read_and_validate(path: Path) -> tuple[TaskData, int]:
    """The task's data and its number of classes (of the file's y_train, before any val is carved)."""
    arrays = _read_arrays(path)
    has_val = "x_val" in arrays
    splits = SPLITS if has_val else ("train", "test")
    for split in splits:
        _check_split(path, split, arrays[f"x_{split}"], arrays[f"y_{split}"])

    shapes = {s: arrays[f"x_{s}"].shape[1:] for s in splits}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"x_{s} {shape}" for s, shape in shapes.items())
        raise _fail(path, f"input shapes differ across splits ({listed}); every split must "
                          "have the same shape after the first (batch) axis")

    x = {s: arrays[f"x_{s}"].astype(np.float32) for s in splits}
    y = {s: arrays[f"y_{s}"].astype(np.int64) for s in splits}
    for s in splits:
        if not np.isfinite(x[s]).all():  # finite in float64 can overflow to inf in float32
            raise _fail(path, f"x_{s} has values too large for float32")
    if len(np.unique(y["train"])) < 2:
        raise _fail(path, f"y_train has fewer than 2 classes (labels: {np.unique(y['train'])}); "
                          "classification needs at least 2")
    _check_classes(path, y, splits)
    num_classes = int(y["train"].max()) + 1

    if not has_val:
        n_train = len(y["train"])
        if n_train < 2:
            raise _fail(path, "no x_val/y_val given and y_train has fewer than 2 examples, "
                              "too few to carve a validation split from")
        n_val = max(1, round(n_train * VAL_FRACTION))
        keep, held = stratified_split(y["train"], n_val, VAL_SEED)
        x["val"], y["val"] = x["train"][held], y["train"][held]
        x["train"], y["train"] = x["train"][keep], y["train"][keep]

    return TaskData(x_train=x["train"], y_train=y["train"], x_val=x["val"], y_val=y["val"],
                    x_test=x["test"], y_test=y["test"]), num_classes


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every expected array of the file, or TaskError saying what is wrong with it."""
    if not path.exists():
        raise _fail(path, "no such file")
    if not path.is_file():
        raise _fail(path, "not a file")
    try:
        # allow_pickle=False: a task file must never run code when read.
        loaded = np.load(path, allow_pickle=False)
    except _READ_ERRORS as e:
        raise _fail(path, f"not a valid .npz file ({e})") from e
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise _fail(path, "holds a single array (.npy), expected an .npz archive made with "
                          "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
    with loaded as z:
        keys = set(z.files)
        missing = [k for k in REQUIRED_KEYS if k not in keys]
        unknown = sorted(keys - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unknown:
                parts.append(f"unexpected keys {unknown}")
            raise _fail(path, "; ".join(parts) + f" (found {sorted(keys)}; expected "
                        f"{list(REQUIRED_KEYS)} and optionally {list(OPTIONAL_KEYS)})")
        if ("x_val" in keys) != ("y_val" in keys):
            given, absent = ("x_val", "y_val") if "x_val" in keys else ("y_val", "x_val")
            raise _fail(path, f"has {given} but not {absent}; give both or neither "
                              "(without them, val is carved from train)")
        arrays: dict[str, np.ndarray] = {}
        for key in sorted(keys):
            try:
                arrays[key] = z[key]
            except _READ_ERRORS as e:
                hint = (" (object arrays are refused: store plain numeric arrays)"
                        if "pickle" in str(e).lower() or "object" in str(e).lower() else "")
                raise _fail(path, f"cannot read {key}: {e}{hint}") from e
    return arrays


def _check_split(path: Path, split: str, x: np.ndarray, y: np.ndarray) -> None:
    """Shape, dtype and value checks of one split's inputs and labels."""
    xk, yk = f"x_{split}", f"y_{split}"
    if x.dtype == object or y.dtype == object:
        raise _fail(path, f"{xk}/{yk} are object arrays; store plain numeric arrays")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) \
            or np.issubdtype(x.dtype, np.complexfloating):
        raise _fail(path, f"{xk} has dtype {x.dtype}; expected real numbers")
    if x.ndim < 2:
        raise _fail(path, f"{xk} has shape {x.shape}; expected (N, *input_shape) with at "
                          "least one axis after the batch axis")
    if y.ndim != 1:
        raise _fail(path, f"{yk} has shape {y.shape}; expected one label per example, (N,)")
    if len(x) == 0:
        raise _fail(path, f"the {split} split is empty ({xk} has 0 rows)")
    if 0 in x.shape[1:]:
        raise _fail(path, f"{xk} has shape {x.shape}: each example holds no values; every axis after the "
                          "batch axis must be at least 1 wide")
    if len(x) != len(y):
        raise _fail(path, f"{xk} has {len(x)} rows but {yk} has {len(y)}; they must match")
    if not np.isfinite(x).all():
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise _fail(path, f"{xk} has {bad} non-finite values (NaN or inf)")
    if np.issubdtype(y.dtype, np.floating):
        if not (np.isfinite(y).all() and (y == np.round(y)).all()):
            raise _fail(path, f"{yk} has non-integer labels; labels must be class indices "
                              "0..num_classes-1")
    elif not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        raise _fail(path, f"{yk} has dtype {y.dtype}; labels must be integer class indices")
    if (y < 0).any():
        raise _fail(path, f"{yk} has negative labels (min {y.min()}); labels must be class "
                          "indices 0..num_classes-1")
    if len(y) and y.max() >= MAX_CLASSES:
        raise _fail(path, f"{yk} has label {y.max()}; labels must be class indices "
                          f"0..num_classes-1 with fewer than {MAX_CLASSES} classes")


def _check_classes(path: Path, y: dict[str, np.ndarray], splits: tuple[str, ...]) -> None:
    """Training labels cover 0..C-1; val and test use only training classes (module docstring)."""
    present = np.unique(y["train"])
    n = int(present[-1]) + 1
    if len(present) < n:
        absent = np.setdiff1d(np.arange(n), present)
        shown = ", ".join(str(int(c)) for c in absent[:8]) + (f", … ({len(absent)} in all)" if len(absent) > 8 else "")
        hint = " (labels counted from 1? subtract 1)" if absent.tolist() == [0] else ""
        raise _fail(path, f"y_train's largest label {n - 1} makes {n} classes, but classes {shown} have no "
                          f"training example{hint}; labels must be class indices 0..C-1, each in y_train")
    for split in splits[1:]:
        unseen = np.setdiff1d(np.unique(y[split]), present)
        if len(unseen):
            shown = ", ".join(str(int(c)) for c in unseen[:8]) + (f", … ({len(unseen)} in all)"
                                                                  if len(unseen) > 8 else "")
            raise _fail(path, f"y_{split} has labels {shown} that y_train never uses; a model cannot learn a "
                              f"class it never sees (training classes: 0..{n - 1})")
