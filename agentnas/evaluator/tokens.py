"""Scoring a trained token model: two scoring steps in fresh sandbox children, the causality
check, then the metrics, all from the returned logits (causal.py says why it is built so).

The training step (the worker's usual job) saw the train split only and left its weights;
here they are copied out, the scratch folder is wiped, and each half of the evaluation
sequences (with the other half's twins) goes to its own child with those weights. Only the
trusted side knows which row is which: the metrics are computed here, and only after the
causality check passed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agentnas.evaluator.causal import PARTS, Plan, log_softmax, look_ahead, make_plan, originals
from agentnas.evaluator.sandbox import SandboxProcess, wipe
from agentnas.evaluator.scoring import UntrustedFileError, log_tail, read_untrusted
from agentnas.records import EvalResult, Failure, FailureKind, Metrics
from agentnas.tasks import TaskData, TaskSpec

WEIGHTS = "weights.pt"


class Steps(Protocol):
    """What scoring needs of the evaluator: run one job in a sandbox, and read how it ended."""

    def run_step(self, sandbox: SandboxProcess, files: dict[str, bytes], paths: dict[str, str] | None = None,
                 **job: Any) -> tuple[dict[str, Any] | str, Path]: ...

    def outcome(self, base: dict[str, Any], reply: dict[str, Any],
                job_dir: Path) -> EvalResult | dict[str, Any]: ...


def _failed(result: EvalResult, kind: FailureKind, message: str, **update: Any) -> EvalResult:
    return result.model_copy(update={"status": "failed", "failure": Failure(kind=kind, message=message), **update})


@dataclass(frozen=True)
class TokenScoring:
    """The task's evaluation data and the limits scoring runs under."""

    data: TaskData
    spec: TaskSpec
    eval_batch_size: int
    weights_limit: int

    def score(self, ev: Steps, sandbox: SandboxProcess, trained: EvalResult, source: bytes,
              train_dir: Path) -> EvalResult:
        """`trained` (the training step's ok result) scored, or failed with a step's or the check's reason."""
        try:
            weights = read_untrusted(train_dir / WEIGHTS, self.weights_limit)
        except UntrustedFileError as e:
            return _failed(trained, FailureKind.CRASH, f"the training step left no trained weights: {e}")
        return _score(ev, sandbox, trained, source, weights, self)


def _score(ev: Steps, sandbox: SandboxProcess, trained: EvalResult, source: bytes, weights: bytes,
           how: TokenScoring) -> EvalResult:
    data, spec = how.data, how.spec
    x = np.concatenate([data.x_val, data.x_test])
    y = np.concatenate([data.y_val, data.y_test])
    plan = make_plan(x, y, spec.vocab_size, how.eval_batch_size)
    logits: dict[str, np.ndarray] = {}
    wall = trained.wall_seconds
    for name in PARTS:
        wipe(sandbox.scratch)  # nothing of the previous step reaches this one
        part = plan.parts[name]
        buf = io.BytesIO()
        np.savez(buf, tokens=part.tokens, positions=part.positions, bounds=part.bounds)
        reply, job_dir = ev.run_step(sandbox, {"model.py": source, WEIGHTS: weights, "eval.npz": buf.getvalue()},
                                     paths={"eval": "eval.npz", "weights": WEIGHTS}, step="score")
        if isinstance(reply, str):
            return _failed(trained, FailureKind.CRASH, f"scoring: {reply}", log_tail=log_tail(job_dir))
        wall += float(reply.get("wall_seconds") or 0.0)
        step = ev.outcome({**trained.model_dump(), "wall_seconds": wall, "log_tail": log_tail(job_dir)},
                          reply, job_dir)
        if isinstance(step, EvalResult):
            failure = step.failure
            assert failure is not None
            return step.model_copy(update={"failure": failure.model_copy(
                update={"message": f"scoring the trained model: {failure.message}"})})
        read = _read_logits(job_dir, len(part.positions), spec.vocab_size)
        if isinstance(read, Failure):
            return _failed(trained, read.kind, read.message, wall_seconds=wall)
        logits[name] = read
    verdict = look_ahead(plan, logits)
    if verdict is not None:
        return _failed(trained, FailureKind.NON_CAUSAL, verdict, wall_seconds=wall)
    metrics = token_metrics(plan, logits, data.y_val, data.y_test, spec.metric.name)
    return trained.model_copy(update={"metrics": metrics, "wall_seconds": wall})


def _read_logits(job_dir: Path, positions: int, vocab: int) -> np.ndarray | Failure:
    limit = 4 * positions * vocab + (1 << 16)
    try:
        raw = read_untrusted(job_dir / "preds.npz", limit)
        with np.load(io.BytesIO(raw), allow_pickle=False) as f:
            logits = np.asarray(f["logits"])
    except (UntrustedFileError, KeyError, ValueError, OSError) as e:
        return Failure(kind=FailureKind.CRASH, message=f"no valid logits from scoring: {e}")
    if logits.shape != (positions, vocab) or logits.dtype != np.float32:
        return Failure(kind=FailureKind.CRASH, message=f"scoring returned logits {logits.shape} {logits.dtype}; "
                                                       f"expected ({positions}, {vocab}) float32")
    if not np.isfinite(logits).all():
        return Failure(kind=FailureKind.NONFINITE_LOSS, message="the logits of evaluation sequences are not finite")
    return logits


def token_metrics(plan: Plan, logits: dict[str, np.ndarray], y_val: np.ndarray, y_test: np.ndarray,
                  metric: str) -> Metrics:
    """Loss per scored token (nats) and next-token accuracy on val and test; the score is the task metric's."""
    per = originals(plan, logits)
    out: dict[str, float] = {}
    counts: dict[str, int] = {}
    for split, lo, y in (("val", 0, y_val), ("test", len(y_val), y_test)):
        idx = range(lo, lo + len(y))
        lp = np.concatenate([log_softmax(per[i]) for i in idx])                   # (P, V)
        target = np.concatenate([y[i - lo][plan.scored[i]] for i in idx])          # (P,)
        out[f"{split}_loss"] = float(-lp[np.arange(len(target)), target].mean())
        out[f"{split}_accuracy"] = float((lp.argmax(axis=1) == target).mean())
        counts[split] = len(target)
    return Metrics(val_accuracy=out["val_accuracy"], test_accuracy=out["test_accuracy"], val_loss=out["val_loss"],
                   test_loss=out["test_loss"], metric=metric, val_score=out[f"val_{metric}"],
                   test_score=out[f"test_{metric}"], scored_tokens=counts["val"])
