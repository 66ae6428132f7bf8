"""The offline grammar of the tabular spaces: one choice per position.

NAS-Bench-201: 6 edges of the cell, 5 ops each (15,625 cells); a mutation changes one
edge's op (24 neighbours). NAS-Bench-Macro: 8 layers, 3 choices each (6,561 networks); a
mutation changes one layer's choice (16 neighbours). A recombination takes each position
from one of two parents. `TabularProposer` adds the space's hypotheses: design directions
in words, each a biased distribution over the choices to sample first architectures from.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from agentnas.search.proposer import KeyProposal, Proposer
from agentnas.space import NB201_OPS, parse_macro, parse_nb201
from agentnas.space.nb201 import nb201_computed

_NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (node, source)


class ChoiceGrammar:
    """A space of `len(choices)` positions, each taking one of its choices; keys are strings."""

    name = ""
    choices: tuple[tuple[str, ...], ...] = ()
    labels: tuple[str, ...] = ()  # position names, for the words of a change

    def decode(self, key: str) -> tuple[str, ...]:
        raise NotImplementedError

    def encode(self, values: Sequence[str]) -> str:
        raise NotImplementedError

    def size(self) -> int:
        n = 1
        for c in self.choices:
            n *= len(c)
        return n

    def all_keys(self) -> Iterator[str]:
        for values in itertools.product(*self.choices):
            yield self.encode(values)

    def random_key(self, rng: random.Random, weights: Sequence[Mapping[str, float]] | None = None) -> str:
        values = []
        for i, options in enumerate(self.choices):
            w = [float(weights[i].get(o, 1.0)) for o in options] if weights else None
            values.append(rng.choices(options, weights=w)[0])
        return self.encode(values)

    def neighbours(self, key: str) -> list[KeyProposal]:
        """Every architecture one change away, in a fixed order."""
        values = self.decode(key)
        out = []
        for i, options in enumerate(self.choices):
            for o in options:
                if o != values[i]:
                    changed = list(values)
                    changed[i] = o
                    out.append(KeyProposal(key=self.encode(changed), operator="mutate", parents=(key,),
                                        text=f"{self.labels[i]}: {values[i]} -> {o}"))
        return out

    def mutate(self, key: str, rng: random.Random) -> KeyProposal:
        """One random change of one position (the choice always differs)."""
        values = list(self.decode(key))
        i = rng.randrange(len(self.choices))
        old = values[i]
        values[i] = rng.choice([o for o in self.choices[i] if o != old])
        return KeyProposal(key=self.encode(values), operator="mutate", parents=(key,),
                        text=f"{self.labels[i]}: {old} -> {values[i]}")

    def network(self, key: str) -> str:
        """The network `key` computes, as a key (see Proposer.network); default: the key."""
        return key

    def recombine(self, a: str, b: str, rng: random.Random) -> KeyProposal:
        """Each position from parent a or parent b, with equal odds."""
        va, vb = self.decode(a), self.decode(b)
        values = [x if rng.random() < 0.5 else y for x, y in zip(va, vb, strict=True)]
        return KeyProposal(key=self.encode(values), operator="recombine", parents=(a, b),
                        text="positions mixed from two parents")


class Nb201Grammar(ChoiceGrammar):
    name = "nb201"
    choices = tuple(NB201_OPS for _ in _NB201_EDGES)
    labels = tuple(f"edge {src}->{node}" for node, src in _NB201_EDGES)

    def decode(self, key: str) -> tuple[str, ...]:
        cell = parse_nb201(key)
        return tuple(cell.nodes[node - 1][src].op for node, src in _NB201_EDGES)

    def network(self, key: str) -> str:
        return nb201_computed(key)

    def encode(self, values: Sequence[str]) -> str:
        ops = dict(zip(_NB201_EDGES, values, strict=True))
        return "+".join("|" + "|".join(f"{ops[(node, src)]}~{src}" for src in range(node)) + "|"
                        for node in (1, 2, 3))


class MacroGrammar(ChoiceGrammar):
    name = "macro"
    choices = tuple(("0", "1", "2") for _ in range(8))
    labels = tuple(f"layer {i + 2}" for i in range(8))

    def decode(self, key: str) -> tuple[str, ...]:
        return tuple(str(c) for c in parse_macro(key))

    def encode(self, values: Sequence[str]) -> str:
        return "".join(values)


@dataclass(frozen=True)
class TabularHypothesis:
    text: str
    weights: tuple[Mapping[str, float], ...]  # per position: choice -> sampling weight (missing: 1)


def _same(n: int, w: Mapping[str, float]) -> tuple[Mapping[str, float], ...]:
    return tuple(w for _ in range(n))


def nb201_hypotheses() -> list[TabularHypothesis]:
    conv = {"nor_conv_3x3": 4.0, "nor_conv_1x1": 2.0, "skip_connect": 1.0, "avg_pool_3x3": 0.5, "none": 0.5}
    residual = [dict(conv) for _ in _NB201_EDGES]
    residual[_NB201_EDGES.index((3, 0))] = {"skip_connect": 1.0, **{o: 0.0 for o in NB201_OPS if o != "skip_connect"}}
    cheap = {"nor_conv_1x1": 3.0, "avg_pool_3x3": 2.0, "skip_connect": 2.0, "nor_conv_3x3": 0.5, "none": 1.0}
    sparse = {"none": 3.0, "skip_connect": 1.0, "nor_conv_1x1": 1.0, "nor_conv_3x3": 1.0, "avg_pool_3x3": 1.0}
    n = len(_NB201_EDGES)
    return [
        TabularHypothesis("Convolution-heavy cells: 3x3 convolutions on most edges give the most capacity.",
                          _same(n, conv)),
        TabularHypothesis("Residual cells: an identity edge from the cell input to its output eases "
                          "optimisation while convolutions carry the features.", tuple(residual)),
        TabularHypothesis("Cheap cells: 1x1 convolutions, pooling and skips; fewer multiply-adds generalise "
                          "as well.", _same(n, cheap)),
        TabularHypothesis("Sparse cells: dropping edges (zero ops) regularises the cell.", _same(n, sparse)),
        TabularHypothesis("No prior: every op equally likely on every edge.", _same(n, {})),
    ]


def macro_hypotheses() -> list[TabularHypothesis]:
    heavy = {"2": 4.0, "1": 2.0, "0": 1.0}
    late = tuple({"0": 2.0, "1": 2.0, "2": 0.5} if i < 3 else {"2": 4.0, "1": 2.0, "0": 0.5} for i in range(8))
    shallow = {"0": 3.0, "1": 1.0, "2": 1.0}
    return [
        TabularHypothesis("Wide blocks: inverted residuals with expansion 6 and kernel 5 in most layers.",
                          _same(8, heavy)),
        TabularHypothesis("Light early, heavy late: small or identity layers at high resolution, large "
                          "blocks after downsampling.", late),
        TabularHypothesis("Shallow networks: many identity layers keep the network small.", _same(8, shallow)),
        TabularHypothesis("No prior: every choice equally likely in every layer.", _same(8, {})),
    ]


GRAMMARS: dict[str, type[ChoiceGrammar]] = {"nb201": Nb201Grammar, "macro": MacroGrammar}


def grammar_for(space: str) -> ChoiceGrammar:
    if space not in GRAMMARS:
        raise ValueError(f"unknown tabular space {space!r}; expected one of {', '.join(GRAMMARS)}")
    return GRAMMARS[space]()


class TabularProposer(Proposer):
    """The offline proposer of a tabular space: hypotheses sample, children are all
    one-change neighbours (in a seeded order) plus recombinations with the partners."""

    def __init__(self, grammar: ChoiceGrammar, hypotheses: Sequence[TabularHypothesis] | None = None,
                 recombinations: int = 2) -> None:
        self.grammar = grammar
        if hypotheses is None:
            hypotheses = nb201_hypotheses() if grammar.name == "nb201" else macro_hypotheses()
        self._hypotheses = {h.text: h for h in hypotheses}
        self.recombinations = recombinations

    def hypotheses(self) -> list[str]:
        return list(self._hypotheses)

    def network(self, key: str) -> str:
        return self.grammar.network(key)

    def sample(self, hypothesis: str, rng: random.Random, n: int) -> list[KeyProposal]:
        h = self._hypotheses.get(hypothesis)
        weights = h.weights if h is not None else None
        return [KeyProposal(key=self.grammar.random_key(rng, weights), operator="sample",
                         text=f"sampled: {hypothesis}") for _ in range(n)]

    def children(self, key: str, rng: random.Random, n: int, partners: Sequence[str] = ()) -> list[KeyProposal]:
        found = self.grammar.neighbours(key)
        rng.shuffle(found)
        mixed = [self.grammar.recombine(key, p, rng) for p in partners if p != key
                 for _ in range(self.recombinations)]
        out, seen = [], {key}
        for p in (*mixed, *found):  # recombinations first: a truncated list keeps them
            if p.key not in seen:
                seen.add(p.key)
                out.append(p)
        return out[:n]
