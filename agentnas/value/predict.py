"""`agentnas predict PATH...`: the zero-shot value of candidates (.py, exported in the
sandbox) and ONNX files, before any training.

Every path gets a row: its score, or why it has none (a candidate that does not build for
the task, an unreadable graph). Exit 0 when every path was handled, 2 for usage errors (a
missing file, another suffix, an unusable model file), 1 when the sandbox could not start.

What a row says. `mean` is the value model's ranking score (higher: better predicted
accuracy; it is not an accuracy and its scale means nothing alone); `std` is the heads'
disagreement; `percentile` is the share of a fixed reference set — architectures the offline
grammar samples for the task — that the model scores lower from the same inputs
(value/reference.py); `rank` orders the rows of this call.

Like with like. A candidate's zero-cost proxies come from the sandbox run that exported it
(written beside its ONNX); an .onnx path uses a `proxies.json` beside it when there is one
(as in a run's candidate folders). A score with proxies and one from the graph alone are not
on one scale, so when the paths of one call do not all have proxies, every path is predicted
from its graph alone (`proxies` false, and a note says so): the rows of one call always
compare.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from agentnas.config import AgentnasConfig
from agentnas.encode.embed import EncodingCache, encode_graph
from agentnas.encode.files import graph_files
from agentnas.encode.onnx_load import OnnxLoadError, load_onnx
from agentnas.evaluator.proxies import read_proxies_beside
from agentnas.tasks import get_task
from agentnas.value.reference import load_reference
from agentnas.value.zeroshot import ZeroShotPredictor


def usage_problem(paths: list[Path]) -> str | None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        return f"no such file: {', '.join(missing)}"
    other = [str(p) for p in paths if p.suffix not in (".py", ".onnx")]
    if other:
        return f"expected candidate .py files or .onnx files, not {', '.join(other)}"
    return None


def _failed(path: Path, why: str) -> dict[str, Any]:
    return {"path": str(path), "status": "failed", "error": why, "mean": None, "std": None, "proxies": False,
            "percentile": None, "rank": None}


def run_predict(paths: list[Path], cfg: AgentnasConfig, model_path: Path | None, json_out: bool,
                out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    problem = usage_problem(paths)
    if problem:
        print(f"error: {problem}", file=err)
        return 2
    try:
        predictor = ZeroShotPredictor.load(model_path)
    except (FileNotFoundError, OSError, RuntimeError, KeyError) as e:
        print(f"error: cannot load the value model: {e}", file=err)
        return 2
    rows: list[dict[str, Any]] = []
    cache = EncodingCache(cfg.cache_dir / "encodings")
    with tempfile.TemporaryDirectory(prefix="agentnas-predict-") as tmp:
        graphs = graph_files(paths, cfg, Path(tmp), err, stop_on_start_failure=True)
        if isinstance(graphs, int):
            return graphs
        found = {p: read_proxies_beside(g) for p, g in graphs.items() if isinstance(g, Path)}
        use_proxies = bool(found) and all(v is not None for v in found.values())
        if not use_proxies and any(v is not None for v in found.values()):
            bare = ", ".join(str(p) for p, v in found.items() if v is None)
            print(f"note: {bare} come(s) without zero-cost proxies, so every file here is predicted from its graph "
                  "alone, to compare like with like (predict the .py files on their own to use their proxies)",
                  file=err)
        for path in paths:
            source = graphs[path]
            if isinstance(source, str):
                rows.append(_failed(path, source))
                continue
            try:
                encoding = encode_graph(load_onnx(source), predictor.mode, cache,
                                        proxies=found[path] if use_proxies else None)
            except OnnxLoadError as e:
                rows.append(_failed(path, str(e)))
                continue
            except Exception as e:  # a graph the encoder cannot handle must not stop the other paths
                rows.append(_failed(path, f"cannot encode: {type(e).__name__}: {e}"))
                continue
            try:
                mean, std = predictor.predict(encoding.array())
            except ValueError as e:  # the model file does not match this encoder
                print(f"error: {e}", file=err)
                return 2
            rows.append({"path": str(path), "status": "ok", "error": None, "mean": float(mean[0]),
                         "std": float(std[0]), "proxies": use_proxies, "percentile": None, "rank": None})
    scored = [r for r in rows if r["status"] == "ok"]
    reference = None
    if scored:
        spec = get_task(cfg.task).spec
        reference = load_reference(model_path, predictor, spec.name, tuple(int(s) for s in spec.input_shape),
                                   spec.num_classes, cfg.cache_dir, log=lambda m: print(m, file=err))
    for i, row in enumerate(sorted(scored, key=lambda r: -r["mean"]), 1):
        row["rank"] = i
        if reference is not None:
            row["percentile"] = round(reference.percentile(row["mean"], row["proxies"]), 1)
    if json_out:
        out.write(json.dumps(rows, indent=2) + "\n")
    else:
        write_table(rows, reference.describe(cfg.task) if reference is not None else None, out)
    return 0


def write_table(rows: list[dict[str, Any]], reference: str | None, out: TextIO) -> None:
    """One line per path, in the order given, under a legend of what the numbers are."""
    out.write("score: the value model's ranking score (higher = better predicted accuracy; not an accuracy)\n")
    if reference is not None:
        out.write(f"percentile: the share of {reference} that score lower from the same inputs\n")
    head = ("rank", "score", "±std", "percentile", "inputs", "path")
    lines = []
    for r in rows:
        if r["status"] != "ok":
            lines.append(("-", "-", "-", "-", "-", f"{r['path']}  failed: {r['error']}"))
            continue
        pct = f"{r['percentile']:.0f} %" if r["percentile"] is not None else "-"
        lines.append((str(r["rank"]), f"{r['mean']:+.2f}", f"{r['std']:.2f}", pct,
                      "graph + proxies" if r["proxies"] else "graph only", r["path"]))
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head) - 1)]
    for line in [head, *lines]:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) + "  " + line[-1] + "\n")
