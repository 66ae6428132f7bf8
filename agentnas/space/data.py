"""Loaders for the published benchmark tables (NAS-Bench-201, NAS-Bench-Macro).

The tables live outside the repository, in `shared/data/` beside the checkout
(see that folder's README); they are read in place, never copied. Where to look, in
order: the `data_dir` argument, the AGENTNAS_BENCH_DATA environment variable, then the
checkout's parent's `shared/data`.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agentnas import paths

BENCH_DATA_ENV = "AGENTNAS_BENCH_DATA"
Nb201Dataset = Literal["cifar10", "cifar100", "imagenet16"]
_NB201_FILES: dict[str, str] = {
    "cifar10": "nasbench201/nasbench201_cifar10.json",
    "cifar100": "nasbench201/nasbench201_cifar100.json",
    "imagenet16": "nasbench201/nasbench201_imagenet.json",  # ImageNet16-120
}
_MACRO_FILE = "nasbench_macro/nas-bench-macro_cifar10.json"


class Nb201Record(BaseModel):
    """One NAS-Bench-201 cell on one dataset; accuracies in percent after 200 epochs."""

    model_config = ConfigDict(frozen=True)

    arch: str
    val_acc_200: float
    test_acc_200: float
    rank: int  # 1 is the best by test accuracy


class MacroRecord(BaseModel):
    """One NAS-Bench-Macro network on CIFAR-10; accuracies in percent."""

    model_config = ConfigDict(frozen=True)

    code: str
    test_acc: tuple[float, ...]  # one per independent training run (3)
    mean_acc: float
    std: float
    params: int
    flops: int  # multiply-adds of convs and the linear layer on a 1x3x32x32 input


def bench_data_dir(data_dir: str | Path | None = None) -> Path:
    """The folder holding `nasbench201/` and `nasbench_macro/`; FileNotFoundError names where it looked."""
    if data_dir is not None:
        candidate, origin = Path(data_dir), "the data_dir argument"
    elif os.environ.get(BENCH_DATA_ENV):
        candidate, origin = Path(os.environ[BENCH_DATA_ENV]), f"${BENCH_DATA_ENV}"
    else:
        # paths.py sits in <checkout>/agentnas/; the shared data sits beside the checkout
        candidate, origin = Path(paths.__file__).resolve().parent.parent.parent / "shared" / "data", "the default"
    candidate = candidate.expanduser().resolve()
    if not candidate.is_dir():
        raise FileNotFoundError(
            f"benchmark data folder {candidate} (from {origin}) does not exist; pass data_dir or set "
            f"{BENCH_DATA_ENV} to the folder holding nasbench201/ and nasbench_macro/"
        )
    return candidate


def _table_file(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.is_file():
        raise FileNotFoundError(f"benchmark table {path} not found (looked in {root})")
    return path


def load_nb201(dataset: Nb201Dataset, data_dir: str | Path | None = None) -> dict[str, Nb201Record]:
    """NAS-Bench-201 results on `dataset`, keyed by architecture string."""
    if dataset not in _NB201_FILES:
        raise ValueError(f"unknown NB201 dataset {dataset!r}; expected one of {', '.join(_NB201_FILES)}")
    path = _table_file(bench_data_dir(data_dir), _NB201_FILES[dataset])
    return dict(_read_nb201(path))  # a copy: the cached table stays as read


def load_macro(data_dir: str | Path | None = None) -> dict[str, MacroRecord]:
    """NAS-Bench-Macro results, keyed by the 8-digit code."""
    path = _table_file(bench_data_dir(data_dir), _MACRO_FILE)
    return dict(_read_macro(path))


# Cached on the resolved file path, so the argument, the env var and the default share one parse.
@functools.cache
def _read_nb201(path: Path) -> dict[str, Nb201Record]:
    raw = json.loads(path.read_text())
    return {arch: Nb201Record(arch=arch, **row) for arch, row in raw.items()}


@functools.cache
def _read_macro(path: Path) -> dict[str, MacroRecord]:
    raw = json.loads(path.read_text())
    return {code: MacroRecord(code=code, **row) for code, row in raw.items()}
