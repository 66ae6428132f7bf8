"""`agentnas bench value`: how well the value model ranks, and what it costs.

Measured in one run, each figure beside its baselines (parameter count and FLOPs,
read from the same graphs):
- within-space: ensemble trained on `train_n` NB201 (CIFAR-10) architectures, Kendall τ
  on `test_n` others;
- cross-space: trained on one space only, τ on the other (NB201 -> Macro, Macro -> NB201);
- calibration: the online model (zero-shot prior from the other space + a GP on the
  results) after `train_n` NB201 results: share of held-out accuracies inside 1σ and 2σ;
- latency: sandboxed ONNX export + encoding + prediction per candidate, p50 and p90,
  over the example candidates with a warm sandbox and a warm text encoder.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentnas.config import AgentnasConfig
from agentnas.encode.embed import EncodeMode, encode_graph
from agentnas.encode.onnx_load import load_onnx
from agentnas.paths import shipped_dir
from agentnas.value.metrics import calibration, kendall_tau
from agentnas.value.online import OnlineValueModel
from agentnas.value.ranking import RankTraining
from agentnas.value.spaces import LabelledSet, SpaceEncoder, SpaceName, sample_keys
from agentnas.value.zeroshot import ZeroShotPredictor, fit_ensemble


def _taus(predictor: ZeroShotPredictor, test: LabelledSet) -> dict[str, float]:
    return {"tau": kendall_tau(predictor.predict(test.x)[0], test.y),
            "params_tau": kendall_tau(test.params, test.y), "flops_tau": kendall_tau(test.flops, test.y),
            "n_test": float(len(test.y))}


def _latency(cfg: AgentnasConfig, predictor: ZeroShotPredictor, repeats: int) -> dict[str, float]:
    from agentnas.evaluator import EvalOptions, Evaluator
    from agentnas.tasks import get_task

    files = sorted(shipped_dir("examples").glob("mnist1d_*.py"))
    options = EvalOptions(check_only=True, require_export=True, slots=1, device="cpu", isolation=cfg.isolation)
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, \
            Evaluator(get_task("mnist1d"), options, cache_dir=cfg.cache_dir, out_dir=Path(tmp)) as ev:
        ev.warm_up()
        for i in range(repeats + 1):
            for path in files:
                t0 = time.perf_counter()
                result = ev.evaluate_one(path)
                assert result.onnx_path is not None, result.failure
                # Fresh text each time (no embedding cache): the cost of a new candidate.
                encoding = encode_graph(load_onnx(result.onnx_path), predictor.mode, None)
                predictor.predict(encoding.array())
                if i > 0:  # the first round loads the text model
                    times.append(time.perf_counter() - t0)
    qs = statistics.quantiles(times, n=10)
    return {"p50_seconds": statistics.median(times), "p90_seconds": qs[-1], "n": float(len(times))}


def run_value_bench(cfg: AgentnasConfig, mode: EncodeMode = "both", train_n: int = 200, test_n: int = 2000,
                    cross_n: int = 400, members: int = 5, steps: int = 1500, latency_repeats: int = 3,
                    log: Callable[[str], Any] | None = None, flops_weight: float = 0.5) -> dict[str, Any]:
    say = log or (lambda _m: None)
    encoder = SpaceEncoder(cfg.cache_dir, mode)
    training = RankTraining(steps=steps)

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            say(f"  {done}/{total} new")

    def encode(space: SpaceName, keys: list[str]) -> LabelledSet:
        say(f"encoding {len(keys)} {space} architectures ({mode}; cached ones are free)")
        return encoder.encode(space, keys, progress)

    train_keys = sample_keys("nb201", train_n, seed=0)
    nb_train = encode("nb201", train_keys)
    nb_test = encode("nb201", sample_keys("nb201", test_n, seed=1, exclude=set(train_keys)))
    within = fit_ensemble(nb_train.x, nb_train.y, None, mode, members, training, flops_weight=flops_weight)
    report: dict[str, Any] = {"mode": mode, "members": members, "flops_weight": flops_weight,
                              "within_nb201": _taus(within, nb_test)}

    cross = {s: encode(s, sample_keys(s, cross_n, seed=2)) for s in ("nb201", "macro")}
    zero_shot: dict[str, ZeroShotPredictor] = {}
    for train_space, test_space in (("nb201", "macro"), ("macro", "nb201")):
        source = cross[train_space]
        zero_shot[train_space] = fit_ensemble(source.x, source.y, None, mode, members, training,
                                              flops_weight=flops_weight)
        report[f"{train_space}_to_{test_space}"] = _taus(zero_shot[train_space], cross[test_space])

    online = OnlineValueModel(prior=zero_shot["macro"].predict)
    for xi, yi in zip(nb_train.x, nb_train.y, strict=True):
        online.observe("nb201-cifar10", xi, float(yi))
    mean, std = online.predict("nb201-cifar10", nb_test.x)
    report["online_nb201"] = {"tau": kendall_tau(mean, nb_test.y), **calibration(mean, std, nb_test.y),
                              "observed": float(len(nb_train.y))}
    say("latency: sandboxed export + encode + predict per candidate")
    report["latency"] = _latency(cfg, within, latency_repeats)
    report["sizes"] = {"train_n": train_n, "test_n": test_n, "cross_n": cross_n}
    return report

