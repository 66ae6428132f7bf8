"""Where a zero-shot score stands: its percentile among reference architectures of the task.

A score of the value model orders architectures; its scale means nothing by itself (-20 is
not an accuracy, and a score from the graph alone is not on the scale of one that also saw
the zero-cost proxies). So `agentnas predict` reports beside each score the share of a fixed
reference set that the same model scores lower *from the same inputs*.

The reference set is REFERENCE_SIZE architectures the offline grammar samples for the task
(its input shape and classes, the proposer's default bounds, seed REFERENCE_SEED): the kind
of network a search on that task starts from. Benchmark architectures (NAS-Bench-201 and
-Macro, the pretraining spaces) would not do: they are CIFAR-10 networks, and the score grows
with compute, so every network for a small task lands in their bottom few percent. Each
reference architecture is built in-process (agentnas-rendered code, trusted, as in
value/spaces.py), exported with the sandbox worker's settings, and scored twice: with its
proxies, and from its graph alone (proxy columns marked missing, as for an `.onnx` file); a
prediction is placed among the scores made like it.

A reference is keyed by a digest of the model file, the features version, the task's input
shape and classes, and the sampled sources, so a change to any of them makes a new one. The
shipped model's references for the built-in tasks ship in pretrained/reference/ (written by
`python -m agentnas.value.reference`; a test checks they are current); any other is scored
once (about a minute) and cached under the cache folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentnas.encode.embed import EncodeMode
from agentnas.encode.features import FEATURE_NAMES, FEATURES_VERSION
from agentnas.evaluator.proxies import PROXY_NAMES
from agentnas.value.prior import feature_offset
from agentnas.value.zeroshot import PRETRAINED, ZeroShotPredictor

REFERENCE_SIZE = 100
REFERENCE_SEED = 0
SHIPPED_DIR = PRETRAINED.parent / "reference"
SHIPPED_TASKS = ("mnist1d", "digits")
BUILD_SEED = 0  # as the sandbox worker seeds torch (the recipe's seed) before building


@dataclass(frozen=True)
class Reference:
    """The reference set's scores under one value model, sorted, for both input kinds."""

    digest: str
    input_shape: tuple[int, ...]
    num_classes: int
    with_proxies: np.ndarray
    graph_only: np.ndarray

    def percentile(self, score: float, proxies: bool) -> float:
        """Percent of the reference scored below `score` from the same inputs (ties count half)."""
        ref = self.with_proxies if proxies else self.graph_only
        below = int(np.searchsorted(ref, score, "left"))
        not_above = int(np.searchsorted(ref, score, "right"))
        return 100.0 * (below + not_above) / (2 * len(ref))

    def describe(self, task: str) -> str:
        return (f"{len(self.graph_only)} architectures the offline grammar samples for {task} "
                f"(input {self.input_shape}, {self.num_classes} classes)")

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "with_proxies": [round(float(v), 6) for v in self.with_proxies],
                "graph_only": [round(float(v), 6) for v in self.graph_only]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Reference:
        return cls(digest=str(doc["digest"]), input_shape=tuple(int(s) for s in doc["input_shape"]),
                   num_classes=int(doc["num_classes"]),
                   with_proxies=np.sort(np.asarray(doc["with_proxies"], np.float64)),
                   graph_only=np.sort(np.asarray(doc["graph_only"], np.float64)))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def without_proxies(x: np.ndarray, mode: EncodeMode) -> np.ndarray:
    """Encodings `x` as if their graphs had come without proxies (encode.proxies.proxy_vector(None))."""
    offset = feature_offset(mode)
    if offset is None:
        return x
    out = np.array(x, copy=True)
    for name in PROXY_NAMES:
        col = offset + FEATURE_NAMES.index(f"proxy_{name}")
        out[:, col], out[:, col + len(PROXY_NAMES)] = 0.0, 1.0
    return out


def reference_sources(input_shape: tuple[int, ...], num_classes: int, n: int = REFERENCE_SIZE) -> list[str]:
    """The reference architectures of a task, as candidate files (cheap: no torch)."""
    from agentnas.space import ProposerConfig, render
    from agentnas.space.sampler import sample

    rng = np.random.default_rng(REFERENCE_SEED)
    config = ProposerConfig().sampler()
    return [render(sample(input_shape, num_classes, rng, cfg=config), input_shape, num_classes) for _ in range(n)]


def reference_digest(model_sha256: str, input_shape: tuple[int, ...], num_classes: int, sources: list[str]) -> str:
    h = hashlib.sha256(f"{model_sha256}|f{FEATURES_VERSION}|{input_shape}|{num_classes}".encode())
    for source in sources:
        h.update(hashlib.sha256(source.encode()).digest())
    return h.hexdigest()


def _encoding(source: str, input_shape: tuple[int, ...], num_classes: int, mode: EncodeMode) -> np.ndarray:
    """Build agentnas-rendered code in-process, export it as the worker does, encode it with proxies."""
    import onnx
    import torch

    from agentnas.encode import infer_shapes_or_keep
    from agentnas.encode.embed import encode_graph
    from agentnas.evaluator.proxies import compute_proxies

    namespace: dict[str, Any] = {}
    exec(compile(source, "<agentnas reference architecture>", "exec"), namespace)  # noqa: S102 - our own code
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(BUILD_SEED)
        model = namespace["build_model"](input_shape, num_classes).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (torch.zeros(1, *input_shape),), buf,  # type: ignore[arg-type]
                          input_names=["input"], output_names=["logits"], dynamo=False, external_data=False,
                          verbose=False, do_constant_folding=False)  # as the sandbox worker: BatchNorm stays visible
    graph = infer_shapes_or_keep(onnx.load_from_string(buf.getvalue()))
    proxies = compute_proxies(model, input_shape, num_classes)
    return encode_graph(graph, mode, None, proxies=proxies).array()


def compute_reference(predictor: ZeroShotPredictor, task: str, input_shape: tuple[int, ...], num_classes: int,
                      sources: list[str], digest: str, log: Callable[[str], Any] | None = None) -> Reference:
    xs = []
    for i, source in enumerate(sources, 1):
        xs.append(_encoding(source, input_shape, num_classes, predictor.mode))
        if log is not None and (i % 25 == 0 or i == len(sources)):
            log(f"reference architectures for {task}: {i}/{len(sources)} scored")
    x = np.stack(xs)
    return Reference(digest=digest, input_shape=input_shape, num_classes=num_classes,
                     with_proxies=np.sort(predictor.predict(x)[0]),
                     graph_only=np.sort(predictor.predict(without_proxies(x, predictor.mode))[0]))


def _read(path: Path, digest: str) -> Reference | None:
    try:
        found = Reference.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if found.digest == digest and len(found.graph_only) else None


def load_reference(model_path: Path | None, predictor: ZeroShotPredictor, task: str, input_shape: tuple[int, ...],
                   num_classes: int, cache_dir: Path, log: Callable[[str], Any] | None = None) -> Reference:
    """The task's reference under this model file: shipped, cached, or scored now (and cached)."""
    sources = reference_sources(input_shape, num_classes)
    digest = reference_digest(file_sha256(model_path or PRETRAINED), input_shape, num_classes, sources)
    cached = Path(cache_dir) / "value-reference" / f"{digest[:16]}.json"
    for path in (SHIPPED_DIR / f"{digest[:16]}.json", cached):
        found = _read(path, digest)
        if found is not None:
            return found
    if log is not None:
        log(f"scoring {len(sources)} reference architectures for {task} with this value model "
            f"(once; cached in {cached.parent})")
    reference = compute_reference(predictor, task, input_shape, num_classes, sources, digest, log)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(reference.to_json()), encoding="utf-8")
    tmp.replace(cached)
    return reference


def main() -> int:
    """Write the shipped model's references for the built-in tasks: python -m agentnas.value.reference."""
    from agentnas.tasks import get_task

    predictor = ZeroShotPredictor.load()
    SHIPPED_DIR.mkdir(exist_ok=True)
    for old in SHIPPED_DIR.glob("*.json"):
        old.unlink()
    for name in SHIPPED_TASKS:
        spec = get_task(name).spec
        shape = tuple(int(s) for s in spec.input_shape)
        sources = reference_sources(shape, spec.num_classes)
        digest = reference_digest(file_sha256(PRETRAINED), shape, spec.num_classes, sources)
        reference = compute_reference(predictor, name, shape, spec.num_classes, sources, digest, log=print)
        (SHIPPED_DIR / f"{digest[:16]}.json").write_text(json.dumps(reference.to_json()) + "\n", encoding="utf-8")
        print(f"{name}: {reference.describe(name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
