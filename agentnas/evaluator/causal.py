"""The causality check of token models, on the trusted side.

For causal token modelling the inputs contain the targets: a model whose logits at
position t read tokens after t would score near perfectly. So before a token model's score
counts, this module checks, from the logits the sandbox returned, that changing tokens
after position t changed nothing at positions <= t.

How (the plan is drawn fresh from the OS's randomness for every evaluation, never from
the task's or the recipe's seed):

1. Every evaluation sequence (val and test, all of them scored) gets a *twin*: a copy
   that keeps tokens 0..t and takes tokens t+1.. from another evaluation sequence, with
   token t+1 forced to differ; the cut t is drawn per sequence among the positions from its
   first scored one to T-2, so at least one scored position lies at or before it.
2. The sequences are split at random into two halves, A and B. Part A holds half the
   sequences and the twins of the other half; part B the rest. Each part is evaluated by
   its own fresh sandbox child that loads the trained weights (sandbox/tokens.py), in
   randomly sized batches, in random order. No child ever holds a sequence and its twin:
   a model cannot find the pairs by comparing prefixes, nor remember what it answered for
   one to repeat it for the other. Every row of a part looks the same (a real sequence, or
   one spliced from two real ones), and every real sequence has its twin in the other part,
   so a model that looks ahead anywhere is seen wherever a cut falls.
3. The trusted side compares the log-probabilities of each sequence and its twin at the
   scored positions <= t: any difference above `TOLERANCE` (nats) is a look-ahead, and the
   evaluation fails as `non_causal`, naming the sequence, position, cut and difference.

What it guarantees: the returned logits at each scored position are a function of the
prefix up to it, as computed by the trained weights in a process that never saw the rest
of that sequence's evaluation family. It also catches a model whose outputs depend on the
other rows of its batch. What it cannot see: a model that reads the future from somewhere
other than its input (a copy of the evaluation data it can reach); the evaluator's part is
that no such copy exists in the sandbox (token tasks give the sandbox no val/test inputs
beyond each part's own rows, and a text corpus's files are hidden from it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np

# Honest models differ between batch compositions by float32 rounding (about 1e-6 nats);
# a look-ahead moves log-probabilities by orders of magnitude more. Gains hidden below
# this bound are below 1e-3 nats per token, under the seed-to-seed spread of any score.
TOLERANCE = 1e-3
PARTS = ("a", "b")


@dataclass(frozen=True)
class Part:
    """What one scoring child evaluates: its rows, where logits are read, its batches."""

    tokens: np.ndarray      # (M, T) int64
    positions: np.ndarray   # (P, 2) int64 [row, position], sorted by row
    bounds: np.ndarray      # (nb + 1,) int64 batch boundaries over the rows


@dataclass(frozen=True)
class Plan:
    """The two parts and the bookkeeping that stays on the trusted side."""

    parts: dict[str, Part]
    # Per original sequence i (val rows first, then test): its part, its row in that part,
    # its twin's row in the other part, the cut, and where its positions start in each part's logits.
    part_of: np.ndarray     # (N,) 0 = a, 1 = b
    row: np.ndarray         # (N,)
    twin_row: np.ndarray    # (N,)
    cut: np.ndarray         # (N,) t: tokens 0..t shared with the twin, -1 when nothing is checkable
    first: np.ndarray       # (N,) index of the original's first logit row in its part's logits
    twin_first: np.ndarray  # (N,) the same for its twin in the other part
    scored: list[np.ndarray]  # per original: its scored positions (sorted)


def make_plan(x: np.ndarray, y: np.ndarray, vocab: int, batch_size: int,
              rng: np.random.Generator | None = None) -> Plan:
    """The probe plan for evaluation sequences `x` (N, T) with targets `y` (IGNORE where not scored)."""
    rng = rng or np.random.default_rng(secrets.randbits(128))
    n, t_len = x.shape
    scored = [np.flatnonzero(y[i] >= 0) for i in range(n)]
    cut = np.full(n, -1, np.int64)
    twins = x.copy()
    originals = {row.tobytes() for row in x}
    for i in range(n):
        lo = int(scored[i][0]) if len(scored[i]) else t_len
        if lo > t_len - 2 or n < 2:
            continue  # only the last position is scored (or a lone row): no cut leaves a later token
        t = int(rng.integers(lo, t_len - 1))
        donor = (i + 1 + int(rng.integers(n - 1))) % n
        twins[i, t + 1:] = x[donor, t + 1:]
        # The twin must differ from its row after the cut, and must not be a copy of any evaluation
        # sequence (a donor sharing the row's prefix gives back the donor itself, and a part would
        # then hold a sequence beside its copy): the token after the cut is redrawn until it is neither.
        for shift in 1 + rng.permutation(vocab - 1):
            if twins[i, t + 1] != x[i, t + 1] and twins[i].tobytes() not in originals:
                break
            twins[i, t + 1] = (x[i, t + 1] + shift) % vocab
        cut[i] = t
    part_of = np.zeros(n, np.int64)
    part_of[rng.permutation(n)[n // 2:]] = 1
    rows: dict[int, list[tuple[np.ndarray, np.ndarray, int, bool]]] = {0: [], 1: []}
    for i in range(n):
        rows[int(part_of[i])].append((x[i], scored[i], i, False))
        rows[1 - int(part_of[i])].append((twins[i], scored[i], i, True))
    row, twin_row = np.zeros(n, np.int64), np.zeros(n, np.int64)
    first, twin_first = np.zeros(n, np.int64), np.zeros(n, np.int64)
    parts = {}
    for p, name in enumerate(PARTS):
        order = rng.permutation(len(rows[p]))
        entries = [rows[p][k] for k in order]
        tokens = np.stack([e[0] for e in entries]).astype(np.int64) if entries else np.zeros((0, t_len), np.int64)
        counts = np.array([len(e[1]) for e in entries], np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(entries) else counts
        positions = (np.stack([np.repeat(np.arange(len(entries)), counts), np.concatenate([e[1] for e in entries])],
                              axis=1).astype(np.int64) if counts.sum() else np.zeros((0, 2), np.int64))
        for r, (_, _, i, is_twin) in enumerate(entries):
            if is_twin:
                twin_row[i], twin_first[i] = r, starts[r]
            else:
                row[i], first[i] = r, starts[r]
        parts[name] = Part(tokens=tokens, positions=positions, bounds=_batches(len(entries), batch_size, rng))
    return Plan(parts=parts, part_of=part_of, row=row, twin_row=twin_row, cut=cut, first=first,
                twin_first=twin_first, scored=scored)


def _batches(m: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Batch boundaries with sizes drawn from [ceil(bs / 2), bs]: no batch shape marks a row."""
    bounds, at = [0], 0
    low = max(1, (batch_size + 1) // 2)
    while at < m:
        at = min(m, at + int(rng.integers(low, batch_size + 1)))
        bounds.append(at)
    return np.asarray(bounds, np.int64)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    out: np.ndarray = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return out


def originals(plan: Plan, logits: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Each original sequence's logits at its scored positions, (len(scored[i]), V)."""
    out = []
    for i, s in enumerate(plan.scored):
        part = logits[PARTS[int(plan.part_of[i])]]
        out.append(part[plan.first[i]:plan.first[i] + len(s)])
    return out


def look_ahead(plan: Plan, logits: dict[str, np.ndarray], tolerance: float = TOLERANCE) -> str | None:
    """None when every checked position agrees with its twin; else what looked ahead, in words."""
    worst: tuple[float, int, int, int] | None = None
    bad = checked = 0
    for i, s in enumerate(plan.scored):
        t = int(plan.cut[i])
        keep = int(np.searchsorted(s, t, side="right"))   # scored positions <= t
        if t < 0 or keep == 0:
            continue
        mine = logits[PARTS[int(plan.part_of[i])]][plan.first[i]:plan.first[i] + keep]
        theirs = logits[PARTS[1 - int(plan.part_of[i])]][plan.twin_first[i]:plan.twin_first[i] + keep]
        diff = np.abs(log_softmax(mine) - log_softmax(theirs)).max(axis=-1)   # (keep,)
        checked += 1
        k = int(diff.argmax())
        if not diff[k] <= tolerance:  # NaN counts as a difference
            bad += 1
            if worst is None or not diff[k] <= worst[0]:
                worst = (float(diff[k]), i, int(s[k]), t)
    if worst is None:
        return None
    d, i, pos, t = worst
    return (f"the logits at position {pos} of evaluation sequence {i} changed by up to {d:.3g} (log-probability) "
            f"when only tokens after position {t} changed; {bad} of {checked} checked sequences looked ahead "
            f"(tolerance {tolerance:g}). A causal model's logits at t may depend on tokens 0..t only.")
