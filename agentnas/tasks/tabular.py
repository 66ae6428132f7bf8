"""Tabular benchmark tasks: an evaluation is a lookup in a published table.

`nb201-cifar10`, `nb201-cifar100`, `nb201-imagenet16` (NAS-Bench-201, 15,625 cells) and
`macro-cifar10` (NAS-Bench-Macro, 6,561 networks), read from the shared benchmark data
(agentnas.space.data). A search sees the validation accuracy only (`evaluate`); the test
accuracy of the architecture it picks is read afterwards, for the report
(`test_accuracy`), by code that is not the search.

NAS-Bench-Macro publishes no validation split, only the test accuracy of 3 training runs:
the search sees the first run's accuracy and the report gives the mean of the other two,
so an architecture is not rewarded in the report for one lucky run the search saw.

There is no data to train on: `load` refuses with a clear error. The recipe in the spec
is the one the table's authors trained with (NB201: SGD with Nesterov momentum, lr 0.1,
cosine, weight decay 5e-4, batch 256, 200 epochs); for Macro it is nominal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from agentnas.space import load_macro, load_nb201
from agentnas.space.tabular_costs import nb201_macs
from agentnas.tasks.base import Recipe, Task, TaskData, TaskError, TaskSpec

TabularSpace = Literal["nb201", "macro"]
_NB201 = Recipe(optimizer="sgd", lr=0.1, weight_decay=5e-4, momentum=0.9, schedule="cosine", epochs=200,
                batch_size=256)
_MACRO = Recipe(optimizer="sgd", lr=0.1, weight_decay=5e-4, momentum=0.9, schedule="cosine", epochs=50,
                batch_size=256)


class TabularTask(Task):
    """A task whose evaluations are table lookups (validation accuracy, percent)."""

    def __init__(self, name: str, space: TabularSpace, dataset: str, input_shape: tuple[int, ...],
                 num_classes: int, description: str, data_dir: str | Path | None = None) -> None:
        self.space, self.dataset, self.data_dir = space, dataset, data_dir
        self.spec = TaskSpec(name=name, input_shape=input_shape, num_classes=num_classes,
                             recipe=_NB201 if space == "nb201" else _MACRO, description=description)

    def load(self, cache_dir: Path) -> TaskData:
        raise TaskError(f"{self.spec.name} is a tabular benchmark: an evaluation is a lookup in the published "
                        "table, there is no data to train on; use it with `agentnas run` or "
                        "`agentnas bench search`")

    @functools.cached_property
    def _table(self) -> dict[str, tuple[float, float]]:
        """key -> (validation accuracy, test accuracy), percent."""
        try:
            if self.space == "nb201":
                return {k: (r.val_acc_200, r.test_acc_200)
                        for k, r in load_nb201(self.dataset, self.data_dir).items()}  # type: ignore[arg-type]
            return {k: (r.test_acc[0], sum(r.test_acc[1:]) / len(r.test_acc[1:]))
                    for k, r in load_macro(self.data_dir).items()}
        except FileNotFoundError as e:
            raise TaskError(f"{self.spec.name}: {e}") from e

    def architectures(self) -> list[str]:
        """Every architecture of the space, sorted."""
        return sorted(self._table)

    def _row(self, key: str) -> tuple[float, float]:
        row = self._table.get(key)
        if row is None:
            raise TaskError(f"{key!r} is not an architecture of {self.spec.name}")
        return row

    def evaluate(self, key: str, fidelity: float = 1.0) -> float:
        """The validation accuracy a search sees. The tables hold final accuracies only."""
        if fidelity != 1.0:
            raise TaskError(f"{self.spec.name} has only full-training results (fidelity 1.0), not {fidelity}")
        return self._row(key)[0]

    def test_accuracy(self, key: str) -> float:
        """For reports only: never hand this to a search."""
        return self._row(key)[1]

    # -- costs the graph tells (agentnas.space.tabular_costs) -----------------------------

    def cost_names(self) -> tuple[str, ...]:
        """The costs known for every architecture of this space without training."""
        return ("macs",) if self.space == "nb201" else ("macs", "params")

    @functools.cache  # noqa: B019 - a task object lives for the process; the table is fixed
    def _costs(self, name: str) -> dict[str, float]:
        if name not in self.cost_names():
            raise TaskError(f"{self.spec.name} knows no cost {name!r} without training; it knows "
                            f"{', '.join(self.cost_names())}")
        if self.space == "nb201":
            shape = tuple(self.spec.input_shape)
            return {k: float(nb201_macs(k, shape, self.spec.num_classes)) for k in self._table}
        rows = load_macro(self.data_dir)
        return {k: float(rows[k].flops if name == "macs" else rows[k].params) for k in self._table}

    def cost(self, key: str, name: str) -> float:
        """Cost `name` of architecture `key` (lower is better): known from its graph."""
        self._row(key)
        return self._costs(name)[key]

    def cost_range(self, name: str) -> tuple[float, float]:
        values = self._costs(name).values()
        return min(values), max(values)

    def optimum_keys(self) -> frozenset[str]:
        """The architectures with the best validation accuracy (several on a tie)."""
        best = max(v for v, _ in self._table.values())
        return frozenset(k for k, (v, _) in self._table.items() if v == best)


def _nb201(name: str, dataset: str, shape: tuple[int, ...], classes: int, label: str) -> Callable[[], Task]:
    def make() -> Task:
        return TabularTask(name, "nb201", dataset, shape, classes,
                           f"NAS-Bench-201 on {label}: 15,625 cells, a table lookup of the 200-epoch accuracy")
    return make


TABULAR_TASKS: dict[str, Callable[[], Task]] = {
    "nb201-cifar10": _nb201("nb201-cifar10", "cifar10", (3, 32, 32), 10, "CIFAR-10"),
    "nb201-cifar100": _nb201("nb201-cifar100", "cifar100", (3, 32, 32), 100, "CIFAR-100"),
    "nb201-imagenet16": _nb201("nb201-imagenet16", "imagenet16", (3, 16, 16), 120, "ImageNet16-120"),
    "macro-cifar10": lambda: TabularTask(
        "macro-cifar10", "macro", "cifar10", (3, 32, 32), 10,
        "NAS-Bench-Macro on CIFAR-10: 6,561 networks; the search sees run 1, the report the mean of runs 2-3"),
}
