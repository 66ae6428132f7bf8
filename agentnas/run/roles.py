"""The roles of an expansion on a real task: the sandbox check, the value scorer, the
sandbox trainer, and the offline analyst.

Candidate code is untrusted: it is only ever written to a file and handed to the sandbox
(`Evaluator`); the trusted side reads back the exported ONNX with the safe loader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from agentnas.agents.state import Candidate, Context
from agentnas.encode.costs import read_costs_beside
from agentnas.encode.embed import encode_graph
from agentnas.encode.onnx_load import load_onnx
from agentnas.evaluator.proxies import read_proxies_beside
from agentnas.records import ACCURACY, CostLimits, Costs, EvalResult, Failure, FailureKind, Metric
from agentnas.run.costs import CostCheck
from agentnas.search.fidelity import Halving


class Evaluates(Protocol):
    def evaluate(self, paths: Sequence[Path]) -> list[EvalResult]: ...


def write_candidate(root: Path, candidate: Candidate) -> Path:
    """`root/<id>/model.py` holding the candidate's code (rewritten if it changed)."""
    path = Path(root) / candidate.id / "model.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != candidate.code:
        path.write_text(candidate.code, encoding="utf-8")
    return path


def _failed(c: Candidate, result: EvalResult, status: str) -> Candidate:
    failure = result.failure
    return c.model_copy(update={"status": status, "failure_kind": str(failure.kind) if failure else "crash",
                                "failure_message": (failure.message if failure else "failed")[:2000]})


class SandboxChecker:
    """Build, shape check, parameter count and ONNX export in the sandbox (no training); then,
    with `costs`, the graph's deployment costs measured here and held against the user's limits."""

    def __init__(self, evaluator: Evaluates, root: Path, max_params: int | None = None,
                 costs: CostCheck | None = None) -> None:
        self.evaluator, self.root, self.max_params, self.costs = evaluator, Path(root), max_params, costs

    def check(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        paths = [write_candidate(self.root, c) for c in candidates]
        out: list[Candidate] = []
        for c, result in zip(candidates, self.evaluator.evaluate(paths), strict=True):
            if not result.ok:
                out.append(_failed(c, result, "failed"))
                continue
            limit = ctx.max_params or self.max_params
            if limit is not None and result.params is not None and result.params > limit:
                out.append(c.model_copy(update={"status": "failed", "failure_kind": str(FailureKind.OVER_BUDGET),
                                                "failure_message": f"{result.params:,} parameters exceed the "
                                                                   f"budget of {limit:,}", "params": result.params}))
                continue
            if result.onnx_path is None:
                out.append(c.model_copy(update={"status": "failed", "failure_kind": "export",
                                                "failure_message": result.export_error or "no ONNX file"}))
                continue
            costs, failure = self._over(result.onnx_path, result.params, ctx)
            if failure is not None:
                out.append(c.model_copy(update={"status": "failed", "failure_kind": str(failure.kind),
                                                "failure_message": failure.message, "params": result.params,
                                                "costs": costs}))
                continue
            out.append(c.model_copy(update={"status": "checked", "params": result.params,
                                            "onnx_path": result.onnx_path, "costs": costs}))
        return out

    def _over(self, onnx_path: str, params: int | None, ctx: Context) -> tuple[Costs | None, Failure | None]:
        """(the measured costs, the failure of a candidate that breaks a limit or cannot be measured)."""
        if self.costs is None:
            return None, None
        chat = CostLimits(max_latency_ms=ctx.max_latency_ms, max_macs=ctx.max_macs, max_size_mb=ctx.max_size_mb)
        costs = self.costs.measure(onnx_path, latency=ctx.max_latency_ms is not None)
        if isinstance(costs, Failure):
            return None, costs
        return costs, self.costs.judge(costs, params, chat)


# Words a user may type for an operation, and the ONNX op types they stand for.
OP_ALIASES: dict[str, tuple[str, ...]] = {
    "conv": ("Conv",), "convolution": ("Conv",), "linear": ("Gemm", "MatMul"), "dense": ("Gemm", "MatMul"),
    "attention": ("Softmax",), "softmax": ("Softmax",), "lstm": ("LSTM",), "gru": ("GRU",), "rnn": ("RNN",),
    "batchnorm": ("BatchNormalization",), "layernorm": ("LayerNormalization",), "dropout": ("Dropout",),
    "maxpool": ("MaxPool",), "avgpool": ("AveragePool", "GlobalAveragePool"), "relu": ("Relu",),
    "gelu": ("Gelu", "Erf"), "sigmoid": ("Sigmoid",), "tanh": ("Tanh",),
}


def op_types(word: str) -> tuple[str, ...]:
    """The ONNX op types a user's word stands for ("LSTMs" and "lstm" alike); an unknown word
    is taken as an op type itself."""
    key = word.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if key not in OP_ALIASES and key.endswith("s") and key[:-1] in OP_ALIASES:
        key = key[:-1]
    return OP_ALIASES.get(key, (word.strip(),))


def violated(ops: dict[str, int], banned: list[str], required: list[str]) -> str | None:
    """Why a graph with these op counts breaks the user's constraints, or None."""
    present = {op for op, n in ops.items() if n}
    for word in banned:
        hit = present & set(op_types(word))
        if hit:
            return f"uses {word} ({', '.join(sorted(hit))}), which the user banned"
    for word in required:
        if not present & set(op_types(word)):
            return f"does not use {word}, which the user required"
    return None


Predict = Callable[[str, np.ndarray], tuple[np.ndarray, np.ndarray]]
Novelty = Callable[[Candidate, np.ndarray], tuple[str, str | None]]


class ValueScorer:
    """Encode each checked candidate's ONNX graph, ask the novelty judge, predict (mean, std)."""

    def __init__(self, predict: Predict, novelty: Novelty | None = None) -> None:
        self.predict, self.novelty = predict, novelty

    def score(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        out: list[Candidate] = []
        for c in candidates:
            assert c.onnx_path is not None
            try:
                # The zero-cost proxies the sandbox measured at export, kept beside the graph.
                encoding = encode_graph(load_onnx(c.onnx_path), "features",
                                        proxies=read_proxies_beside(Path(c.onnx_path)))
            except Exception as e:  # an odd graph is this candidate's failure, not the run's
                out.append(c.model_copy(update={"status": "failed", "failure_kind": "export",
                                                "failure_message": f"cannot encode the graph: {e}"}))
                continue
            broken = violated(encoding.features.ops, ctx.banned_ops, ctx.required_ops)
            if broken is not None:
                out.append(c.model_copy(update={"status": "failed", "failure_kind": "constraint",
                                                "failure_message": f"the graph {broken}"}))
                continue
            x = encoding.array()
            c = c.model_copy(update={"graph_hash": encoding.text_sha256})
            verdict, nearest = self.novelty(c, x) if self.novelty else ("novel", None)
            mean, std = self.predict(ctx.task, x[None, :])
            out.append(c.model_copy(update={
                "status": "duplicate" if verdict == "duplicate" else "scored", "features": [float(v) for v in x],
                "flops": encoding.features.flops, "novelty": verdict, "nearest_id": nearest,
                "mean": float(mean[0]), "std": float(std[0])}))
        return out


Lookup = Callable[[Candidate, str], Candidate | None]
OnResult = Callable[[Candidate, EvalResult, Context, str], Candidate]


class SandboxTrainer:
    """Real training under the task's recipe. Idempotent: `lookup(c, fidelity)` returns a
    candidate whose experiment is already recorded, and `on_result` records each new one as
    soon as its evaluation ends (so a kill loses at most the evaluations in flight).

    With `short` (an evaluator with fewer epochs) training is successive halving, by the rule of
    every search (agentnas.search.fidelity.Halving): the candidates one expansion grants are a
    bracket; each first gets the short run (fidelity "low"), and the best of the bracket by the
    task's metric (`halving.promoted`) go on to the full recipe (fidelity "full").

    Under the user's `ctx.max_train_seconds`, `time_limited(fidelity, seconds)` gives an
    evaluator whose wall-clock limit is that (so a slow candidate is stopped, not waited
    for); a result over the limit is a failed evaluation either way, and says why.
    """

    def __init__(self, evaluator: Evaluates, root: Path, lookup: Lookup, on_result: OnResult, *,
                 short: Evaluates | None = None, halving: Halving | None = None, metric: Metric = ACCURACY,
                 remaining: Callable[[], int | None] | None = None,
                 time_limited: Callable[[str, float], Evaluates] | None = None) -> None:
        self.evaluator, self.root, self.lookup, self.on_result = evaluator, Path(root), lookup, on_result
        self.short, self.remaining, self.metric = short, remaining, metric
        self.halving = halving or Halving.keeping(0.5, 0.5)
        self.time_limited = time_limited

    def _run(self, ctx: Context, candidates: list[Candidate], evaluator: Evaluates, fidelity: str
             ) -> dict[str, Candidate]:
        done = {c.id: self.lookup(c, fidelity) for c in candidates}
        todo = [c for c in candidates if done[c.id] is None]
        left = self.remaining() if self.remaining is not None else None
        if left is not None:  # never train past the evaluation budget
            todo = todo[:left]
        if todo:
            limit = ctx.max_train_seconds
            if limit is not None and self.time_limited is not None:
                evaluator = self.time_limited(fidelity, limit)
            results = evaluator.evaluate([write_candidate(self.root, c) for c in todo])
            for c, result in zip(todo, results, strict=True):
                # The costs its check measured (the training does not export the graph again).
                result = result.model_copy(update={"costs": result.costs or read_costs_beside(c.onnx_path)})
                done[c.id] = self.on_result(c, within_time(result, limit), ctx, fidelity)
        return {k: v for k, v in done.items() if v is not None}

    def train(self, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
        if self.short is None:
            full = self._run(ctx, candidates, self.evaluator, "full")
            return [full[c.id] for c in candidates if c.id in full]
        low = self._run(ctx, candidates, self.short, "low")
        best = set(self.halving.best({i: c.val_score for i, c in low.items()
                                      if c.status == "trained" and c.val_score is not None}, self.metric))
        promoted = [c for c in candidates if c.id in best]
        full = self._run(ctx, promoted, self.evaluator, "full") if promoted else {}
        return [full.get(c.id, low[c.id]) for c in candidates if c.id in low]


def within_time(result: EvalResult, limit: float | None) -> EvalResult:
    """The result as the user's training-time limit sees it: a timeout or a training longer
    than the limit is a failed evaluation whose message names the limit."""
    if limit is None:
        return result
    took = result.train_seconds if result.train_seconds is not None else result.wall_seconds
    timed_out = result.failure is not None and result.failure.kind == FailureKind.TIMEOUT
    if not timed_out and (not result.ok or took <= limit):
        return result
    message = (f"training exceeded the user's limit of {limit:g} s per evaluation" if timed_out else
               f"training took {took:.1f} s, over the user's limit of {limit:g} s per evaluation")
    return result.model_copy(update={"status": "failed", "metrics": None,
                                     "failure": Failure(kind=FailureKind.TIMEOUT, message=message)})


def trained(c: Candidate, result: EvalResult, experiment_id: str) -> Candidate:
    """The candidate after its evaluation: `trained` with metrics, or `eval_failed`."""
    if not result.ok or result.metrics is None:
        return _failed(c, result, "eval_failed").model_copy(update={"experiment_id": experiment_id})
    return c.model_copy(update={"status": "trained", "experiment_id": experiment_id,
                                "val_accuracy": result.metrics.val_accuracy,
                                "test_accuracy": result.metrics.test_accuracy,
                                "val_score": result.metrics.val_score, "test_score": result.metrics.test_score,
                                "params": result.params if result.params is not None else c.params})
