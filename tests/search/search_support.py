"""A toy space for the search suites: 4 positions x 3 choices (81 architectures), with a
known validation value per key, a different "test" value, and a unique optimum."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from agentnas.search import ChoiceGrammar, Observation, SearchTree, TabularHypothesis, TabularProposer

WEIGHTS = ({"a": 0.0, "b": 2.0, "c": 1.0}, {"a": 1.5, "b": 0.0, "c": 0.5},
           {"a": 0.2, "b": 0.1, "c": 3.0}, {"a": 0.0, "b": 1.0, "c": 0.4})


class ToyGrammar(ChoiceGrammar):
    name = "toy"
    choices = tuple(("a", "b", "c") for _ in range(4))
    labels = ("p0", "p1", "p2", "p3")

    def decode(self, key: str) -> tuple[str, ...]:
        if len(key) != 4 or set(key) - set("abc"):
            raise ValueError(f"not a toy key: {key!r}")
        return tuple(key)

    def encode(self, values: Sequence[str]) -> str:
        return "".join(values)


def toy_val(key: str) -> float:
    """A smooth landscape with one interaction, so local search can get stuck."""
    base = sum(w[c] for w, c in zip(WEIGHTS, key, strict=True))
    bonus = 1.2 if key[0] == "b" and key[3] == "b" else 0.0
    return 80.0 + base + bonus


def toy_test(key: str) -> float:
    """Deliberately unlike the validation value, so a leak shows."""
    return 50.0 - toy_val(key) / 10.0


ALL_KEYS = ["".join(v) for v in itertools.product("abc", repeat=4)]
OPTIMUM = max(ALL_KEYS, key=toy_val)


class ToyEvaluator:
    """Counts calls per (key, fidelity); at fidelity f < 1 the value is scaled and shifted
    by a key-dependent amount, so low fidelity ranks roughly but not exactly like the full one."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, float], int] = {}

    def __call__(self, key: str, fidelity: float) -> Observation:
        self.calls[(key, fidelity)] = self.calls.get((key, fidelity), 0) + 1
        wobble = (ALL_KEYS.index(key) % 5) * 0.3 * (1 - fidelity)
        return Observation(val_accuracy=toy_val(key) * fidelity + wobble)


def toy_proposer() -> TabularProposer:
    uniform = tuple({} for _ in range(4))
    leaning = tuple({"a": 3.0} for _ in range(4))
    return TabularProposer(ToyGrammar(), [TabularHypothesis("uniform", uniform),
                                          TabularHypothesis("mostly a", leaning)])


def records(tree: SearchTree) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    return ([n.model_dump() for n in tree.nodes.values()], [r.model_dump() for r in tree.results])
