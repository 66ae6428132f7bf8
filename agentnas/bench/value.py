"""`agentnas bench value`: how well the value model ranks, and what it costs.

Measured in one run, each figure beside its baselines (parameter count and FLOPs, read
from the same graphs), and beside the two parts of the predictor alone (the learned heads,
the zero-cost committee):
- within-space: ensemble trained on `train_n` NB201 (CIFAR-10) architectures, Kendall τ on
  `test_n` others; the prior weight is chosen by 4-fold CV inside the training set (the
  model is meant for that same space);
- cross-space: trained on `cross_n` architectures of one space only, τ on `test_n` of the
  other (NB201 -> Macro, Macro -> NB201); the prior weight follows the "auto" rule, which
  never looks at the left-out space (one training space: weight 1);
- committee members: τ of each zero-cost signal alone on each test set;
- calibration: the online model (zero-shot prior from Macro + a GP on the results) after
  `train_n` NB201 results: share of held-out accuracies inside 1σ and 2σ;
- latency: sandboxed ONNX export with the proxies + encoding + prediction per candidate,
  p50 and p90, over the example candidates with a warm sandbox; beside it the same
  without the proxies.
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
from agentnas.value.prior import PRIOR_SIGNALS, column
from agentnas.value.ranking import RankTraining
from agentnas.value.spaces import LabelledSet, SpaceEncoder, SpaceName, sample_keys
from agentnas.value.zeroshot import PriorWeight, ZeroShotPredictor, fit_ensemble


def timed_updates(online: OnlineValueModel, task: str, x: Any, y: Any) -> tuple[list[float], float]:
    """Feed results one at a time: seconds per incremental update (one result in, the model
    refitted), then the seconds of one prediction."""
    updates = []
    for xi, yi in zip(x, y, strict=True):
        t0 = time.perf_counter()
        online.observe(task, xi, float(yi))
        updates.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    online.predict(task, x[:1])
    return updates, time.perf_counter() - t0

def _taus(predictor: ZeroShotPredictor, test: LabelledSet) -> dict[str, Any]:
    heads = predictor.head_scores(test.x).mean(0)
    return {"tau": kendall_tau(predictor.predict(test.x)[0], test.y),
            "params_tau": kendall_tau(test.params, test.y), "flops_tau": kendall_tau(test.flops, test.y),
            "heads_tau": kendall_tau(heads, test.y),
            "committee_tau": kendall_tau(predictor.prior_scores(test.x), test.y),
            "prior_weight": predictor.prior_weight, "n_train": predictor.info.get("n_train"),
            "n_test": float(len(test.y))}


def _members(test: LabelledSet, mode: EncodeMode) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in PRIOR_SIGNALS:
        index = column(mode, name)
        if index is not None:
            out[name] = kendall_tau(test.x[:, index], test.y)
    return out


def _latency(cfg: AgentnasConfig, predictor: ZeroShotPredictor, repeats: int,
             proxies: bool = True) -> dict[str, float]:
    from agentnas.evaluator import EvalOptions, Evaluator
    from agentnas.evaluator.proxies import read_proxies_beside
    from agentnas.tasks import get_task

    files = sorted(shipped_dir("examples").glob("mnist1d_*.py"))
    options = EvalOptions(check_only=True, require_export=True, slots=1, device="cpu", isolation=cfg.isolation,
                          proxies=proxies)
    times: list[float] = []
    with_proxies = 0
    with tempfile.TemporaryDirectory() as tmp, \
            Evaluator(get_task("mnist1d"), options, cache_dir=cfg.cache_dir, out_dir=Path(tmp)) as ev:
        ev.warm_up()
        for i in range(repeats + 1):
            for path in files:
                t0 = time.perf_counter()
                result = ev.evaluate_one(path)
                assert result.onnx_path is not None, result.failure
                found = read_proxies_beside(Path(result.onnx_path))
                # Fresh text each time (no embedding cache): the cost of a new candidate.
                encoding = encode_graph(load_onnx(result.onnx_path), predictor.mode, None, proxies=found)
                predictor.predict(encoding.array())
                if i > 0:  # the first round loads the text model
                    times.append(time.perf_counter() - t0)
                    with_proxies += found is not None
    qs = statistics.quantiles(times, n=10)
    return {"p50_seconds": statistics.median(times), "p90_seconds": qs[-1], "n": float(len(times)),
            "with_proxies": float(with_proxies)}


def run_value_bench(cfg: AgentnasConfig, mode: EncodeMode = "features", train_n: int = 200, test_n: int = 2000,
                    cross_n: int = 400, members: int = 5, steps: int = 1500, latency_repeats: int = 5,
                    log: Callable[[str], Any] | None = None, flops_weight: PriorWeight | None = None, *,
                    prior_weight: PriorWeight = "auto") -> dict[str, Any]:
    """`prior_weight` applies to the cross-space fits (the within-space fit always uses "cv");
    `flops_weight` is its former name and wins if given."""
    say = log or (lambda _m: None)
    cross_weight = flops_weight if flops_weight is not None else prior_weight
    encoder = SpaceEncoder(cfg.cache_dir, mode)
    training = RankTraining(steps=steps)

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            say(f"  {done}/{total} new")

    def encode(space: SpaceName, keys: list[str]) -> LabelledSet:
        say(f"encoding {len(keys)} {space} architectures ({mode}; cached ones are free)")
        return encoder.encode(space, keys, progress)

    def fit(data: LabelledSet, weight: PriorWeight) -> ZeroShotPredictor:
        say(f"fitting on {len(data.y)} {data.space} architectures (prior weight: {weight})")
        return fit_ensemble(data.x, data.y, None, mode, members, training, {"n_train": len(data.y)},
                            prior_weight=weight)

    train_keys = sample_keys("nb201", train_n, seed=0)
    nb_train = encode("nb201", train_keys)
    nb_test = encode("nb201", sample_keys("nb201", test_n, seed=1, exclude=set(train_keys)))
    within = fit(nb_train, "cv")
    report: dict[str, Any] = {"mode": mode, "members": members, "within_nb201": _taus(within, nb_test)}

    cross = {s: encode(s, sample_keys(s, cross_n, seed=2)) for s in ("nb201", "macro")}
    macro_test = encode("macro", sample_keys("macro", test_n, seed=1, exclude=set(cross["macro"].keys)))
    tests = {"macro": macro_test, "nb201": nb_test}
    zero_shot: dict[str, ZeroShotPredictor] = {}
    for train_space, test_space in (("nb201", "macro"), ("macro", "nb201")):
        zero_shot[train_space] = fit(cross[train_space], cross_weight)
        report[f"{train_space}_to_{test_space}"] = _taus(zero_shot[train_space], tests[test_space])
    report["committee_members_tau"] = {s: _members(t, mode) for s, t in tests.items()}

    online = OnlineValueModel(prior=zero_shot["macro"].predict)
    updates, one_prediction = timed_updates(online, "nb201-cifar10", nb_train.x, nb_train.y)
    mean, std = online.predict("nb201-cifar10", nb_test.x)
    report["online_nb201"] = {"tau": kendall_tau(mean, nb_test.y), **calibration(mean, std, nb_test.y),
                              "observed": float(len(nb_train.y)),
                              "update_s_p50": statistics.median(updates), "update_s_max": float(max(updates)),
                              "predict_one_s": one_prediction}
    say("latency: sandboxed export (with proxies) + encode + predict per candidate")
    report["latency"] = _latency(cfg, within, latency_repeats)
    # The same without the proxies in the sandbox: what they cost per candidate.
    report["latency_without_proxies"] = _latency(cfg, within, latency_repeats, proxies=False)
    report["sizes"] = {"train_n": train_n, "test_n": test_n, "cross_n": cross_n}
    return report
