"""What a search asks of a proposer: directions to explore and candidate architectures.

On a real task the proposer is the agents graph (the researcher agent, or the offline
grammar when no LLM is configured) writing code; on a tabular benchmark it is the space's
own grammar (`agentnas.search.keys`). Either way the search only sees `KeyProposal`s:
an architecture key plus how it was made.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from agentnas.records import Operator


class KeyProposal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1)
    operator: Operator
    text: str = ""  # what the change is, in words
    parents: tuple[str, ...] = ()  # keys it was made from


class Proposer(ABC):
    """Contract: `hypotheses()` lists the design directions to start from (distinct texts);
    `sample(h, rng, n)` proposes up to `n` architectures following direction `h`;
    `children(key, rng, n, partners)` proposes up to `n` mutations, refinements or
    recombinations of architecture `key` (recombining with `partners`, other good keys).
    The same `rng` state gives the same answer. A proposal may repeat a key the search
    already has: the policy filters, so proposers need not see the tree."""

    @abstractmethod
    def hypotheses(self) -> list[str]: ...

    @abstractmethod
    def sample(self, hypothesis: str, rng: random.Random, n: int) -> list[KeyProposal]: ...

    @abstractmethod
    def children(self, key: str, rng: random.Random, n: int, partners: Sequence[str] = ()) -> list[KeyProposal]: ...

    def network(self, key: str) -> str:
        """The model `key` builds: keys with the same network are one model trained again
        (an NB201 cell whose differing edges cannot change the output). Default: the key."""
        return key
