"""`agentnas predict PATH...`: the zero-shot value of candidates (.py, exported in the
sandbox) and ONNX files, before any training. One answer per path; exit status 1 when a
path could not be scored, 2 for usage errors."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from agentnas.config import AgentnasConfig
from agentnas.encode.command import export_candidates
from agentnas.encode.embed import EncodingCache, encode_graph
from agentnas.encode.onnx_load import OnnxLoadError, load_onnx
from agentnas.value.zeroshot import ZeroShotPredictor


def run_predict(paths: list[Path], cfg: AgentnasConfig, model_path: Path | None, json_out: bool,
                out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        predictor = ZeroShotPredictor.load(model_path)
    except (FileNotFoundError, OSError, RuntimeError, KeyError) as e:
        print(f"error: cannot load the value model: {e}", file=err)
        return 2
    problems: dict[Path, str] = {p: "no such file" for p in paths if not p.is_file()}
    problems |= {p: "expected a candidate .py file or an .onnx file" for p in paths
                 if p not in problems and p.suffix not in (".py", ".onnx")}
    rows: list[dict[str, Any]] = []
    cache = EncodingCache(cfg.cache_dir / "encodings")
    with tempfile.TemporaryDirectory(prefix="agentnas-predict-") as tmp:
        candidates = [p for p in dict.fromkeys(paths) if p.suffix == ".py" and p not in problems]
        exported: dict[Path, Path | str] = {}
        if candidates:
            result = export_candidates(candidates, cfg, Path(tmp), err)
            if isinstance(result, int):
                return result
            exported = result
        for path in paths:
            source = exported.get(path, path)
            if path in problems or isinstance(source, str):
                print(f"error: {path}: {problems.get(path, source)}", file=err)
                continue
            try:
                encoding = encode_graph(load_onnx(source), predictor.mode, cache)
            except OnnxLoadError as e:
                print(f"error: {e}", file=err)
                continue
            mean, std = predictor.predict(encoding.array())
            rows.append({"path": str(path), "mean": float(mean[0]), "std": float(std[0])})
    if json_out:
        out.write(json.dumps(rows, indent=2) + "\n")
    else:
        for row in rows:
            out.write(f"{row['path']}\tmean {row['mean']:+.3f}\tstd {row['std']:.3f}\n")
    return 0 if len(rows) == len(paths) else 1
