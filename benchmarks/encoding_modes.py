"""Which encoding and which parts of the zero-shot predictor rank best across spaces.

Two studies, both on the sets `agentnas bench value` uses (train on `--cross-n`
architectures of one space, sample seed 2; test on `--test-n` of the other, seed 1), so
the figures line up with the bench:

- modes: a ranking head trained on one space, Kendall τ on the other, for the text
  embedding, the structural features, or both (heads only, no prior);
- parts (features mode): each committee signal alone, the committee, the heads alone with
  and without the proxies among their inputs, and heads + committee at every prior weight of
  the grid. The weight the predictor ships with is chosen by a rule that never looks at the
  left-out space (zeroshot.py); the grid is printed to show what that rule costs or gains,
  not to choose from it;
- shipped (features mode): the configuration `agentnas value pretrain` ships, one setting
  of `--per-space` at a time: the prior weight chosen as pretrain chooses it (leave-one-
  space-out CV on both spaces' `--per-space` architectures, seed `--seed`), then an
  ensemble trained on one space only with that weight, τ on the other space's test set
  (the bench's 2,000, whatever `--per-space`). Used to choose the shipped `--per-space`.

    .venv/bin/python benchmarks/encoding_modes.py --study parts --cross-n 400 --test-n 2000
    .venv/bin/python benchmarks/encoding_modes.py --study shipped --per-space 300,1000
    .venv/bin/python benchmarks/encoding_modes.py --study modes --cross-n 300 --test-n 300
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentnas.encode.features import FEATURE_NAMES  # noqa: E402
from agentnas.paths import default_cache_dir  # noqa: E402
from agentnas.value.metrics import kendall_tau  # noqa: E402
from agentnas.value.prior import DEAD_PENALTY, PRIOR_SIGNALS, CommitteePrior  # noqa: E402
from agentnas.value.ranking import RankTraining, train_ranker  # noqa: E402
from agentnas.value.spaces import LabelledSet, SpaceEncoder, SpaceName, sample_keys  # noqa: E402
from agentnas.value.zeroshot import WEIGHT_GRID, choose_prior_weight, fit_ensemble  # noqa: E402

PAIRS: tuple[tuple[SpaceName, SpaceName], ...] = (("nb201", "macro"), ("macro", "nb201"))


def _sets(encoder: SpaceEncoder, cross_n: int, test_n: int) -> tuple[dict[str, LabelledSet], dict[str, LabelledSet]]:
    train = {s: encoder.encode(s, sample_keys(s, cross_n, 2)) for s in ("nb201", "macro")}  # type: ignore[arg-type]
    nb_within = sample_keys("nb201", 200, 0)  # the bench's within-space training set, never a test item
    test = {"nb201": encoder.encode("nb201", sample_keys("nb201", test_n, 1, exclude=set(nb_within))),
            "macro": encoder.encode("macro", sample_keys("macro", test_n, 1, exclude=set(train["macro"].keys)))}
    return train, test


def modes(args: argparse.Namespace) -> None:
    for mode in args.modes.split(","):
        t0 = time.perf_counter()
        train, test = _sets(SpaceEncoder(args.cache_dir, mode), args.cross_n, args.test_n)  # type: ignore[arg-type]
        print(f"{mode}: encoded in {time.perf_counter() - t0:.0f} s", flush=True)
        for a, b in PAIRS:
            tau = kendall_tau(train_ranker(train[a].x, train[a].y, RankTraining()).score(test[b].x), test[b].y)
            print(f"  {a} -> {b}: heads τ {tau:.3f} (params {kendall_tau(test[b].params, test[b].y):.3f}, "
                  f"FLOPs {kendall_tau(test[b].flops, test[b].y):.3f})", flush=True)


def parts(args: argparse.Namespace) -> None:
    train, test = _sets(SpaceEncoder(args.cache_dir, "features"), args.cross_n, args.test_n)
    proxy_cols = [i for i, n in enumerate(FEATURE_NAMES) if n.startswith("proxy_")]
    graph_only = [i for i in range(len(FEATURE_NAMES)) if i not in proxy_cols]
    for a, b in PAIRS:
        src, dst = train[a], test[b]
        print(f"{a} -> {b} (train {len(src.y)}, test {len(dst.y)}): params {kendall_tau(dst.params, dst.y):.3f}, "
              f"FLOPs {kendall_tau(dst.flops, dst.y):.3f}", flush=True)
        for name in PRIOR_SIGNALS:
            i = FEATURE_NAMES.index(name)
            print(f"  signal {name:20s} τ {kendall_tau(dst.x[:, i], dst.y):.3f} "
                  f"(in {a}: {kendall_tau(src.x[:, i], src.y):.3f})")
        committee = CommitteePrior.fit(src.x, "features")
        assert committee is not None
        print(f"  committee alone τ {kendall_tau(committee.score(dst.x), dst.y):.3f}")
        graph_heads = np.mean([train_ranker(src.x[:, graph_only], src.y, RankTraining(seed=s)).score(
            dst.x[:, graph_only]) for s in range(args.members)], 0)
        print(f"  heads without proxy inputs τ {kendall_tau(graph_heads, dst.y):.3f}")
        model = fit_ensemble(src.x, src.y, None, "features", args.members, RankTraining(), prior_weight=0.0)
        heads, prior = model.head_scores(dst.x).mean(0), model.prior_scores(dst.x)
        dead = model.prior.dead(dst.x) if model.prior is not None else np.zeros(len(dst.y), bool)
        grid = ", ".join(f"W={w:g}: {kendall_tau(heads + w * prior - DEAD_PENALTY * dead, dst.y):.3f}"
                         for w in WEIGHT_GRID)
        print(f"  heads (+ committee x W, dead last): {grid}", flush=True)


def shipped(args: argparse.Namespace) -> None:
    encoder = SpaceEncoder(args.cache_dir, "features")
    _, test = _sets(encoder, args.cross_n, args.test_n)
    for per_space in (int(n) for n in args.per_space.split(",")):
        train = {s: encoder.encode(s, sample_keys(s, per_space, args.seed)) for s in ("nb201", "macro")}
        both = [train["nb201"], train["macro"]]
        x, y = np.concatenate([s.x for s in both]), np.concatenate([s.y for s in both])
        groups = np.concatenate([np.full(len(s.y), i) for i, s in enumerate(both)])
        training = RankTraining(seed=args.seed)
        weight, how = choose_prior_weight(x, y, groups, "features", "auto", args.members, training)
        print(f"per-space {per_space} (seed {args.seed}): prior weight {weight:g} "
              f"(CV τ over {', '.join(f'{w:g}' for w in WEIGHT_GRID)}: {', '.join(f'{t:.3f}' for t in how['cv_tau'])})",
              flush=True)
        for a, b in PAIRS:
            model = fit_ensemble(train[a].x, train[a].y, None, "features", args.members, training,
                                 prior_weight=weight)
            dst = test[b]
            print(f"  {a} -> {b} (train {len(train[a].y)}, test {len(dst.y)}): "
                  f"τ {kendall_tau(model.predict(dst.x)[0], dst.y):.3f}, "
                  f"heads {kendall_tau(model.head_scores(dst.x).mean(0), dst.y):.3f}, "
                  f"committee {kendall_tau(model.prior_scores(dst.x), dst.y):.3f}, "
                  f"params {kendall_tau(dst.params, dst.y):.3f}, FLOPs {kendall_tau(dst.flops, dst.y):.3f}",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", choices=("modes", "parts", "shipped"), default="parts")
    parser.add_argument("--cross-n", type=int, default=400)
    parser.add_argument("--test-n", type=int, default=2000)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--modes", default="both,chunks,features")
    parser.add_argument("--per-space", default="1000", help="shipped study: comma-separated sizes")
    parser.add_argument("--seed", type=int, default=2, help="shipped study: sampling and training seed")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"modes": modes, "parts": parts, "shipped": shipped}[args.study](args)


if __name__ == "__main__":
    main()
