"""One evaluation, in a process forked from the zygote. Runs inside the sandbox.

Order matters: limits and the seccomp filter go on BEFORE the candidate's code is
imported, so nothing the candidate does runs unconfined. The candidate shares this
process with the training loop, so anything it could tamper with is checked again
after it ran (torch's training entry points must be the ones we started with), and
the trusted side recomputes every metric from the predictions written here.

Files written to the job folder: log.txt (stdout/stderr), result.json, preds.npz,
model.onnx; for token models weights.pt (the training step) or preds.npz (the scoring
steps, see tokens.py). Imports only stdlib, numpy and torch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import resource
import signal
import sys
import time
import traceback
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import proxies as zero_cost  # noqa: E402
import seccomp  # noqa: E402
import shapecheck  # noqa: E402
import timing  # noqa: E402
import tokens  # noqa: E402
import train as trainer  # noqa: E402
from failures import Failure  # noqa: E402
from failures import limit_hit as _limit_hit  # noqa: E402


def _guarded_callables() -> dict[str, Any]:
    """The torch entry points training relies on; a candidate must not replace them."""
    F = torch.nn.functional
    return {
        "torch.optim.Adam.step": torch.optim.Adam.step,
        "torch.optim.AdamW.step": torch.optim.AdamW.step,
        "torch.optim.SGD.step": torch.optim.SGD.step,
        "torch.optim.Optimizer.zero_grad": torch.optim.Optimizer.zero_grad,
        "torch.Tensor.backward": torch.Tensor.backward,
        "torch.autograd.backward": torch.autograd.backward,
        "torch.nn.functional.cross_entropy": F.cross_entropy,
        "torch.nn.Module.__call__": torch.nn.Module.__call__,
        "torch.nn.Module.parameters": torch.nn.Module.parameters,
        "torch.nn.Module.train": torch.nn.Module.train,
        "torch.randperm": torch.randperm,
        "torch.cat": torch.cat,
        "torch.as_tensor": torch.as_tensor,
        "torch.Tensor.argmax": torch.Tensor.argmax,
        "numpy.savez": np.savez,
        # Every global of the training loop (train, predict, make_optimizer, lr_factor, F, ...).
        **{f"trainer.{k}": v for k, v in vars(trainer).items() if not k.startswith("__")},
    }


def _prime_optimizers() -> None:
    """Construct each optimizer once: torch wraps `Optimizer.step` with a profiling hook on
    first construction, which must not be mistaken for tampering by the candidate."""
    dummy = [torch.nn.Parameter(torch.zeros(1))]
    for cls in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
        cls(dummy, lr=0.1)


def _check_untampered(expected: dict[str, Any]) -> None:
    changed = [name for name, fn in _guarded_callables().items() if fn is not expected[name]]
    if changed:
        raise Failure("isolation_violation", f"candidate replaced {', '.join(changed)}")


def _confine(job: dict[str, Any]) -> None:
    """Limits, then the seccomp filter. Soft = hard, so the candidate cannot raise them
    (except CPU time: see below)."""
    def limit(res: int, value: int) -> None:
        resource.setrlimit(res, (value, value))

    if job["device"] == "cpu" and job.get("memory_limit_bytes"):
        # The forked child already maps torch; the budget is on top of that baseline.
        limit(resource.RLIMIT_AS, timing.vm_bytes() + int(job["memory_limit_bytes"]))
    # At the hard CPU limit the kernel sends SIGKILL (checked before the soft one), which
    # reads as "out of memory"; a soft limit one second lower delivers SIGXCPU first: a timeout.
    resource.setrlimit(resource.RLIMIT_CPU, (int(job["cpu_seconds"]), int(job["cpu_seconds"]) + 1))
    limit(resource.RLIMIT_FSIZE, int(job["file_size_limit_bytes"]))
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, 256)
    limit(resource.RLIMIT_NPROC, 64)  # defence in depth; seccomp is what really blocks fork
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversize write fails with EFBIG instead
    seccomp.install(os.getpid())


def _load_candidate(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        compile(source, path, "exec")
    except SyntaxError as e:
        raise Failure("syntax", f"{type(e).__name__}: {e.msg} (line {e.lineno})") from e
    except (UnicodeDecodeError, ValueError) as e:
        raise Failure("syntax", f"cannot read candidate source: {e}") from e
    spec = importlib.util.spec_from_file_location("candidate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise _limit_hit(e) or Failure("import", f"{type(e).__name__}: {e}") from e
    if not callable(getattr(module, "build_model", None)):
        raise Failure("import", "the candidate does not define build_model(...)")
    return module


def _is_tokens(job: dict[str, Any]) -> bool:
    return job.get("kind") == "causal_lm"


def _sample(job: dict[str, Any], x: np.ndarray, n: int) -> torch.Tensor:
    """The first `n` inputs as the model takes them: int64 tokens or float32 arrays."""
    return tokens.as_tokens(x[:n]) if _is_tokens(job) else torch.as_tensor(x[:n], dtype=torch.float32)


def _count_flops(model: torch.nn.Module, sample: torch.Tensor, device: str) -> int | None:
    try:
        from torch.utils.flop_counter import FlopCounterMode
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(sample.to(device))
        return int(counter.get_total_flops())
    except Exception:
        return None  # FLOPs are informative only


def _export_onnx(model: torch.nn.Module, sample: torch.Tensor, path: str,
                 input_name: str = "input") -> tuple[str | None, str | None]:
    """Export with the fast TorchScript exporter, falling back to dynamo. (exporter, error).

    No constant folding: it would fuse BatchNorm into the preceding conv, and the graph is
    exported to describe the architecture (agentnas/encode folds the leftover plumbing).
    Token models are exported with their int64 token input (1, T)."""
    errors = []
    model = model.cpu().eval()
    exporters = (("torchscript", {"dynamo": False, "do_constant_folding": False}), ("dynamo", {"dynamo": True}))
    for exporter, kwargs in exporters:
        try:
            torch.onnx.export(model, (sample,), path, input_names=[input_name], output_names=["logits"],
                              external_data=False, verbose=False, **kwargs)
            return exporter, None
        except Exception as e:
            errors.append(f"{exporter}: {type(e).__name__}: {str(e)[:300]}")
            if os.path.exists(path):
                os.remove(path)
    return None, "; ".join(errors)


def _export_torchscript(model: torch.nn.Module, sample: torch.Tensor, path: str) -> str | None:
    """Trace the model into a TorchScript archive (operators and weights, none of the
    candidate's Python) for the trusted side to time through torch on the evaluation device
    (sandbox/torch_latency.py). The error, or None."""
    import warnings

    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # trace is deprecated and warns on every data-dependent branch
            traced = torch.jit.trace(model.cpu().eval(), (sample,), check_trace=False)
            torch.jit.save(traced, path)
        return None
    except Exception as e:
        if os.path.exists(path):
            os.remove(path)
        return f"{type(e).__name__}: {str(e)[:300]}"


class _ProxyTimeout(BaseException):
    """Raised by the alarm that caps the proxies' time (BaseException: model code that
    catches Exception does not swallow it)."""


def _zero_cost_proxies(model: torch.nn.Module,
                       job: dict[str, Any]) -> tuple[dict[str, float | None] | None, str | None]:
    """The zero-cost proxies of the freshly built model (proxies.py), or (None, why not).

    Runs after every check and before training, on copies of the model, under a wall-clock
    alarm of `proxy_seconds`; whatever goes wrong only costs the proxies, never the
    evaluation. The numbers come from the candidate's own process, so the trusted side
    range-checks them and uses them as a prior only."""
    seconds = float(job.get("proxy_seconds", 5.0))
    armed = [True]

    def expire(signum: int, frame: Any) -> None:
        if armed[0]:  # a handler run late, after the alarm was disarmed, must not raise
            raise _ProxyTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return zero_cost.compute_proxies(model, tuple(job["input_shape"]), int(job["num_classes"])), None
        finally:  # an alarm that fires in here is still caught below
            signal.setitimer(signal.ITIMER_REAL, 0)
            armed[0] = False
    except _ProxyTimeout:
        return None, f"the proxies took longer than {seconds:g} s"
    except Exception as e:  # a model the proxies cannot handle (or out of memory): no proxies
        return None, f"{type(e).__name__}: {e}"[:300]
    finally:
        signal.signal(signal.SIGALRM, previous)


def _classify(e: BaseException) -> Failure:
    if isinstance(e, Failure):
        return e
    if isinstance(e, trainer.NonFiniteLoss):
        return Failure("nonfinite_loss", str(e))
    return _limit_hit(e) or Failure("crash", f"{type(e).__name__}: {e}"[:500])


def _build(job: dict[str, Any], guarded: dict[str, Any]) -> torch.nn.Module:
    """Import the candidate and call its build_model with the arguments of the task kind's contract."""
    module = _load_candidate(job["candidate"])
    _check_untampered(guarded)
    args = ((int(job["num_classes"]), int(job["input_shape"][0])) if _is_tokens(job)
            else (tuple(job["input_shape"]), int(job["num_classes"])))
    try:
        model = module.build_model(*args)
    except Exception as e:
        raise _limit_hit(e) or Failure("build", f"build_model raised {type(e).__name__}: {e}") from e
    if not isinstance(model, torch.nn.Module):
        raise Failure("build", f"build_model returned {type(model).__name__}, not torch.nn.Module")
    _check_untampered(guarded)
    return model


def _score_tokens(job: dict[str, Any], model: torch.nn.Module, guarded: dict[str, Any]) -> dict[str, Any]:
    """A token evaluation's scoring step: the trained weights, then logits at the asked positions."""
    rows = tokens.read_eval(job["eval"])
    tokens.load_weights(model, job["weights"])
    model = model.to(job["device"])
    _check_untampered(guarded)
    logits = tokens.predict_positions(model, rows["tokens"], rows["positions"], rows["bounds"],
                                      int(job["num_classes"]), job["device"])
    _check_untampered(guarded)
    np.savez("preds.npz", logits=logits)
    return {"status": "ok"}


def evaluate(job: dict[str, Any], data: dict[str, np.ndarray]) -> dict[str, Any]:
    device, recipe = job["device"], job["recipe"]
    seed = int(recipe.get("seed", 0))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    _prime_optimizers()
    guarded = _guarded_callables()
    model = _build(job, guarded).to(device)
    if job.get("step") == "score":
        return _score_tokens(job, model, guarded)
    shapecheck.check_shape(model, _sample(job, data["x_train"], 2).to(device), int(job["num_classes"]),
                           _is_tokens(job))
    params = trainer.count_params(model)
    if job.get("max_params") and params > int(job["max_params"]):
        raise Failure("over_budget", f"{params} parameters exceed the limit of {job['max_params']}")
    flops = _count_flops(model, _sample(job, data["x_train"], 1), device)
    exporter, export_error, torchscript_error = (None, "skipped", "skipped")
    if job.get("export_onnx", True):
        exporter, export_error = _export_onnx(model, _sample(job, data["x_train"], 1), "model.onnx",
                                              "tokens" if _is_tokens(job) else "input")
        if exporter is not None and job.get("export_torchscript"):
            torchscript_error = _export_torchscript(model, _sample(job, data["x_train"], 1), "model.ts")
        model = model.to(device)
        if exporter is None and job.get("require_export"):
            raise Failure("export", export_error or "export failed")
    proxies, proxy_error = None, "skipped"
    if job.get("proxies") and _is_tokens(job):
        proxy_error = "the zero-cost proxies are defined for classification inputs only"
    elif job.get("proxies"):
        proxies, proxy_error = _zero_cost_proxies(model, job)
        _check_untampered(guarded)  # the proxies ran the candidate's forward and backward
    if job.get("check_only"):
        stats = trainer.TrainStats(steps=0, final_loss=float("nan"), train_seconds=0.0)
        val = test = np.zeros((0, int(job["num_classes"])), np.float32)
    else:
        stats = trainer.train(model, data["x_train"], data["y_train"], recipe, device)
        _check_untampered(guarded)
    if _is_tokens(job):
        if not job.get("check_only"):
            tokens.save_weights(model)  # the scoring steps load these; this process sees no val/test input
    else:
        if not job.get("check_only"):
            bs = int(recipe.get("eval_batch_size", 1000))
            val = trainer.predict(model, data["x_val"], bs, device)
            test = trainer.predict(model, data["x_test"], bs, device)
            _check_untampered(guarded)
        np.savez("preds.npz", val=val, test=test)
    return {"status": "ok", "params": params, "flops": flops, "steps": stats.steps,
            "final_loss": stats.final_loss, "train_seconds": stats.train_seconds,
            "exporter": exporter, "export_error": export_error, "torchscript_error": torchscript_error,
            "proxies": proxies, "proxy_error": proxy_error}


def run_child(job: dict[str, Any], data: dict[str, np.ndarray]) -> None:
    """Entry point in the forked child: never returns."""
    code = 0
    try:
        os.chdir(job["dir"])
        log_fd = os.open("log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null_fd = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.closerange(3, 1 << 16)  # drop the zygote's protocol pipes and data files
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives until _exit
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.environ.update(HOME=job["dir"], TMPDIR=job["dir"])
        torch.set_num_threads(int(job.get("threads", 1)))
        _confine(job)
        t0 = time.perf_counter()
        try:
            result = evaluate(job, data)
        except BaseException as e:  # noqa: BLE001 - every failure becomes a typed result
            failure = _classify(e)
            traceback.print_exc()
            result = {"status": "failed", "kind": failure.kind, "message": failure.message}
        result["worker_seconds"] = time.perf_counter() - t0
        with open("result.json", "w") as f:
            json.dump(result, f)
    except BaseException:
        traceback.print_exc()
        code = 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    """Fresh-interpreter entry (GPU jobs): `python -I worker.py JOB_JSON`."""
    job = json.loads(sys.argv[1])
    with np.load(job["data"], allow_pickle=False) as f:
        data = {k: np.ascontiguousarray(f[k]) for k in f.files}
    run_child(job, data)


if __name__ == "__main__":
    main()
