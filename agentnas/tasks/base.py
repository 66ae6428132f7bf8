"""A task: data splits, input/output spec, the fixed training recipe and the metric.

The recipe is fixed by the task, not by the candidate: every architecture is trained
the same way, so scores compare fairly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agentnas.records import Metric


class Recipe(BaseModel):
    """The fixed training recipe. It crosses into the sandbox as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    schedule: Literal["constant", "cosine"] = "constant"
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    seed: int = 0
    eval_batch_size: int = Field(default=1000, gt=0)

    def with_epochs(self, epochs: int | None) -> Recipe:
        """The same recipe with another length (the `--epochs` override)."""
        return self if epochs is None else self.model_copy(update={"epochs": epochs})

    def with_seed(self, seed: int | None) -> Recipe:
        """The same recipe with another seed (the `--seed` override, for seed-to-seed spread)."""
        return self if seed is None else self.model_copy(update={"seed": seed})


class Baseline(BaseModel):
    """A published reference result for the task (test metric, as a fraction)."""

    model_config = ConfigDict(frozen=True)

    name: str
    test_accuracy: float
    source: str


class TaskSpec(BaseModel):
    """Everything about a task except its data."""

    model_config = ConfigDict(frozen=True)

    name: str
    input_shape: tuple[int, ...]
    num_classes: int = Field(gt=1)
    recipe: Recipe
    metric: Metric = Metric()
    baselines: tuple[Baseline, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class TaskData:
    """The splits. Labels of val and test never leave the trusted side."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class Task(ABC):
    """A task: `spec` says what it is, `load` makes (or reads from cache) its data."""

    spec: TaskSpec

    @abstractmethod
    def load(self, cache_dir: Path) -> TaskData:
        """Return the splits, generating and caching them under `cache_dir` if needed.

        Must be deterministic: the same task gives the same arrays on every call.
        """


class TaskError(ValueError):
    """A task cannot be found or its data is malformed; the message says how to fix it."""
