"""The evaluator: trains candidate files in sandboxes, in parallel slots, and scores them.

Each slot owns one sandboxed zygote (sandbox/zygote.py) that imported torch once and
forks a fresh, confined child per candidate. The child gets the train inputs and labels
and the val/test inputs only; the labels of val and test stay here, where every metric is
computed (scoring.py). Token tasks take three children per candidate (tokens.py): one
trains without seeing any val/test input, two score halves of them for the causality
check. Every outcome is an `EvalResult`; nothing a candidate does stops the evaluator.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import queue
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from agentnas.evaluator.isolation import Isolation, get_isolation
from agentnas.evaluator.latency import TORCHSCRIPT_FILE
from agentnas.evaluator.sandbox import SandboxDied, SandboxProcess
from agentnas.evaluator.sandbox import wipe as _wipe
from agentnas.evaluator.scoring import log_tail, read_untrusted, read_worker_result, score_predictions
from agentnas.evaluator.tokens import TokenScoring
from agentnas.records import EvalResult, Failure, FailureKind
from agentnas.tasks import Task, TaskData


class EvalOptions(BaseModel):
    """How candidates are evaluated; the training recipe itself belongs to the task."""

    epochs: int | None = Field(default=None, gt=0, description="override the recipe's epochs")
    seed: int | None = Field(default=None, ge=0, description="override the recipe's seed")
    timeout_s: float = Field(default=600.0, gt=0)
    memory_limit_gb: float = Field(default=4.0, gt=0)
    file_size_limit_mb: float = Field(default=256.0, gt=0)
    scratch_limit_mb: float = Field(default=1024.0, gt=0, description="all files the candidate writes")
    max_files: int = Field(default=10_000, gt=0)
    max_threads: int = Field(default=1024, gt=0)
    slots: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    threads_per_slot: int = Field(default=1, gt=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    isolation: Literal["auto", "bwrap", "unshare", "none"] = "auto"
    allow_unsafe: bool = False
    export_onnx: bool = True
    require_export: bool = False
    export_torchscript: bool = Field(default=False, description="also trace the model to TorchScript (model.ts "
                                     "beside model.onnx) for its latency through torch (sandbox/torch_latency.py)")
    check_only: bool = False
    max_params: int | None = None
    proxies: bool | None = Field(default=None, description="compute the zero-cost proxies in the sandbox "
                                 "(sandbox/proxies.py); default: in check-only runs, where the value model needs them")
    proxy_seconds: float = Field(default=5.0, gt=0, description="wall-clock cap on the proxies")


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    if not os.path.exists("/dev/nvidiactl"):
        return "cpu"
    import torch  # only where a GPU may exist: importing torch costs seconds

    return "cuda" if torch.cuda.is_available() else "cpu"


def sandbox_data_file(task: Task, data: TaskData, data_dir: Path) -> Path:
    """Write (once) the label-free arrays the sandbox may see: train x/y, val x, test x.

    Token tasks: train only. Their val/test inputs contain the targets, so the scoring steps
    get them in halves, mixed with the causality probes (tokens.py), never as one file."""
    arrays = {"x_train": data.x_train, "y_train": data.y_train, "x_val": data.x_val, "x_test": data.x_test}
    if task.spec.kind == "causal_lm":
        arrays = {"x_train": data.x_train, "y_train": data.y_train}
    digest = hashlib.sha256()
    for key in sorted(arrays):
        digest.update(key.encode() + np.ascontiguousarray(arrays[key]).tobytes())
    path = data_dir / f"{task.spec.name}-{digest.hexdigest()[:16]}.npz"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    return path


_SIGNAL_NAMES = {int(s): s.name for s in signal.Signals}


def _keep_proxies(raw: Any, onnx_path: str | None) -> dict[str, float | None] | None:
    """The sandbox's proxies, range-checked (the candidate's process computed them), also
    written beside the kept ONNX so that whoever encodes that graph later finds them."""
    from agentnas.evaluator.proxies import PROXIES_FILE, checked_proxies

    proxies = checked_proxies(raw)
    if proxies is not None and onnx_path is not None:
        Path(onnx_path).with_name(PROXIES_FILE).write_text(json.dumps(proxies), encoding="utf-8")
    return proxies


def _failed(base: dict[str, Any], kind: FailureKind, message: str) -> EvalResult:
    return EvalResult.model_validate({**base, "status": "failed", "failure": Failure(kind=kind, message=message)})


class Evaluator:
    """Evaluate candidate files on one task. Use as a context manager (it owns processes)."""

    def __init__(self, task: Task, options: EvalOptions | None = None, *, cache_dir: Path,
                 out_dir: Path | None = None, isolation: Isolation | None = None) -> None:
        self.task, self.options = task, options or EvalOptions()
        self.isolation = isolation or get_isolation(self.options.isolation, self.options.allow_unsafe)
        self.device = resolve_device(self.options.device)
        self.recipe = task.spec.recipe.with_epochs(self.options.epochs).with_seed(self.options.seed)
        self.data = task.load(cache_dir)
        self.data_dir = cache_dir / "sandbox-data"
        self.data_file = sandbox_data_file(task, self.data, self.data_dir)
        self.out_dir = out_dir.resolve() if out_dir is not None else None
        self._work = Path(tempfile.mkdtemp(prefix="agentnas-eval-"))
        devices = tuple(sorted(glob.glob("/dev/nvidia*"))) if self.device == "cuda" else ()
        self._slots: queue.Queue[SandboxProcess] = queue.Queue()
        hidden = task.hidden_paths()
        self.sandboxes = [
            SandboxProcess(self.isolation, self._work / f"slot{i}" / "scratch", self.data_dir,
                           self._work / f"slot{i}" / "private", devices, hidden)
            for i in range(self.options.slots)
        ]
        for s in self.sandboxes:
            self._slots.put(s)

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for s in self.sandboxes:
            s.kill()
        shutil.rmtree(self._work, ignore_errors=True)

    def warm_up(self) -> None:
        """Start every sandbox now (in parallel) instead of on first use."""
        with ThreadPoolExecutor(len(self.sandboxes)) as pool:
            list(pool.map(lambda s: s.alive or s.start(), self.sandboxes))

    def evaluate(self, paths: Sequence[Path],
                 on_result: Callable[[EvalResult], None] | None = None) -> list[EvalResult]:
        """Evaluate files in parallel slots; results come back in the order of `paths`."""
        def one(path: Path) -> EvalResult:
            result = self.evaluate_one(path)
            if on_result is not None:
                on_result(result)
            return result

        pool = ThreadPoolExecutor(max(1, min(len(self.sandboxes), len(paths))))
        try:
            futures = [pool.submit(one, p) for p in paths]
            return [f.result() for f in futures]
        except BaseException:
            # Ctrl-C or an error: stop now rather than after every running evaluation.
            pool.shutdown(wait=False, cancel_futures=True)
            for sandbox in self.sandboxes:
                sandbox.terminate()
            raise
        finally:
            pool.shutdown(wait=True)

    def evaluate_one(self, path: Path) -> EvalResult:
        sandbox = self._slots.get()
        try:
            return self._run(sandbox, Path(path))
        finally:
            self._slots.put(sandbox)

    def _job(self, sandbox: SandboxProcess, job_dir: Path) -> dict[str, Any]:
        o, spec = self.options, self.task.spec
        return {
            "id": job_dir.name, "dir": sandbox.inside(job_dir), "kind": spec.kind,
            "candidate": sandbox.inside(job_dir / "model.py"), "data": sandbox.inside(self.data_file),
            "recipe": self.recipe.model_dump(), "input_shape": list(spec.input_shape),
            "num_classes": spec.num_classes, "device": self.device, "timeout": o.timeout_s,
            "cpu_seconds": int(o.timeout_s * o.threads_per_slot) + 5,
            "memory_limit_bytes": int(o.memory_limit_gb * 2**30),
            "file_size_limit_bytes": int(o.file_size_limit_mb * 2**20),
            "scratch_limit_bytes": int(o.scratch_limit_mb * 2**20), "max_files": o.max_files,
            "max_threads": o.max_threads,
            "threads": o.threads_per_slot, "export_onnx": o.export_onnx, "export_torchscript": o.export_torchscript,
            "require_export": o.require_export, "check_only": o.check_only, "max_params": o.max_params,
            "proxies": o.check_only if o.proxies is None else o.proxies, "proxy_seconds": o.proxy_seconds,
        }

    def _run(self, sandbox: SandboxProcess, path: Path) -> EvalResult:
        base: dict[str, Any] = {"path": str(path), "task": self.task.spec.name, "epochs": self.recipe.epochs,
                                "seed": self.recipe.seed, "isolation": self.isolation.name}
        try:
            source = path.read_bytes()
        except OSError as e:
            return _failed(base, FailureKind.IMPORT, f"cannot read {path}: {e.strerror}")
        try:
            reply, job_dir = self.run_step(sandbox, {"model.py": source})
            if isinstance(reply, str):
                return _failed({**base, "log_tail": log_tail(job_dir)}, FailureKind.CRASH, reply)
            result = self._result(base, reply, job_dir, source)
            if not result.ok or self.task.spec.kind != "causal_lm" or self.options.check_only:
                return result
            scoring = TokenScoring(data=self.data, spec=self.task.spec, eval_batch_size=self.recipe.eval_batch_size,
                                   weights_limit=int(self.options.file_size_limit_mb * 2**20))
            return scoring.score(self, sandbox, result, source, job_dir)
        finally:
            _wipe(sandbox.scratch)

    def run_step(self, sandbox: SandboxProcess, files: dict[str, bytes],
                 paths: dict[str, str] | None = None, **job: Any) -> tuple[dict[str, Any] | str, Path]:
        """Run one job in `sandbox` in a fresh job folder holding `files`: (the zygote's reply, or
        why the sandbox died; the folder).

        `paths` names job keys whose values are files of the folder (as the sandbox sees them);
        `job` adds plain keys."""
        job_dir = sandbox.scratch / uuid.uuid4().hex[:12]
        job_dir.mkdir(parents=True)
        for name, content in files.items():
            (job_dir / name).write_bytes(content)
        spec = {**self._job(sandbox, job_dir), **job,
                **{key: sandbox.inside(job_dir / name) for key, name in (paths or {}).items()}}
        try:
            return sandbox.run(spec, self.options.timeout_s + 30), job_dir
        except SandboxDied as e:
            return str(e), job_dir

    def outcome(self, base: dict[str, Any], reply: dict[str, Any], job_dir: Path) -> EvalResult | dict[str, Any]:
        """The failed result of one step, or the worker's own result (a dict) when it finished."""
        failure = self._process_failure(reply)
        if failure is not None:
            return EvalResult.model_validate({**base, "status": "failed", "failure": failure})
        worker = read_worker_result(job_dir)
        if worker is None or reply.get("exit_code") != 0:
            # A result file without a clean exit was not written by the worker's last step.
            return _failed(base, FailureKind.CRASH, f"the candidate exited (code {reply.get('exit_code')}) before "
                                                    "the evaluation finished")
        if worker.get("status") != "ok":
            try:
                kind = FailureKind(str(worker.get("kind")))
            except ValueError:
                kind = FailureKind.CRASH
            return _failed(base, kind, str(worker.get("message", ""))[:2000])
        return worker

    def _result(self, base: dict[str, Any], reply: dict[str, Any], job_dir: Path, source: bytes) -> EvalResult:
        base = {**base, "wall_seconds": float(reply.get("wall_seconds") or 0.0), "log_tail": log_tail(job_dir)}
        worker = self.outcome(base, reply, job_dir)
        if isinstance(worker, EvalResult):
            return worker
        info = {k: worker.get(k) for k in ("params", "flops", "train_seconds", "exporter", "export_error")}
        base |= {k: v for k, v in info.items() if isinstance(v, int | float | str) and not isinstance(v, bool)}
        base["onnx_path"] = self._keep_outputs(job_dir, source) if worker.get("exporter") else None
        base["proxies"] = _keep_proxies(worker.get("proxies"), base["onnx_path"])
        if self.options.check_only or self.task.spec.kind == "causal_lm":
            return EvalResult.model_validate({**base, "status": "ok"})  # token models: scored next (tokens.py)
        metrics = score_predictions(job_dir, self.data.y_val, self.data.y_test, self.task.spec.num_classes)
        if isinstance(metrics, Failure):
            return EvalResult.model_validate({**base, "status": "failed", "failure": metrics})
        return EvalResult.model_validate({**base, "status": "ok", "metrics": metrics})

    def _process_failure(self, reply: dict[str, Any]) -> Failure | None:
        o = self.options
        sig = reply.get("signal")
        if reply.get("killed_for") == "disk":
            return Failure(kind=FailureKind.CRASH, message=f"wrote more than {o.scratch_limit_mb:g} MB or "
                                                           f"{o.max_files} files to its scratch folder")
        if reply.get("killed_for") == "threads":
            return Failure(kind=FailureKind.CRASH, message=f"started more than {o.max_threads} threads")
        if reply.get("timed_out"):
            return Failure(kind=FailureKind.TIMEOUT, message=f"exceeded the wall-clock limit of {o.timeout_s:g} s")
        if sig == signal.SIGXCPU:
            return Failure(kind=FailureKind.TIMEOUT, message="exceeded the CPU-time limit")
        if sig == signal.SIGSYS:
            return Failure(kind=FailureKind.ISOLATION_VIOLATION,
                           message="killed for a forbidden system call (creating a process, exec, "
                                   "signalling or tracing another process, or changing namespaces)")
        if sig == signal.SIGKILL:
            return Failure(kind=FailureKind.MEMORY, message="killed by SIGKILL (most likely out of memory)")
        if sig is not None:
            return Failure(kind=FailureKind.CRASH, message=f"killed by {_SIGNAL_NAMES.get(sig, sig)}")
        return None

    def _keep_outputs(self, job_dir: Path, source: bytes) -> str | None:
        """Copy the candidate's ONNX (and source) out of the scratch folder, if kept."""
        if self.out_dir is None:
            return None
        # Per task: the same file exported for another input shape is another graph.
        dest = self.out_dir / f"{self.task.spec.name}-{hashlib.sha256(source).hexdigest()[:16]}"
        dest.mkdir(parents=True, exist_ok=True)
        try:
            onnx = read_untrusted(job_dir / "model.onnx", 512 << 20)
        except Exception:
            return None
        (dest / "model.py").write_bytes(source)
        (dest / "model.onnx").write_bytes(onnx)
        traced = dest / TORCHSCRIPT_FILE
        traced.unlink(missing_ok=True)  # a stale archive of an earlier check never stands for this one
        if self.options.export_torchscript and (job_dir / TORCHSCRIPT_FILE).is_file():
            with contextlib.suppress(Exception):  # no archive: the torch latency says it is missing
                traced.write_bytes(read_untrusted(job_dir / TORCHSCRIPT_FILE, 512 << 20))
        return str(dest / "model.onnx")
