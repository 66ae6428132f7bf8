"""Zero-cost proxies on the trusted side: computing them for our own models, checking the
ones a sandbox reports, and laying them out in the feature vector.

The proxies themselves live in `sandbox/proxies.py` (stdlib, numpy and torch only), so the
sandbox worker computes a candidate's proxies with exactly the code used here for the
benchmark spaces. Numbers that come back from a sandbox were computed by the candidate's
own process and may be lies: they are range-checked (`checked_proxies`) and used only as a
prior, never as a score.

In the feature vector each proxy takes a value column, divided by a fixed scale so that it
is about unit size like the other features, and a `_missing` column: 1 when the proxy is
unknown, and then its value column holds 0 and the value model imputes it. All are missing
when a graph comes without proxies (an `.onnx` file given directly, a sandbox that ran out
of its proxy time); one is when it is undefined for the model (NASWOT without rectifiers).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from agentnas.paths import load_module, shipped_dir
from agentnas.threads import one_thread

if TYPE_CHECKING:
    import torch

# Must match sandbox/proxies.py PROXY_NAMES (a test checks it); kept here so that reading
# encodings never imports torch.
PROXY_NAMES: tuple[str, ...] = ("naswot", "synflow", "gradnorm", "jacob_cov")
PROXY_SCALES: dict[str, float] = {"naswot": 20.0, "synflow": 100.0, "gradnorm": 10.0, "jacob_cov": 10.0}
PROXY_FEATURE_NAMES: tuple[str, ...] = (*(f"proxy_{n}" for n in PROXY_NAMES),
                                        *(f"proxy_{n}_missing" for n in PROXY_NAMES))
Proxies = dict[str, float | None]
PROXY_RANGE = (-50.0, 500.0)  # FLOOR of sandbox/proxies.py up to far above any real network
PROXIES_FILE = "proxies.json"  # written by the evaluator beside the exported model.onnx


@functools.cache
def sandbox_proxies() -> ModuleType:
    """sandbox/proxies.py, imported as a trusted module (our own code, not a candidate's)."""
    return load_module(shipped_dir("sandbox") / "proxies.py", "agentnas_sandbox_proxies")


def compute_proxies(model: torch.nn.Module, input_shape: tuple[int, ...], num_classes: int) -> Proxies:
    """The proxies of a model built from trusted code, as the sandbox computes them."""
    with one_thread():
        result: Proxies = sandbox_proxies().compute_proxies(model, input_shape, num_classes)
    return result


def checked_proxies(raw: Any) -> Proxies | None:
    """Proxies reported by a sandbox, or None when there are none usable. Each known name
    maps to a finite number, clipped to PROXY_RANGE, or to None (unknown); anything else a
    name maps to also reads as unknown, and a report with no number at all as no report."""
    if not isinstance(raw, dict):
        return None
    out: Proxies = {}
    for name in PROXY_NAMES:
        value = raw.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(min(max(value, PROXY_RANGE[0]), PROXY_RANGE[1]))
        else:
            out[name] = None
    return out if any(v is not None for v in out.values()) else None


def proxy_vector(proxies: Proxies | None) -> np.ndarray:
    """The proxy columns of the feature vector (see the module docstring)."""
    checked = checked_proxies(proxies) if proxies is not None else None
    values, missing = [], []
    for name in PROXY_NAMES:
        value = checked.get(name) if checked is not None else None
        values.append(0.0 if value is None else value / PROXY_SCALES[name])
        missing.append(1.0 if value is None else 0.0)
    return np.array(values + missing, dtype=np.float32)


def read_proxies_beside(onnx_path: Path) -> Proxies | None:
    """The proxies the evaluator stored beside an exported graph, if any (checked again)."""
    path = Path(onnx_path).with_name(PROXIES_FILE)
    try:
        if path.stat().st_size > 4096:
            return None
        return checked_proxies(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
