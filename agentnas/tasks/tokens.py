"""Causal token modelling: shared pieces (windows, recipe, sizes) and the user's own token files.

A token task's rows are sequences of T tokens; the target of position t is the token
that follows it, IGNORE where a position is not scored (mqar scores only its answers).
The metric is the validation loss per scored token (lower is better), with next-token
accuracy beside it; both are computed on the trusted side (agentnas/evaluator/tokens.py).

User files (`--task FILE`):

- `.npz` with `tokens_train`, `tokens_test` and optionally `tokens_val`: either 1-D token
  streams (cut into windows of `seq_len` + 1 tokens, every position scored) or 2-D rows
  (N, seq_len + 1), with optional boolean `loss_mask_<split>` (N, seq_len) saying which
  positions are scored. Optional 0-d `vocab_size` and `seq_len` (default: max token + 1, 128).
- `.bin`: a raw token stream in the nanoGPT layout, `train.bin` beside `val.bin` and
  `test.bin` (either optional), uint16 unless a `meta.json` beside them says
  {"dtype": "uint8" | "uint16" | "uint32", "vocab_size": V, "seq_len": T}.

A missing validation (or test) split is carved from the end of the training stream
(or the last training rows): 5 % each, never overlapping.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from agentnas.records import LOSS
from agentnas.tasks.base import IGNORE, Recipe, Task, TaskData, TaskError, TaskSpec

DEFAULT_SEQ_LEN = 128
# The evaluated logits cross the sandbox boundary as float32 (rows x scored positions x V),
# twice (each sequence and its causality twin): this many per split keeps that under 64 MB.
MAX_EVAL_LOGITS = 1 << 24
MAX_EVAL_ROWS = 256
MAX_VOCAB = 1 << 17
CARVE_FRACTION = 0.05
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def token_recipe(seq_len: int, vocab: int, **fields: object) -> Recipe:
    """A token task's recipe; the eval batch keeps one batch's logits near 32 MB."""
    eval_batch = max(1, min(64, (1 << 23) // max(1, seq_len * vocab)))
    return Recipe.model_validate({"optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.1,
                                  "schedule": "cosine", "epochs": 1, "batch_size": 32, "seed": 0,
                                  "eval_batch_size": eval_batch, **fields})


def token_spec(name: str, seq_len: int, vocab: int, recipe: Recipe, description: str) -> TaskSpec:
    return TaskSpec(name=name, kind="causal_lm", input_shape=(seq_len,), num_classes=vocab, recipe=recipe,
                    metric=LOSS, description=description)


def windows(stream: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of a stream: inputs (N, T) and their next tokens (N, T)."""
    n = (len(stream) - 1) // seq_len
    if n < 1:
        return np.zeros((0, seq_len), np.int64), np.zeros((0, seq_len), np.int64)
    s = np.asarray(stream, np.int64)
    x = s[: n * seq_len].reshape(n, seq_len)                  # (N, T)
    y = s[1: n * seq_len + 1].reshape(n, seq_len)             # (N, T): the token after each
    return x, y


def eval_rows_cap(seq_len: int, vocab: int) -> int:
    """How many evaluation sequences a split keeps (all positions scored), within the logits budget."""
    return max(8, min(MAX_EVAL_ROWS, MAX_EVAL_LOGITS // max(1, seq_len * vocab)))


def spread(x: np.ndarray, y: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `cap` rows, evenly spaced over the split, so a capped split still covers all of it."""
    if len(x) <= cap:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, cap).round().astype(np.int64))
    return x[idx], y[idx]


class TokenFileTask(Task):
    """A causal token task read and validated from a user's `.npz` or `.bin` file (module docstring)."""

    def __init__(self, path: str | Path, recipe: Recipe | None = None) -> None:
        self.path = Path(path)
        self._data, vocab, seq_len = _read(self.path)
        d = self._data
        self.spec = token_spec(
            self.path.stem if self.path.suffix == ".npz" else self.path.parent.name or "tokens", seq_len, vocab,
            recipe or token_recipe(seq_len, vocab),
            f"User token task from {self.path.name}: {len(d.x_train)} train / {len(d.x_val)} val / "
            f"{len(d.x_test)} test sequences of {seq_len} tokens, vocabulary {vocab}; metric: loss per token.")

    def load(self, cache_dir: Path) -> TaskData:
        return self._data


def _fail(path: Path, problem: str) -> TaskError:
    return TaskError(f"{path}: {problem}")


def _read(path: Path) -> tuple[TaskData, int, int]:
    if not path.exists():
        raise _fail(path, "no such file")
    if not path.is_file():
        raise _fail(path, "not a file")
    if path.suffix.lower() == ".bin":
        splits, vocab, seq_len = _read_bin(path)
        masks: dict[str, np.ndarray] = {}
    else:
        splits, masks, vocab, seq_len = _read_npz(path)
    return _assemble(path, splits, masks, vocab, seq_len)


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int | None, int]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except _READ_ERRORS as e:
        raise _fail(path, f"not a readable .npz file ({e})") from e
    for key in ("tokens_train", "tokens_test"):
        if key not in arrays:
            raise _fail(path, f"missing {key} (found {sorted(arrays)}; a token file holds tokens_train, "
                              "tokens_test and optionally tokens_val, vocab_size, seq_len, loss_mask_<split>)")
    known = {f"{p}_{s}" for p in ("tokens", "loss_mask") for s in ("train", "val", "test")} | {"vocab_size", "seq_len"}
    if unknown := sorted(set(arrays) - known):
        raise _fail(path, f"unexpected keys {unknown}; expected {sorted(known)}")
    seq_len = _scalar(path, arrays, "seq_len", DEFAULT_SEQ_LEN) or DEFAULT_SEQ_LEN
    vocab = _scalar(path, arrays, "vocab_size", None)
    splits = {s: arrays[f"tokens_{s}"] for s in ("train", "val", "test") if f"tokens_{s}" in arrays}
    masks = {s: arrays[f"loss_mask_{s}"] for s in ("train", "val", "test") if f"loss_mask_{s}" in arrays}
    return splits, masks, vocab, seq_len


def _scalar(path: Path, arrays: dict[str, np.ndarray], key: str, default: int | None) -> int | None:
    if key not in arrays:
        return default
    v = arrays[key]
    if v.shape != () or not np.issubdtype(v.dtype, np.integer) or int(v) < 2:
        raise _fail(path, f"{key} must be a single integer >= 2, got {v!r}")
    return int(v)


def _read_bin(path: Path) -> tuple[dict[str, np.ndarray], int | None, int]:
    folder = path.parent
    meta: dict[str, object] = {}
    if (folder / "meta.json").is_file():
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise _fail(folder / "meta.json", f"not valid JSON ({e})") from e
        if not isinstance(meta, dict):
            raise _fail(folder / "meta.json", "must hold a JSON object")
    dtype = str(meta.get("dtype", "uint16"))
    if dtype not in ("uint8", "uint16", "uint32"):
        raise _fail(folder / "meta.json", f"dtype {dtype!r}; expected uint8, uint16 or uint32")
    splits = {}
    for split, name in (("train", path.name), ("val", "val.bin"), ("test", "test.bin")):
        f = folder / name
        if f.is_file():
            raw = f.read_bytes()
            if len(raw) % np.dtype(dtype).itemsize:
                raise _fail(f, f"{len(raw)} bytes is not a whole number of {dtype} tokens")
            splits[split] = np.frombuffer(raw, dtype=dtype)
    checked: dict[str, int | None] = {}
    for key, v in (("seq_len", meta.get("seq_len", DEFAULT_SEQ_LEN)), ("vocab_size", meta.get("vocab_size"))):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 2):
            raise _fail(folder / "meta.json", f"{key} must be an integer >= 2, got {v!r}")
        checked[key] = v
    return splits, checked["vocab_size"], checked["seq_len"] or DEFAULT_SEQ_LEN


def _assemble(path: Path, splits: dict[str, np.ndarray], masks: dict[str, np.ndarray], vocab: int | None,
              seq_len: int) -> tuple[TaskData, int, int]:
    for split, a in splits.items():
        if not np.issubdtype(a.dtype, np.integer):
            raise _fail(path, f"tokens_{split} has dtype {a.dtype}; tokens are integers")
        if a.ndim not in (1, 2) or a.size == 0:
            raise _fail(path, f"tokens_{split} has shape {a.shape}; expected a 1-D stream or 2-D rows (N, T + 1)")
        if a.ndim == 2 and a.shape[1] != seq_len + 1:
            raise _fail(path, f"tokens_{split} rows hold {a.shape[1]} tokens; with seq_len {seq_len} each row "
                              f"needs {seq_len + 1} (inputs plus the last target)")
        if a.min() < 0:
            raise _fail(path, f"tokens_{split} has negative tokens (min {a.min()})")
    if len({a.ndim for a in splits.values()}) > 1:
        raise _fail(path, "mix of 1-D streams and 2-D rows; give every split the same layout")
    top = max(int(a.max()) for a in splits.values()) + 1
    vocab = vocab or top
    if top > vocab:
        raise _fail(path, f"token {top - 1} is outside the vocabulary of {vocab}")
    if vocab > MAX_VOCAB:
        raise _fail(path, f"vocabulary {vocab} exceeds {MAX_VOCAB}: the evaluated logits would not fit")
    rows = {s: _rows(path, s, a, masks.get(s), seq_len) for s, a in splits.items()}
    rows = _carve(path, rows)
    cap = eval_rows_cap(seq_len, vocab)
    x_val, y_val = spread(*rows["val"], cap)
    x_test, y_test = spread(*rows["test"], cap)
    x_train, y_train = rows["train"]
    if not len(x_train):
        raise _fail(path, f"the training split is shorter than one sequence of {seq_len + 1} tokens")
    return TaskData(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test,
                    y_test=y_test), vocab, seq_len


def _rows(path: Path, split: str, a: np.ndarray, mask: np.ndarray | None,
          seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    if a.ndim == 1:
        if mask is not None:
            raise _fail(path, f"loss_mask_{split} needs 2-D tokens_{split} rows")
        return windows(a, seq_len)
    rows = np.asarray(a, np.int64)
    x, y = rows[:, :-1].copy(), rows[:, 1:].copy()
    if mask is not None:
        if mask.shape != x.shape or mask.dtype != np.bool_:
            raise _fail(path, f"loss_mask_{split} must be booleans of shape {x.shape}, got {mask.dtype} {mask.shape}")
        y[~mask] = IGNORE
    return x, y


def _carve(path: Path, rows: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Carve the missing val/test splits from the end of train (the stream's tail: no overlap)."""
    x, y = rows["train"]
    for split in ("val", "test"):
        if split in rows:
            continue
        n = max(1, math.ceil(len(x) * CARVE_FRACTION))
        if len(x) - n < 1:
            raise _fail(path, f"no {split} split given and too little training data to carve one from")
        rows[split] = (x[-n:], y[-n:])
        x, y = x[:-n], y[:-n]
    rows["train"] = (x, y)
    for split, (_xs, ys) in rows.items():
        if not (ys != IGNORE).any():
            raise _fail(path, f"the {split} split has no scored position")
    return rows
