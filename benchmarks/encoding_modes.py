"""Which encoding ranks best across spaces: text embedding, structural features, or both.

For each mode, encodes N sampled architectures of NB201 and NAS-Bench-Macro (cached under
the cache dir), trains a ranking head on one space and reports Kendall τ on the other,
beside params and FLOPs, plus a within-space τ (train on half, test on the other half).

    .venv/bin/python benchmarks/encoding_modes.py --n 300 --modes both,chunks,features
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentnas.paths import default_cache_dir  # noqa: E402
from agentnas.value.metrics import kendall_tau  # noqa: E402
from agentnas.value.ranking import RankTraining, train_ranker  # noqa: E402
from agentnas.value.spaces import SpaceEncoder, sample_keys  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--modes", default="both,chunks,features")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    args = parser.parse_args()
    torch.set_num_threads(1)
    for mode in args.modes.split(","):
        encoder = SpaceEncoder(args.cache_dir, mode)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        sets = {s: encoder.encode(s, sample_keys(s, args.n, 0)) for s in ("nb201", "macro")}  # type: ignore[arg-type]
        print(f"{mode}: encoded in {time.perf_counter() - t0:.0f} s", flush=True)
        for train, test in (("nb201", "macro"), ("macro", "nb201")):
            a, b = sets[train], sets[test]
            tau = kendall_tau(train_ranker(a.x, a.y, RankTraining()).score(b.x), b.y)
            half = len(b.y) // 2
            within = kendall_tau(train_ranker(b.x[:half], b.y[:half], RankTraining()).score(b.x[half:]), b.y[half:])
            print(f"  {train} -> {test}: tau {tau:.3f} (params {kendall_tau(b.params, b.y):.3f}, "
                  f"FLOPs {kendall_tau(b.flops, b.y):.3f}); within {test}: {within:.3f}", flush=True)


if __name__ == "__main__":
    main()
