"""Leave-one-space-out: how well a zero-shot predictor ranks a space it never trained on.

The spaces are NAS-Bench-201 (CIFAR-10 validation accuracy), NAS-Bench-Macro (mean test
accuracy) and agentnas's own labelled architectures (labelled.py; validation accuracy of
seed 0, one group per task). Accuracies of two spaces, or of two tasks of one space, are
never compared: every Kendall τ is taken within one group, and a space's τ is the mean of
its groups' (each group's τ is reported too).

For each space left out, a predictor is fitted on the other spaces (`Fit`: encodings,
accuracies, group ids -> something with `predict(x) -> (mean, std)`) and scored on the
left-out one, beside the baselines read from the same architectures: parameter count,
FLOPs (MACs) and each zero-cost proxy alone (the best of them is named; it is chosen on
the left-out space itself, so it is an optimistic bar). A `ZeroShotPredictor` also gets
the τ of its two parts, the learned heads and the zero-cost committee.

`shipped_report` scores one fixed predictor (e.g. the shipped model) on every space, and
says which spaces it was trained on: on those its τ is not a zero-shot figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agentnas.encode.embed import EncodeMode, EncodingCache, embed_text
from agentnas.evaluator.proxies import PROXY_NAMES, proxy_vector
from agentnas.value.labelled import LabelledArch
from agentnas.value.metrics import kendall_tau
from agentnas.value.prior import column
from agentnas.value.ranking import RankTraining
from agentnas.value.spaces import SpaceEncoder, SpaceName, sample_keys
from agentnas.value.zeroshot import PriorWeight, ZeroShotPredictor, fit_ensemble


class Predictor(Protocol):
    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


Fit = Callable[[np.ndarray, np.ndarray, np.ndarray], Predictor]  # (x, y, group ids) -> predictor


@dataclass(frozen=True)
class SpaceSet:
    """One space's labelled encodings; `groups` names the group (task) of each row."""

    name: str
    mode: EncodeMode
    x: np.ndarray       # (n, d)
    y: np.ndarray       # (n,) accuracy in percent
    params: np.ndarray  # (n,)
    flops: np.ndarray   # (n,) multiply-accumulates
    groups: np.ndarray  # (n,) str

    def __len__(self) -> int:
        return len(self.y)


def benchmark_set(space: SpaceName, n: int, seed: int, cache_dir: Path, mode: EncodeMode = "features",
                  progress: Callable[[int, int], None] | None = None) -> SpaceSet:
    """`n` architectures of NB201 or Macro (drawn with `seed`), encoded with their proxies."""
    data = SpaceEncoder(cache_dir, mode).encode(space, sample_keys(space, n, seed), progress)
    return SpaceSet(space, mode, data.x, data.y, data.params, data.flops, np.full(len(data.y), space))


def agentnas_set(rows: list[LabelledArch], mode: EncodeMode = "features", tasks: tuple[str, ...] | None = None,
                 label: str = "val", text_cache: EncodingCache | None = None) -> SpaceSet:
    """agentnas's labelled architectures as one space, one group per task: every architecture
    with graph features and a successful seed-0 training on the task."""
    xs, ys, params, flops, groups = [], [], [], [], []
    for row in rows:
        for task, entry in row.tasks.items():
            run = entry.run(0)
            if tasks is not None and task not in tasks:
                continue
            if entry.features is None or run is None or run.status != "ok" or getattr(run, label) is None:
                continue
            if mode != "features" and not entry.text:
                continue
            features = np.concatenate([entry.features.vector(), proxy_vector(run.proxies)]).astype(np.float32)
            text = (np.asarray(embed_text(entry.text or "", text_cache).vector, np.float32) if mode != "features"
                    else np.zeros(0, np.float32))
            xs.append({"features": features, "chunks": text, "both": np.concatenate([text, features])}[mode])
            ys.append(100.0 * float(getattr(run, label)))
            params.append(entry.features.params)
            flops.append(entry.features.flops)
            groups.append(f"agentnas/{task}")
    if not xs:
        raise ValueError("no architecture of the labelled set has features and a trained seed 0")
    return SpaceSet("agentnas", mode, np.stack(xs), np.asarray(ys, np.float64), np.asarray(params, np.float64),
                    np.asarray(flops, np.float64), np.asarray(groups))


def grouped_tau(score: np.ndarray, s: SpaceSet, mask: np.ndarray | None = None) -> dict[str, Any]:
    """Mean τ over the space's groups (rows in `mask` only), and each group's."""
    per: dict[str, float] = {}
    for g in sorted(set(s.groups.tolist())):
        rows = (s.groups == g) if mask is None else (s.groups == g) & mask
        if rows.sum() >= 3:
            per[str(g)] = round(kendall_tau(score[rows], s.y[rows]), 4)
    return {"tau": round(float(np.mean(list(per.values()))), 4) if per else None,
            **({"groups": per} if len(per) > 1 else {})}


def baselines(s: SpaceSet) -> dict[str, Any]:
    """τ of parameter count, FLOPs and each zero-cost proxy alone (where known), on `s`."""
    out: dict[str, Any] = {"params": grouped_tau(s.params, s), "flops": grouped_tau(s.flops, s)}
    proxies: dict[str, Any] = {}
    for name in PROXY_NAMES:
        col = column(s.mode, f"proxy_{name}")
        if col is None:
            continue
        known = s.x[:, col + len(PROXY_NAMES)] < 0.5  # its `_missing` column
        if known.sum() >= 3:
            proxies[name] = {**grouped_tau(s.x[:, col], s, known), "n": int(known.sum())}
    out["proxies"] = proxies
    ranked = [(v["tau"], k) for k, v in proxies.items() if v["tau"] is not None]
    if ranked:
        tau, name = max(ranked)
        out["best_proxy"] = {"name": name, "tau": tau}
    return out


def score(predictor: Predictor, s: SpaceSet) -> dict[str, Any]:
    """The predictor's τ on `s` (and its parts', for a ZeroShotPredictor)."""
    out: dict[str, Any] = {"predictor": grouped_tau(predictor.predict(s.x)[0], s)}
    if isinstance(predictor, ZeroShotPredictor):
        out["heads"] = grouped_tau(predictor.head_scores(s.x).mean(0), s)
        out["committee"] = grouped_tau(predictor.prior_scores(s.x), s)
        out["prior_weight"] = predictor.prior_weight
    return out


def _stack(sets: list[SpaceSet]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.concatenate([s.x for s in sets])
    y = np.concatenate([s.y for s in sets])
    # Group names are only unique within a space: qualified by it, two spaces never share a group.
    names = np.concatenate([np.char.add(f"{s.name}:", s.groups.astype(str)) for s in sets])
    ids = np.unique(names, return_inverse=True)[1]
    return x, y, ids


def leave_one_space_out(sets: list[SpaceSet], fit: Fit) -> dict[str, Any]:
    """For each space: fitted on the others, scored on it, beside its baselines."""
    if len({s.name for s in sets}) != len(sets) or len(sets) < 2:
        raise ValueError("leave-one-space-out needs two or more distinct spaces")
    if len({s.mode for s in sets}) != 1:
        raise ValueError("every space must be encoded in the same mode")
    report: dict[str, Any] = {}
    for held in sets:
        x, y, ids = _stack([s for s in sets if s is not held])
        predictor = fit(x, y, ids)
        report[held.name] = {"n": len(held), "trained_on": [s.name for s in sets if s is not held],
                             **score(predictor, held), **baselines(held)}
    return report


def shipped_report(sets: list[SpaceSet], predictor: ZeroShotPredictor) -> dict[str, Any]:
    """A fixed predictor on every space; `seen` marks the spaces it was trained on."""
    seen = set(predictor.info.get("spaces", []))
    return {s.name: {"n": len(s), "seen_in_training": s.name in seen, **score(predictor, s), **baselines(s)}
            for s in sets}


def ensemble_fit(mode: EncodeMode = "features", members: int = 5, steps: int = 1500, seed: int = 0,
                 prior_weight: PriorWeight = "auto") -> Fit:
    """The shipped recipe (`agentnas value pretrain`) as a `Fit`: the heads' ranking pairs
    are drawn within a group, the prior weight chosen by leave-one-group-out CV ("auto")."""
    def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> Predictor:
        return fit_ensemble(x, y, groups, mode, members, RankTraining(steps=steps, seed=seed),
                            {"n_train": len(y)}, prior_weight=prior_weight)
    return fit
