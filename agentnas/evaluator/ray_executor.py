"""The Ray executor: one Ray task per evaluation, on whichever node of a cluster takes it.

Data flow. The task's arrays, the options and the recipe go to the cluster once per executor
(`ray.put`); each evaluation ships only the candidate's source. On the node, the Ray worker
process (trusted agentnas code, ray_node.py) runs an ordinary `Evaluator` with one slot: the same
bwrap/unshare sandbox as on the caller's machine, so a candidate never runs unconfined
anywhere. The worker keeps that Evaluator (and its warm zygote) for the next evaluation of
the same executor. Metrics are computed there, on the trusted side, and the `EvalResult`
plus the exported ONNX bytes travel back; the caller alone writes anything that lasts.

Failures. A worker or node that dies mid-evaluation fails the Ray task, and Ray runs it
again elsewhere (`max_retries`); the caller holds one object reference per path, so the
evaluation is returned once, never twice. A node that cannot start a sandbox raises
`SandboxStartError`/`IsolationUnavailable`, which Ray also retries (perhaps on another node)
before the caller re-raises it. An evaluation whose workers die on every try comes back as a
`crash` result, so the run goes on.

Resources per evaluation: `threads_per_slot` CPUs, one GPU when the device is cuda, and
`memory_limit_gb` of Ray's memory resource (see docs/scaling.md).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentnas import __version__
from agentnas.evaluator.evaluator import EvalOptions
from agentnas.evaluator.executor import Executor, ExecutorError, ExecutorUnavailable, OnResult
from agentnas.evaluator.isolation import IsolationUnavailable, get_isolation
from agentnas.evaluator.latency import TORCHSCRIPT_FILE
from agentnas.evaluator.ray_node import Bundle, evaluate_on_node
from agentnas.evaluator.sandbox import SandboxStartError
from agentnas.records import EvalResult, Failure, FailureKind
from agentnas.tasks import Task

DEFAULT_MAX_RETRIES = 3
# Node-side errors worth another try, maybe on another node: the machine, not the candidate.
RETRIED_ERRORS: tuple[type[Exception], ...] = (SandboxStartError, IsolationUnavailable)


def import_ray() -> Any:
    """The `ray` module, or ExecutorUnavailable saying how to get it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from this process or its workers
    try:
        return importlib.import_module("ray")
    except ImportError as e:
        raise ExecutorUnavailable("--executor ray needs Ray, which is not installed in this environment: "
                                  "pip install 'agentnas[ray]' (or use --executor local)") from e


# --------------------------------------------------------------------------- the connection
# One Ray connection per process, shared by every executor in it (a run opens two or three).

_CONNECTION = threading.Lock()
_users = 0
_owned = False
_address: str | None = None


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a head that does not answer: ray.init waits for minutes on one."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as e:
        raise ExecutorError(f"no Ray cluster answers at {address} ({e}); start one with `ray start --head` "
                            "or check --ray-address") from e


def _auto_address() -> str:
    """Where `ray.init(address="auto")` will go: RAY_ADDRESS, else the cluster last started on
    this machine (the file `ray start` leaves in Ray's temp folder); "" when neither."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    system_tmp = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    try:
        return (Path(system_tmp) / "ray" / "ray_current_cluster").read_text().strip()
    except OSError:
        return ""


def _connect(ray: Any, address: str | None, num_cpus: int) -> None:
    global _users, _owned, _address
    with _CONNECTION:
        if _users and address != _address:
            raise ExecutorError(f"this process is already connected to Ray at {_address or 'a local instance'}; "
                                f"cannot also use {address or 'a local instance'}")
        if not ray.is_initialized():
            quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
            target = _auto_address() if address == "auto" else address or ""
            if ":" in target and "://" not in target:
                _probe(target)
            try:
                if address is None:
                    ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)
                else:
                    ray.init(address=address, **quiet)
            except ray.exceptions.AuthenticationError as e:
                raise ExecutorError(f"the Ray cluster at {address} refused this process's token: it uses token "
                                    "authentication, so set RAY_AUTH_MODE=token and give the cluster's token in "
                                    "RAY_AUTH_TOKEN or ~/.ray/auth_token") from e
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = "start a local Ray instance" if address is None else f"reach the Ray cluster at {address}"
                raise ExecutorError(f"cannot {where}: {e}") from e
            _owned = True
        _users, _address = _users + 1, address


def _disconnect(ray: Any) -> None:
    global _users, _owned
    with _CONNECTION:
        _users -= 1
        if _users == 0 and _owned:
            ray.shutdown()
            _owned = False


# --------------------------------------------------------------------------- the caller side


def _fits(resources: dict[str, float], need: dict[str, float]) -> bool:
    return all(resources.get(k, 0.0) >= v for k, v in need.items() if v > 0)


class RayExecutor(Executor):
    """Evaluations as Ray tasks. `address`: None starts a private Ray instance in this process
    (with `num_cpus`, default all cores, and at most `options.slots` evaluations at once),
    "auto" or HOST:PORT joins a cluster. `attempt_log`: a file (on a filesystem every node
    shares) where each attempt appends start/end lines."""

    name = "ray"

    def __init__(self, task: Task, options: EvalOptions, *, cache_dir: Path, out_dir: Path | None = None,
                 address: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES, num_cpus: int | None = None,
                 max_in_flight: int | None = None, attempt_log: Path | None = None) -> None:
        if options.isolation == "none":
            get_isolation("none", options.allow_unsafe)  # refuses without the explicit unsafe flag
        self.ray = import_ray()
        self.task, self.options, self.address = task, options, address
        self.out_dir = out_dir.resolve() if out_dir is not None else None
        self.recipe = task.spec.recipe.with_epochs(options.epochs).with_seed(options.seed)
        self.max_retries = max_retries
        self.max_in_flight = max_in_flight or (options.slots if address is None else None)
        data = task.load(cache_dir)  # before connecting: a task without data fails here, cheaply
        _connect(self.ray, address, num_cpus or os.cpu_count() or 1)
        self._connected = True
        try:
            self.device = self._device(options.device)
            self.resources = {"num_cpus": float(options.threads_per_slot),
                              "num_gpus": 1.0 if self.device == "cuda" else 0.0,
                              "memory": float(int(options.memory_limit_gb * 2**30))}
            self._check_fits()
            node_options = options.model_copy(update={"slots": 1, "device": self.device})
            self._bundle = self.ray.put(Bundle(
                key=uuid.uuid4().hex, spec=task.spec, data=data, options=node_options,
                keep_outputs=self.out_dir is not None, version=__version__,
                attempt_log=str(attempt_log.resolve()) if attempt_log is not None else None))
            self._remote = self.ray.remote(
                name="agentnas-evaluate", max_retries=max_retries, retry_exceptions=list(RETRIED_ERRORS),
                max_calls=0,  # keep the worker (and its warm sandbox) between evaluations, GPU ones too
                **self.resources)(evaluate_on_node)
        except BaseException:
            self.close()
            raise

    def _device(self, device: str) -> str:
        gpus = float(self.ray.cluster_resources().get("GPU", 0.0))
        if device == "cuda" and gpus == 0:
            raise ExecutorError("--device cuda, but the Ray cluster has no GPU")
        return device if device != "auto" else ("cuda" if gpus > 0 else "cpu")

    def _check_fits(self) -> None:
        need = {"CPU": self.resources["num_cpus"], "GPU": self.resources["num_gpus"],
                "memory": self.resources["memory"]}
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        if not any(_fits(n.get("Resources", {}), need) for n in nodes):
            have = "; ".join(f"{n.get('NodeManagerAddress')}: {n.get('Resources', {}).get('CPU', 0):g} CPU, "
                             f"{n.get('Resources', {}).get('GPU', 0):g} GPU, "
                             f"{n.get('Resources', {}).get('memory', 0) / 2**30:.1f} GiB" for n in nodes)
            raise ExecutorError(
                f"no node of the Ray cluster can take one evaluation ({need['CPU']:g} CPU, {need['GPU']:g} GPU, "
                f"{need['memory'] / 2**30:.1f} GiB memory: --memory-limit); nodes: {have or 'none'}")

    def close(self) -> None:
        if getattr(self, "_connected", False):
            self._connected = False
            _disconnect(self.ray)

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "address": self.address or "local instance", "device": self.device,
                "resources_per_evaluation": self.resources, "max_retries": self.max_retries}

    def _unreadable(self, path: Path, error: OSError) -> EvalResult:
        return EvalResult(path=str(path), status="failed", task=self.task.spec.name, epochs=self.recipe.epochs,
                          seed=self.recipe.seed, failure=Failure(kind=FailureKind.IMPORT,
                                                                 message=f"cannot read {path}: {error.strerror}"))

    def evaluate(self, paths: Sequence[Path], on_result: OnResult | None = None) -> list[EvalResult]:
        """Submit every path (at most `max_in_flight` at once); results in the order of `paths`."""
        if not self._connected:
            raise ExecutorError("the Ray executor is closed")
        paths = [Path(p) for p in paths]
        results: list[EvalResult | None] = [None] * len(paths)
        sources: dict[int, bytes] = {}
        for i, path in enumerate(paths):
            try:
                sources[i] = path.read_bytes()
            except OSError as e:
                results[i] = self._unreadable(path, e)
        todo = [i for i in range(len(paths)) if results[i] is None]
        cap = self.max_in_flight or len(todo) or 1
        pending: dict[Any, int] = {}
        try:
            for i in range(len(paths)):
                if results[i] is not None and on_result is not None:
                    on_result(results[i])  # type: ignore[arg-type]
            while todo or pending:
                while todo and len(pending) < cap:
                    i = todo.pop(0)
                    pending[self._remote.remote(self._bundle, paths[i].name, sources[i], uuid.uuid4().hex,
                                                str(paths[i]))] = i
                ready, _ = self.ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    i = pending.pop(ref)
                    results[i] = self._collect(ref, paths[i], sources[i])
                    if on_result is not None:
                        on_result(results[i])  # type: ignore[arg-type]
        except BaseException:
            # Ctrl-C or a set-up error: stop the evaluations still running rather than wait for them.
            for ref in pending:
                self.ray.cancel(ref, force=True)
            raise
        return [r for r in results if r is not None]

    def _collect(self, ref: Any, path: Path, source: bytes) -> EvalResult:
        errors = self.ray.exceptions
        try:
            reply = self.ray.get(ref)
        except errors.RayTaskError as e:  # the task raised on the node (after its retries, if retried)
            cause = getattr(e, "cause", None)
            if isinstance(cause, RETRIED_ERRORS):
                raise type(cause)(f"on a Ray node, after {self.max_retries} retries: {cause}") from e
            raise ExecutorError(f"evaluating {path} failed on a Ray node: {cause or e}") from e
        except errors.RayError as e:  # the worker or node died on every try: the candidate gets a crash
            return EvalResult(path=str(path), status="failed", task=self.task.spec.name, epochs=self.recipe.epochs,
                              seed=self.recipe.seed, failure=Failure(
                                  kind=FailureKind.CRASH,
                                  message=f"its Ray worker died and the {self.max_retries} retries were used up "
                                          f"({type(e).__name__}: {str(e)[:300]})"))
        result = EvalResult.model_validate(reply["result"])
        return result.model_copy(update={"path": str(path),
                                         "onnx_path": self._keep(reply, source, result.proxies)})

    def _keep(self, reply: dict[str, Any], source: bytes, proxies: dict[str, float | None] | None) -> str | None:
        """Write the returned ONNX where a local Evaluator would have kept it."""
        if self.out_dir is None or reply.get("onnx") is None or not reply.get("kept"):
            return None
        dest = self.out_dir / Path(str(reply["kept"])).name
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "model.py").write_bytes(source)
        (dest / "model.onnx").write_bytes(reply["onnx"])
        (dest / TORCHSCRIPT_FILE).unlink(missing_ok=True)
        if reply.get("traced") is not None:
            (dest / TORCHSCRIPT_FILE).write_bytes(reply["traced"])
        if proxies is not None:  # beside the graph, as the Evaluator writes them, for whoever encodes it
            from agentnas.evaluator.proxies import PROXIES_FILE

            (dest / PROXIES_FILE).write_text(json.dumps(proxies), encoding="utf-8")
        return str(dest / "model.onnx")
