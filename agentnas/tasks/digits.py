"""scikit-learn's bundled 8x8 digits: a tiny offline task that trains in seconds (for tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agentnas.tasks.base import Recipe, Task, TaskData, TaskSpec
from agentnas.tasks.splits import stratified_split

SPLIT_SEED = 0
# 1797 images -> 1079 train / 359 val / 359 test (60/20/20), stratified by class.
VAL_FRACTION = 0.2
TEST_FRACTION = 0.2

# Short and annealed (255 steps): the examples' MLP reaches about 97 % and their CNN
# 92-96 % val accuracy in about a second on one CPU thread, which is what the test suite
# needs. At lr 3e-3 the CNN stalls near 87 % in the same budget.
DEFAULT_RECIPE = Recipe(optimizer="adam", lr=1e-2, schedule="cosine", epochs=15,
                        batch_size=64, seed=0)


class DigitsTask(Task):
    """The UCI optical digits as bundled with scikit-learn: 10 classes, (1, 8, 8) inputs."""

    def __init__(self, recipe: Recipe | None = None) -> None:
        self.spec = TaskSpec(
            name="digits",
            input_shape=(1, 8, 8),
            num_classes=10,
            recipe=recipe or DEFAULT_RECIPE,
            description=("scikit-learn load_digits: 1797 8x8 grey images of digits, scaled to "
                         "[0, 1], input (1, 8, 8) float32, 10 classes, stratified 60/20/20 split."),
        )

    def load(self, cache_dir: Path) -> TaskData:
        # The data ship with scikit-learn and split in milliseconds: nothing to cache.
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[:, None, :, :]  # (1797, 1, 8, 8)
        y = np.asarray(bunch.target, dtype=np.int64)                             # (1797,)
        n = len(y)
        rest, test = stratified_split(y, round(n * TEST_FRACTION), SPLIT_SEED)
        train, val = stratified_split(y[rest], round(n * VAL_FRACTION), SPLIT_SEED + 1)
        train, val = rest[train], rest[val]
        return TaskData(x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val],
                        x_test=x[test], y_test=y[test])
