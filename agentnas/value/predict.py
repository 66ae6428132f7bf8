"""`agentnas predict PATH...`: the zero-shot value of candidates (.py, exported in the
sandbox) and ONNX files, before any training. One answer per path; exit status 1 when a
path could not be scored, 2 for usage errors.

A candidate's zero-cost proxies come from the sandbox run that exported it (written beside
its ONNX); an .onnx path uses a `proxies.json` beside it when there is one (as in a run's
candidate folders), else it is scored without proxies (`proxies` false in --json)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from agentnas.config import AgentnasConfig
from agentnas.encode.command import graph_files
from agentnas.encode.embed import EncodingCache, encode_graph
from agentnas.encode.onnx_load import OnnxLoadError, load_onnx
from agentnas.encode.proxies import read_proxies_beside
from agentnas.value.zeroshot import ZeroShotPredictor


def run_predict(paths: list[Path], cfg: AgentnasConfig, model_path: Path | None, json_out: bool,
                out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        predictor = ZeroShotPredictor.load(model_path)
    except (FileNotFoundError, OSError, RuntimeError, KeyError) as e:
        print(f"error: cannot load the value model: {e}", file=err)
        return 2
    rows: list[dict[str, Any]] = []
    cache = EncodingCache(cfg.cache_dir / "encodings")
    with tempfile.TemporaryDirectory(prefix="agentnas-predict-") as tmp:
        graphs = graph_files(paths, cfg, Path(tmp), err)
        if isinstance(graphs, int):
            return graphs
        for path in paths:
            source = graphs[path]
            if isinstance(source, str):
                print(f"error: {path}: {source}", file=err)
                continue
            try:
                proxies = read_proxies_beside(source)
                encoding = encode_graph(load_onnx(source), predictor.mode, cache, proxies=proxies)
            except OnnxLoadError as e:
                print(f"error: {e}", file=err)
                continue
            except Exception as e:  # a graph the encoder cannot handle must not stop the other paths
                print(f"error: {path}: cannot encode: {type(e).__name__}: {e}", file=err)
                continue
            try:
                mean, std = predictor.predict(encoding.array())
            except ValueError as e:  # the model file does not match this encoder
                print(f"error: {e}", file=err)
                return 2
            rows.append({"path": str(path), "mean": float(mean[0]), "std": float(std[0]),
                         "proxies": proxies is not None})
    if json_out:
        out.write(json.dumps(rows, indent=2) + "\n")
    else:
        for row in rows:
            out.write(f"{row['path']}\tmean {row['mean']:+.3f}\tstd {row['std']:.3f}\n")
    return 0 if len(rows) == len(paths) else 1
