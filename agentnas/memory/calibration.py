"""Real variants of examples/mnist1d_mlp.py that calibrate the near-duplicate threshold.

"same" variants write the same model another way (renamed variables, edited comments, a
Dropout that is the identity at export, `view`/`reshape` instead of `flatten`, the
operands of the residual swapped, `nn.ReLU` modules): the verdict must be duplicate or
near-duplicate. "different" variants change the architecture (width, depth, activation,
residual, normalisation): the verdict must be novel. `calibrate` exports each in the
sandbox (as a run would), encodes it, and reports its distance to the original and its
verdict. Known miss, kept as "rewrite": `h @ W.t() + b` instead of `nn.Linear` changes the
graph (MatMul + Add instead of Gemm) and reads as novel.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

from agentnas.config import AgentnasConfig
from agentnas.memory.arch import arch_distance, describe_files
from agentnas.memory.novelty import NEAR_DUPLICATE_THRESHOLD
from agentnas.paths import shipped_dir

Expect = Literal["same", "different", "rewrite"]
_RESIDUAL = "h = h + torch.relu(self.fc2(h))       # (B, hidden), residual as in the paper"
_HEAD = "self.head = nn.Linear(hidden, num_classes)"
_LOGITS = "logits: torch.Tensor = self.head(h)"


def variants() -> dict[str, tuple[Expect, str]]:
    """name -> (expected, code), all derived from the shipped MLP example by text edits."""
    base = (shipped_dir("examples") / "mnist1d_mlp.py").read_text(encoding="utf-8")
    for needle in (_RESIDUAL, _HEAD, _LOGITS, "x = x.flatten(1)", "hidden: int = 256"):
        if needle not in base:
            raise ValueError(f"examples/mnist1d_mlp.py changed: {needle!r} not found")
    out: dict[str, tuple[Expect, str]] = {
        "rename": ("same", base.replace("fc1", "inp").replace("fc2", "mid").replace("self.head", "self.out")
                   .replace("h = ", "z = ").replace("(h)", "(z)").replace("h + ", "z + ")),
        "comments": ("same", base.replace("# (B, hidden)", "# hidden features").replace(
            '"""A two-hidden-layer', '"""Edited: a two-hidden-layer')),
        "dropout": ("same", base.replace(_HEAD, _HEAD + "\n        self.drop = nn.Dropout(0.1)").replace(
            _LOGITS, "logits: torch.Tensor = self.head(self.drop(h))")),
        "relu_module": ("same", base.replace(_HEAD, _HEAD + "\n        self.act = nn.ReLU()").replace(
            "torch.relu(", "self.act(")),
        "swap_residual": ("same", base.replace(_RESIDUAL, "h = torch.relu(self.fc2(h)) + h")),
        "view": ("same", base.replace("x = x.flatten(1)", "x = x.view(x.size(0), -1)")),
        "reshape": ("same", base.replace("x = x.flatten(1)", "x = x.reshape(x.shape[0], -1)")),
        "matmul_head": ("rewrite", base.replace(
            _LOGITS, "logits: torch.Tensor = h @ self.head.weight.t() + self.head.bias")),
        "depth_plus_1": ("different", base.replace(_HEAD, _HEAD + "\n        self.fc3 = nn.Linear(hidden, hidden)")
                         .replace(_RESIDUAL, "h = h + torch.relu(self.fc2(h))\n"
                                             "        h = h + torch.relu(self.fc3(h))")),
        "depth_minus_1": ("different", base.replace(_RESIDUAL, "")),
        "no_residual": ("different", base.replace(_RESIDUAL, "h = torch.relu(self.fc2(h))")),
        "gelu": ("different", base.replace("torch.relu(", "torch.nn.functional.gelu(")),
        "tanh": ("different", base.replace("torch.relu(", "torch.tanh(")),
        "sigmoid_gate": ("different", base.replace(_RESIDUAL, "h = h * torch.sigmoid(self.fc2(h))")),
        "layernorm": ("different", base.replace(_HEAD, _HEAD + "\n        self.norm = nn.LayerNorm(hidden)")
                      .replace(_LOGITS, "logits: torch.Tensor = self.head(self.norm(h))")),
    }
    for width in (128, 240, 248, 264, 272, 512):
        out[f"width_{width}"] = ("different", base.replace("hidden: int = 256", f"hidden: int = {width}"))
    return out


def calibrate(cfg: AgentnasConfig, threshold: float = NEAR_DUPLICATE_THRESHOLD) -> dict[str, Any]:
    """Export and encode every variant in the sandbox; distances to the original and verdicts."""
    cases = variants()
    with tempfile.TemporaryDirectory(prefix="agentnas-calibration-") as tmp:
        folder = Path(tmp)
        paths = {"original": folder / "original.py"}
        paths["original"].write_text((shipped_dir("examples") / "mnist1d_mlp.py").read_text(encoding="utf-8"))
        for name, (_, code) in cases.items():
            paths[name] = folder / f"{name}.py"
            paths[name].write_text(code, encoding="utf-8")
        cfg = cfg.model_copy(update={"task": "mnist1d"})
        described = describe_files(list(paths.values()), cfg, sys.stderr)
    if isinstance(described, int):
        raise RuntimeError(f"the sandbox could not export the variants (status {described})")
    base = described[paths["original"]]
    if isinstance(base, str):
        raise RuntimeError(f"the original example did not export: {base}")
    rows: dict[str, Any] = {}
    for name, (expect, _) in cases.items():
        d = described[paths[name]]
        if isinstance(d, str):
            rows[name] = {"expect": expect, "error": d}
            continue
        if d.code_hash == base.code_hash or d.onnx_text_hash == base.onnx_text_hash:
            verdict, distance = "duplicate", 0.0
        else:
            distance = arch_distance(d.arch_embedding, base.arch_embedding)  # type: ignore[arg-type]
            verdict = "near_duplicate" if distance < threshold else "novel"
        ok = (verdict != "novel") if expect == "same" else (verdict == "novel")
        rows[name] = {"expect": expect, "verdict": verdict, "distance": round(distance, 4), "as_expected": ok}
    same = [r["distance"] for r in rows.values() if r.get("expect") == "same" and "distance" in r]
    different = [r["distance"] for r in rows.values() if r.get("expect") == "different" and "distance" in r]
    return {"threshold": threshold, "max_same_distance": max(same, default=None),
            "min_different_distance": min(different, default=None),
            "all_as_expected": all(r.get("as_expected", False) for r in rows.values() if r["expect"] != "rewrite"),
            "variants": rows}
