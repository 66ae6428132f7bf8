"""Pareto fronts for searches with several objectives: dominance, non-dominated sorting and
crowding (NSGA-II, Deb et al. 2002), and for two objectives the hypervolume, each point's
exclusive contribution to it, and the expected hypervolume improvement (EHVI).

Every function here works on UTILITIES: each column is higher-is-better (ask the objective's
`Metric` for `utilities` first; costs, lower is better, come in negated). A reference point
`ref` is a utility vector every counted point must beat in each column; points that do not
add nothing.

EHVI is exact for the case the search meets: the first objective (the validation score) is
uncertain, predicted as N(μ, σ²) by the value model, and the second (a cost the graph tells:
MACs, parameters) is known. The improvement of a point (y, c) over a front is then a sum
over the staircase of the front: for the cost interval [c_j, c_{j+1}) on which the front
already reaches utility h_j, the new point adds (c_{j+1} - c_j) · max(0, y - h_j), whose
expectation is (c_{j+1} - c_j) · ((μ - h_j) Φ(z) + σ φ(z)), z = (μ - h_j) / σ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """`a` is at least as good as `b` everywhere and better somewhere (utilities)."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def nondominated_sort(points: np.ndarray) -> list[list[int]]:
    """Indices of `points` (n, m) in fronts: fronts[0] is the Pareto front, fronts[1] the front
    of the rest, and so on. Equal points share a front."""
    pts = np.asarray(points, np.float64)
    n = len(pts)
    if n == 0:
        return []
    ge = (pts[:, None, :] >= pts[None, :, :]).all(-1)
    gt = (pts[:, None, :] > pts[None, :, :]).any(-1)
    dom: np.ndarray = np.asarray(ge & gt)  # dom[i, j]: i dominates j
    count = dom.sum(0)  # how many points dominate each one
    fronts: list[list[int]] = []
    current = [i for i in range(n) if count[i] == 0]
    while current:
        fronts.append(current)
        nxt: list[int] = []
        for i in current:
            for j in np.flatnonzero(dom[i]):
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(int(j))
        current = sorted(nxt)
    return fronts


def front_2d(points: np.ndarray) -> list[int]:
    """Indices of the Pareto front of (n, 2) utilities in O(n log n), for sets too large for
    `nondominated_sort`'s n x n comparison (a whole benchmark space); of equal points, one."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    order = np.lexsort((-pts[:, 0], -pts[:, 1]))  # second utility descending, then first descending
    keep: list[int] = []
    best = -math.inf
    for i in order:
        if pts[i, 0] > best:
            keep.append(int(i))
            best = pts[i, 0]
    return sorted(keep)


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each point of one front (n, m): the sum over objectives
    of the normalised gap between its neighbours; the extremes of each objective get inf."""
    pts = np.asarray(points, np.float64)
    n, m = pts.shape if pts.ndim == 2 else (0, 0)
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for k in range(m):
        order = np.argsort(pts[:, k], kind="stable")
        span = pts[order[-1], k] - pts[order[0], k]
        dist[order[0]] = dist[order[-1]] = math.inf
        if span <= 0:
            continue
        gaps = (pts[order[2:], k] - pts[order[:-2], k]) / span
        dist[order[1:-1]] += gaps
    return dist


def _staircase(points: np.ndarray, ref: Sequence[float]) -> np.ndarray:
    """The 2-D Pareto front of the points that beat `ref`, as (y, c) rows with c descending
    and so y ascending (along a front, the cheaper a point the lower its score)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    pts = pts[(pts[:, 0] > ref[0]) & (pts[:, 1] > ref[1])]
    if not len(pts):
        return pts
    order = np.lexsort((-pts[:, 0], -pts[:, 1]))  # c descending, then y descending
    front: list[np.ndarray] = []
    best_y = -math.inf
    for p in pts[order]:
        if p[0] > best_y:
            front.append(p)
            best_y = p[0]
    return np.array(front)


def hypervolume_2d(points: np.ndarray, ref: Sequence[float]) -> float:
    """The area dominated by `points` (n, 2) utilities and bounded below by `ref`: for cost
    utility x in (c_{i+1}, c_i] the front reaches y_i (c_n = ref's)."""
    front = _staircase(points, ref)
    if not len(front):
        return 0.0
    lower = np.append(front[1:, 1], float(ref[1]))
    return float(np.sum((front[:, 1] - lower) * (front[:, 0] - float(ref[0]))))


def contributions_2d(points: np.ndarray, ref: Sequence[float]) -> np.ndarray:
    """Each point's exclusive hypervolume: what the set loses without it (0 if dominated)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    total = hypervolume_2d(pts, ref)
    return np.array([total - hypervolume_2d(np.delete(pts, i, axis=0), ref) for i in range(len(pts))])


def ehvi_2d(mean: np.ndarray, std: np.ndarray, cost: np.ndarray, front: np.ndarray,
            ref: Sequence[float]) -> np.ndarray:
    """Expected hypervolume improvement of candidates whose first utility is N(mean, std²)
    and whose second utility `cost` is known, over the points `front` (n, 2), above `ref`.
    A candidate with std 0 gets its exact improvement."""
    mu = np.asarray(mean, np.float64).reshape(-1, 1)
    sd = np.asarray(std, np.float64).reshape(-1, 1)
    cu = np.asarray(cost, np.float64).reshape(-1, 1)
    stairs = _staircase(front, ref)  # c descending, y ascending
    # Intervals of cost utility (b_k, b_{k+1}] from ref up, with the score h_k the front
    # already reaches there: the y of the cheapest front point at least as cheap as b_{k+1}.
    bounds = np.concatenate([[float(ref[1])], stairs[::-1, 1], [math.inf]]) if len(stairs) else \
        np.array([float(ref[1]), math.inf])
    reach = np.concatenate([stairs[::-1, 0], [float(ref[0])]]) if len(stairs) else np.array([float(ref[0])])
    width = np.clip(np.minimum(cu, bounds[None, 1:]) - bounds[None, :-1], 0.0, None)  # (n, K)
    return np.asarray((width * expected_excess(mu, sd, reach[None, :])).sum(1))


def expected_excess(mu: np.ndarray, sd: np.ndarray, h: np.ndarray) -> np.ndarray:
    """E[max(0, Y - h)] for Y ~ N(mu, sd²), elementwise (broadcast); exact where sd is 0."""
    from scipy import stats  # here: scipy.stats costs ~0.8 s, paid by every `agentnas` command otherwise

    mu, sd, h = np.broadcast_arrays(np.asarray(mu, np.float64), np.asarray(sd, np.float64),
                                    np.asarray(h, np.float64))
    safe = np.where(sd > 1e-12, sd, 1.0)
    z = (mu - h) / safe
    smooth = (mu - h) * stats.norm.cdf(z) + safe * stats.norm.pdf(z)
    return np.asarray(np.where(sd > 1e-12, smooth, np.maximum(0.0, mu - h)))
