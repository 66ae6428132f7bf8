"""`agentnas encode FILE.py|FILE.onnx [--json]`: print each graph's text (or its encoding).

A `.py` candidate is untrusted code, so it is never imported here: the sandbox builds it
and exports its ONNX (`Evaluator` with `check_only` and `require_export`), on the task's
input shape, and the exported file is then read with the safe loader like any `.onnx`
path. Every path gets an answer: its text on stdout, or one message on stderr; the exit
status is 1 when any path failed and 2 for usage or configuration errors.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict

from agentnas.config import AgentnasConfig
from agentnas.encode.embed import EncodingCache, encode_graph
from agentnas.encode.graph import GraphView
from agentnas.encode.onnx_load import OnnxLoadError, load_onnx
from agentnas.encode.text import write_text

HEAD = 8  # vector items shown in --json


class EncodeOptions(BaseModel):
    """The parsed command line of `agentnas encode`."""

    model_config = ConfigDict(frozen=True)

    paths: list[Path]
    json_out: bool = False
    config: AgentnasConfig


class _Failed(Exception):
    """One path could not be encoded; the message names the path."""


def export_candidates(paths: list[Path], cfg: AgentnasConfig, out_dir: Path, err: TextIO,
                      stop_on_start_failure: bool = False) -> dict[Path, Path | str] | int:
    """Export each candidate in the sandbox: path -> ONNX file, or path -> error message.
    An int is an exit status for a problem that stops the whole command (with
    `stop_on_start_failure`, a sandbox that cannot start is one: 1)."""
    from agentnas.evaluator import EvalOptions, Evaluator, IsolationUnavailable, SandboxStartError
    from agentnas.tasks import TaskError, get_task

    task = get_task(cfg.task)
    # Only build, check the forward shape and export: no training, one slot, on the CPU
    # (the exporter moves the model there anyway).
    options = EvalOptions(check_only=True, require_export=True, slots=1, device="cpu", timeout_s=cfg.timeout_s,
                          memory_limit_gb=cfg.memory_limit_gb, file_size_limit_mb=cfg.file_size_limit_mb,
                          isolation=cfg.isolation, allow_unsafe=cfg.unsafe_no_isolation)
    try:
        evaluator = Evaluator(task, options, cache_dir=cfg.cache_dir, out_dir=out_dir)
    except (IsolationUnavailable, TaskError) as e:  # no isolation, or the task's data is unusable
        print(f"error: {e}", file=err)
        return 2
    if evaluator.isolation.name == "none":
        print("WARNING: candidates run WITHOUT isolation (--unsafe-no-isolation).", file=err)
    try:
        with evaluator:
            results = evaluator.evaluate(paths)
    except SandboxStartError as e:
        if stop_on_start_failure:
            print(f"error: the sandbox could not start: {e}", file=err)
            return 1
        return {p: f"cannot export in the sandbox: {e}" for p in paths}
    exported: dict[Path, Path | str] = {}
    for path, result in zip(paths, results, strict=True):
        if not result.ok:
            failure = result.failure
            reason = f"{failure.kind}: {failure.message}" if failure else "failed"
            exported[path] = f"the candidate failed in the sandbox ({reason})"
        elif result.onnx_path is None:
            exported[path] = f"the sandbox exported no ONNX file ({result.export_error or 'unknown reason'})"
        else:
            exported[path] = Path(result.onnx_path)
    return exported


def graph_files(paths: list[Path], cfg: AgentnasConfig, tmp: Path, err: TextIO,
                stop_on_start_failure: bool = False) -> dict[Path, Path | str] | int:
    """Each path's ONNX file: itself for an .onnx, the sandbox's export for a candidate .py,
    or a message saying why there is none. An int is an exit status that stops the command."""
    graphs: dict[Path, Path | str] = {}
    for path in paths:
        if not path.is_file():
            graphs[path] = "no such file" if not path.exists() else "not a regular file"
        elif path.suffix not in (".py", ".onnx"):
            graphs[path] = "expected a candidate .py file or an .onnx file"
        else:
            graphs[path] = path
    candidates = [p for p in dict.fromkeys(paths) if p.suffix == ".py" and isinstance(graphs[p], Path)]
    if candidates:
        exported = export_candidates(candidates, cfg, tmp, err, stop_on_start_failure)
        if isinstance(exported, int):
            return exported
        graphs.update(exported)
    return graphs


def _record(path: Path, onnx_file: Path, json_out: bool, cache: EncodingCache | None) -> str:
    try:
        model = load_onnx(onnx_file)
    except OnnxLoadError as e:
        raise _Failed(str(e) if onnx_file == path else f"{path}: exported graph unusable: {e}") from e
    view = GraphView.of(model)
    text = write_text(view)
    if not json_out:
        return text
    encoding = encode_graph(view.model, "both", cache, view=view)
    vector = encoding.array()
    record: dict[str, Any] = {
        "path": str(path), "text": text, "text_sha256": encoding.text_sha256, "chunks": encoding.chunks,
        "tokens": encoding.tokens, "features": encoding.features.model_dump(mode="json"),
        "vector": {"dim": int(vector.size), "norm": float((vector.astype("float64") ** 2).sum() ** 0.5),
                   "head": [float(v) for v in vector[:HEAD]]},
    }
    return json.dumps(record)


def run_encode(options: EncodeOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Encode every path in order; return the exit status (0 ok, 1 some path failed, 2 usage)."""
    from agentnas.tasks import TaskError, get_task

    out, err = out or sys.stdout, err or sys.stderr
    cfg = options.config
    try:
        get_task(cfg.task)  # a wrong --task is a usage error, even where only .onnx files are given
    except TaskError as e:
        print(f"error: {e}", file=err)
        return 2
    cache = EncodingCache(cfg.cache_dir / "encodings") if options.json_out else None
    with tempfile.TemporaryDirectory(prefix="agentnas-encode-") as tmp:
        graphs = graph_files(options.paths, cfg, Path(tmp), err)
        if isinstance(graphs, int):
            return graphs
        failed = False
        for path in options.paths:
            source = graphs[path]
            if isinstance(source, str):
                print(f"error: {path}: {source}", file=err)
                failed = True
                continue
            try:
                record = _record(path, source, options.json_out, cache)
            except _Failed as e:
                print(f"error: {e}", file=err)
                failed = True
                continue
            except Exception as e:  # a graph the writer cannot handle must not stop the other paths
                print(f"error: {path}: cannot encode: {type(e).__name__}: {e}", file=err)
                failed = True
                continue
            if not options.json_out and len(options.paths) > 1:
                out.write(f"==> {path} <==\n")
            out.write(record if not options.json_out else record + "\n")
            out.flush()
    return 1 if failed else 0
