"""Selection and gating: PUCT with the value model as prior and its doubt as the bonus.

For an architecture x the value model gives a mean μ(x) and a std σ(x) (accuracy units).
Its optimistic value, the acquisition, is

    a(x) = μ(x) + β·σ(x)

Every node c has a value V(c): the best of what its subtree holds, real or hoped for,

    V(c) = max( real full-fidelity rewards in subtree(c),  a(x) for candidates x in subtree(c) )

(a candidate is a predicted-only architecture whose key was never evaluated). At a node
p, the same rule at both levels (hypotheses under the root, architectures below) picks

    score(c) = (V(c) − max_{c'} V(c')) / s  +  c_puct · P(c) · √(N(p) + 1) / (1 + N(c))
    P(c)     = softmax_{c'} ( V(c') / (T·s) )

where N counts real evaluations in a subtree, s is the value model's typical doubt (the
median σ over the candidates in play) so both terms are unit-free, and T a temperature.
The first term exploits what is best known or predicted; the second explores children
the value model rates well and that few evaluations have tried. Uncertainty enters
through β·σ in a(x): where the model knows little, a candidate can look good enough to
be chosen, and a real result then narrows σ.

The gate: of the candidates an expansion proposed, only the `n` best by a(x) get real
evaluation; the rest stay predicted-only nodes, re-scored every step, and are promoted
when they become the best choice.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class PuctParams(BaseModel):
    """The selection's constants, and β's exploration schedule: while a search has fewer than
    `early_queries` full results, a(x) uses `beta_early` (None: no schedule) instead of `beta`.
    With a handful of results the value model's σ is the only sign of where it knows nothing:
    a wide bonus sends the first evaluations to unlike candidates instead of a string of
    near-copies of the incumbent. NB201-CIFAR-10, tuning seeds 100-139, test @10: β 0.5
    throughout 93.77, beta_early 2: 93.90, 3: 94.17, 4: 94.12, 6: 94.17 (BENCHMARKS.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    c_puct: float = Field(default=0.5, ge=0)
    beta: float = Field(default=0.5, ge=0)
    temperature: float = Field(default=1.0, gt=0)
    beta_early: float | None = Field(default=3.0, ge=0)
    early_queries: int = Field(default=10, ge=0)

    def beta_at(self, full_results: int) -> float:
        """The β of a(x) = μ + β·σ after `full_results` real full-fidelity results."""
        if self.beta_early is not None and full_results < self.early_queries:
            return self.beta_early
        return self.beta


def acquisition(mean: np.ndarray, std: np.ndarray, beta: float) -> np.ndarray:
    """a(x) = μ(x) + β·σ(x)."""
    return np.asarray(mean, np.float64) + beta * np.asarray(std, np.float64)


def priors(values: np.ndarray, scale: float, temperature: float = 1.0) -> np.ndarray:
    """P(c) = softmax(V(c) / (T·s)) over siblings; -inf values get probability 0."""
    v = np.asarray(values, np.float64)
    finite = np.isfinite(v)
    if not finite.any():
        return np.full(len(v), 1.0 / max(len(v), 1))
    z = np.where(finite, (v - v[finite].max()) / (temperature * scale), -np.inf)
    e = np.exp(z)
    return np.asarray(e / e.sum())


def puct_scores(values: np.ndarray, visits: np.ndarray, parent_visits: int, scale: float,
                params: PuctParams) -> np.ndarray:
    """score(c) for siblings with values V and visit counts N (see the module docstring)."""
    v = np.asarray(values, np.float64)
    n = np.asarray(visits, np.float64)
    finite = np.isfinite(v)
    top = v[finite].max() if finite.any() else 0.0
    exploit = np.where(finite, (v - top) / scale, -1e9)  # nothing real or hoped for: chosen only if all are so
    explore = params.c_puct * priors(v, scale, params.temperature) * math.sqrt(parent_visits + 1) / (1 + n)
    return np.asarray(exploit + explore)


def gate(mean: np.ndarray, std: np.ndarray, beta: float, n: int) -> list[int]:
    """Indices of the `n` best candidates by μ + β·σ (ties: the earlier one)."""
    a = acquisition(mean, std, beta)
    order = sorted(range(len(a)), key=lambda i: (-a[i], i))
    return order[: max(n, 0)]
