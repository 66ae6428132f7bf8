"""Best-so-far curves of a run and the random-architecture baseline they are judged against.

The run's curve: after evaluation i, the best full-fidelity validation accuracy so far, and
the test accuracy *of that model* (selection is on validation; taking the best test score
would select on the test split).

The baseline: what random search would have reached with the same number of evaluations.
Its population is the run's own randomly drawn architectures (nodes made by the grammar's
`sample` or `seed` operators, successful full-fidelity results). Random search with n
evaluations draws n of them without replacement; with the M results sorted ascending by
the selection key (validation accuracy, then fewer parameters), the k-th is the best of the
n drawn exactly when it is drawn and the n-1 others come from the k-1 below it:

    P(best = x_(k)) = C(k-1, n-1) / C(M, n),      k = n .. M
    E[best val  | n] = sum_k val_(k)  * C(k-1, n-1) / C(M, n)
    E[test of best-by-val | n] = sum_k test_(k) * C(k-1, n-1) / C(M, n)

It is defined for n <= M only: beyond M draws the population is exhausted, so the curve
stops at M. Failed evaluations of random architectures are left out of the population,
which flatters random search (its wasted evaluations are not charged), so the improvement
over it is conservative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from agentnas.records import ACCURACY, Metric
from agentnas.report.data import RANDOM_OPERATORS, Evaluation

MIN_POPULATION = 3

METHOD = (
    "Expected best-so-far of random search, estimated by order statistics from this run's randomly "
    "sampled architectures (operators 'sample' and 'seed', successful full-fidelity evaluations): with "
    "the M results sorted by validation accuracy, the best of n draws without replacement is the k-th with "
    "probability C(k-1, n-1) / C(M, n), so E[best val | n] = Σ val₍ₖ₎·C(k-1, n-1)/C(M, n) and the test "
    "curve is the expected test accuracy of the model random search would select on validation. "
    "Defined for n ≤ M; failed random draws are left out of the population, which flatters random "
    "search, so the improvement over it is conservative.")


class Curve(BaseModel):
    """Best-so-far after each evaluation (index i: after evaluation i + 1); None before any result."""

    model_config = ConfigDict(frozen=True)

    val: tuple[float | None, ...]
    test: tuple[float | None, ...]
    best_key: tuple[str | None, ...]  # the node holding the best-so-far


class Baseline(BaseModel):
    """The random-search baseline; `available` is False with fewer than MIN_POPULATION draws."""

    model_config = ConfigDict(frozen=True)

    population: int
    failed_random: int
    available: bool
    val: tuple[float, ...] = ()  # index n-1: expected best after n random evaluations, n = 1 .. M
    test: tuple[float, ...] = ()
    reason: str = ""


class Improvement(BaseModel):
    """How much better the run after `n` evaluations is than random search after `baseline_n`, in
    the task metric's units (accuracy fractions, or a loss): positive is better, whichever its direction."""

    model_config = ConfigDict(frozen=True)

    n: int
    baseline_n: int
    run_val: float
    run_test: float
    baseline_val: float
    baseline_test: float
    metric: Metric = ACCURACY

    @property
    def val(self) -> float:
        return self.metric.delta(self.run_val, self.baseline_val)

    @property
    def test(self) -> float:
        return self.metric.delta(self.run_test, self.baseline_test)


def _rank(e: Evaluation, metric: Metric = ACCURACY) -> tuple[float, int]:
    """Higher is better whatever the metric's direction (its utility), then fewer parameters."""
    return (metric.utility(e.score) if e.score is not None else float("-inf"), -(e.params or 0))


def best_so_far(evaluations: Sequence[Evaluation], metric: Metric = ACCURACY) -> Curve:
    """The run's curve, in the task metric's scores; a later result replaces the best only when
    strictly better by the metric (ties: fewer params)."""
    val: list[float | None] = []
    test: list[float | None] = []
    keys: list[str | None] = []
    best: Evaluation | None = None
    for e in evaluations:
        if e.full_ok and (best is None or _rank(e, metric) > _rank(best, metric)):
            best = e
        val.append(None if best is None else best.score)
        test.append(None if best is None else best.test)
        keys.append(None if best is None else best.node_id)
    return Curve(val=tuple(val), test=tuple(test), best_key=tuple(keys))


def expected_best(values: Sequence[float], n: int) -> float:
    """E[max of n draws without replacement] from `values`, already sorted ascending by the
    selection key (the k-th is selected with probability C(k-1, n-1) / C(M, n))."""
    m = len(values)
    if not 1 <= n <= m:
        raise ValueError(f"n must be in 1..{m}, not {n}")
    total = math.comb(m, n)
    # exact integer weights, one division each: no overflow or cancellation for large M
    return sum(values[k - 1] * (math.comb(k - 1, n - 1) / total) for k in range(n, m + 1))


def random_baseline(evaluations: Sequence[Evaluation], metric: Metric = ACCURACY) -> Baseline:
    randoms = [e for e in evaluations if e.operator in RANDOM_OPERATORS and e.fidelity == "full"]
    population = sorted((e for e in randoms if e.full_ok), key=lambda e: _rank(e, metric))
    failed = sum(1 for e in randoms if e.status != "ok")
    m = len(population)
    if m < MIN_POPULATION:
        return Baseline(population=m, failed_random=failed, available=False,
                        reason=f"the random-architecture baseline is unavailable: the run holds {m} successful "
                               f"random-architecture result(s), at least {MIN_POPULATION} are needed")
    vals = [e.score or 0.0 for e in population]
    tests = [e.test or 0.0 for e in population]
    return Baseline(population=m, failed_random=failed, available=True,
                    val=tuple(expected_best(vals, n) for n in range(1, m + 1)),
                    test=tuple(expected_best(tests, n) for n in range(1, m + 1)))


def improvements(curve: Curve, baseline: Baseline, metric: Metric = ACCURACY) -> list[Improvement]:
    """At the same budget n = min(N, M); and, when the run made more evaluations than there are
    random draws (N > M), the end of the run against random search's best of all M draws."""
    n_run, m = len(curve.val), len(baseline.val)
    if not baseline.available or n_run == 0:
        return []
    out = []
    for n, b in {(min(n_run, m), min(n_run, m)), (n_run, min(n_run, m))}:
        run_val, run_test = curve.val[n - 1], curve.test[n - 1]
        if run_val is not None and run_test is not None:
            out.append(Improvement(n=n, baseline_n=b, run_val=run_val, run_test=run_test,
                                   baseline_val=baseline.val[b - 1], baseline_test=baseline.test[b - 1],
                                   metric=metric))
    return sorted(out, key=lambda i: i.n)
