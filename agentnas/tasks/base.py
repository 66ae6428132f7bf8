"""A task: its kind, data splits, input/output spec, the fixed training recipe and the metric.

The recipe is fixed by the task, not by the candidate: every architecture is trained
the same way, so scores compare fairly. The kind fixes the candidate's contract (what
`build_model` takes and what the model maps to what), `CONTRACTS` says it in words.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agentnas.records import Metric

TaskKind = Literal["classification", "causal_lm"]

# Token targets that are not scored (the loss ignores them): cross_entropy's ignore_index.
IGNORE = -100


class Contract(BaseModel):
    """What a candidate of one task kind must provide, in words (shown by `agentnas tasks`)."""

    model_config = ConfigDict(frozen=True)

    kind: TaskKind
    signature: str
    input: str
    output: str
    rules: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [f"def {self.signature}", f"  input:  {self.input}", f"  output: {self.output}"]
        return "\n".join(lines + [f"  - {r}" for r in self.rules])


CONTRACTS: dict[str, Contract] = {
    "classification": Contract(
        kind="classification",
        signature="build_model(input_shape: tuple[int, ...], num_classes: int) -> torch.nn.Module",
        input="x: float32 tensor (B, *input_shape)",
        output="logits: float tensor (B, num_classes)",
        rules=("the task fixes the optimizer, schedule, steps and batch size; the model is the architecture only",),
    ),
    "causal_lm": Contract(
        kind="causal_lm",
        signature="build_model(vocab_size: int, seq_len: int) -> torch.nn.Module",
        input="tokens: int64 tensor (B, T), T == seq_len, values in [0, vocab_size)",
        output="logits: float tensor (B, T, vocab_size); logits[:, t] predict token t + 1",
        rules=(
            "causal: the logits at position t may depend on tokens[:, :t + 1] only; the evaluator checks it "
            "(changing later tokens must not change them) and fails a model that looks ahead as non_causal",
            "deterministic in eval mode: the logits of a sequence do not depend on the other rows of its batch",
            "the trained state is the module's state_dict (parameters and buffers): scoring rebuilds the model "
            "with build_model and loads it",
            "the task fixes the optimizer, schedule, steps and batch size; the model is the architecture only",
        ),
    ),
}


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
    kind: TaskKind = "classification"
    # Token tasks: (seq_len,) and num_classes = vocab_size (every position is a V-way choice).
    input_shape: tuple[int, ...]
    num_classes: int = Field(gt=1)
    recipe: Recipe
    metric: Metric = Metric()
    baselines: tuple[Baseline, ...] = ()
    description: str = ""

    @property
    def contract(self) -> Contract:
        return CONTRACTS[self.kind]

    @property
    def vocab_size(self) -> int:
        return self.num_classes

    @property
    def seq_len(self) -> int:
        return self.input_shape[0]

    def build_args(self) -> tuple[object, ...]:
        """The arguments `build_model` is called with, in the order of the kind's contract."""
        if self.kind == "causal_lm":
            return (self.vocab_size, self.seq_len)
        return (self.input_shape, self.num_classes)


@dataclass(frozen=True)
class TaskData:
    """The splits. Labels of val and test never leave the trusted side.

    Token tasks: x_* are int64 tokens (N, T) and y_* the int64 targets (N, T), y[:, t]
    the token that follows x[:, :t + 1], IGNORE where a position is not scored."""

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

    def hidden_paths(self) -> tuple[str, ...]:
        """Folders the sandbox must not see because they hold this task's evaluation data
        (e.g. the source files a text corpus was cut from); covered with empty read-only
        mounts by the isolation backends."""
        return ()


class TaskError(ValueError):
    """A task cannot be found or its data is malformed; the message says how to fix it."""
