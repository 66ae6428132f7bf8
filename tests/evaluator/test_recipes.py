"""Every optimizer and schedule a recipe can name trains in the sandbox without tripping
the tamper check (torch wraps Optimizer.step on first use, which is not tampering)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentnas.evaluator import EvalOptions, Evaluator
from agentnas.paths import shipped_dir
from agentnas.tasks import Recipe
from agentnas.tasks.digits import DigitsTask


@pytest.mark.parametrize(("optimizer", "schedule"), [("adam", "constant"), ("adamw", "cosine"), ("sgd", "cosine")])
def test_each_recipe_optimizer_trains_in_the_sandbox(optimizer: str, schedule: str, tmp_path: Path) -> None:
    recipe = Recipe(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 3e-3, schedule=schedule, epochs=3,
                    batch_size=64)
    task = DigitsTask(recipe=recipe)
    with Evaluator(task, EvalOptions(slots=1, timeout_s=120), cache_dir=tmp_path) as ev:
        result = ev.evaluate_one(shipped_dir("examples") / "digits_mlp.py")
    assert result.ok, (result.failure, result.log_tail)
    assert result.metrics is not None and result.metrics.val_accuracy > 0.7
