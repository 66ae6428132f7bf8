"""The online value model's incremental update and one prediction, on cached NB201 encodings.

Run: .venv/bin/python benchmarks/online_update.py (encodes 200 NB201 architectures first if
they are not cached). Prints update times per result (one result in, the model refitted)
and the time of one prediction with the shipped zero-shot prior.
"""

from __future__ import annotations

import statistics
import time

from agentnas.bench.value import timed_updates
from agentnas.config import load_config
from agentnas.value.online import OnlineValueModel
from agentnas.value.spaces import SpaceEncoder, sample_keys
from agentnas.value.zeroshot import ZeroShotPredictor


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    cfg = load_config(None)
    train = SpaceEncoder(cfg.cache_dir, mode="features").encode("nb201", sample_keys("nb201", 200, seed=0))
    online = OnlineValueModel(prior=ZeroShotPredictor.load().predict)
    updates, first = timed_updates(online, "nb201-cifar10", train.x, train.y)
    warm = []
    for i in range(20):
        t0 = time.perf_counter()
        online.predict("nb201-cifar10", train.x[i:i + 1])
        warm.append(time.perf_counter() - t0)
    ranked = sorted(updates)
    print(f"updates n={len(updates)}: p50 {ms(statistics.median(updates))}, p90 {ms(ranked[int(0.9 * len(ranked))])}, "
          f"max {ms(ranked[-1])}; slow ones (> 100 ms) at results {[i for i, u in enumerate(updates) if u > 0.1]}")
    print(f"one prediction: first {ms(first)}, warm p50 {ms(statistics.median(warm))}, max {ms(max(warm))}")


if __name__ == "__main__":
    main()
