"""`agentnas memory ls|show|search|similar|stats|export|import`: look into the experiment memory.

Every command takes `--memory PATH|URL` (default: the embedded store at
`<cache_dir>/memory`; `$AGENTNAS_MEMORY` also sets it) and `--json`. Reading commands
open the store read-only and write nothing, so they work on a read-only folder; while
another process holds an embedded store for long they read a snapshot of it.
Exit status: 0 done, 1 the store could not be used now (busy, server unreachable), 2 bad
input (options, files, a store that cannot be read, a record that does not exist for `show`).

Each experiment's score is shown under its task metric's name (`val acc`, or `val loss` for
a token task, where lower is better), with the validation accuracy beside it. In `--json`,
`score`/`test_score` hold the metric's values and `metric` its name; `val_accuracy` and
`test_accuracy` always hold accuracies (the next-token accuracy on a token task), or null.
`--min-score`/`--max-score` bound that raw score in the metric's own units, whatever its
direction: on a token task `--max-score 1.5` keeps the losses of at most 1.5, the better ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from agentnas.cli.apps import memory_app
from agentnas.cli.options import ConfigOpt, JsonOpt, config_or_exit, err, fail, out
from agentnas.config import AgentnasConfig
from agentnas.memory.base import Hit, MemoryFilter, MemoryStore
from agentnas.memory.lock import MemoryStoreError
from agentnas.records import ExperimentRecord, ExperimentStatus, FailureKind

MemorySpecOpt = Annotated[str | None, typer.Option(
    "--memory", envvar="AGENTNAS_MEMORY",
    help="Store folder or http://HOST:PORT of a `chroma run` server (default: <cache_dir>/memory).")]
TaskOpt = Annotated[str | None, typer.Option("--task", help="Only experiments of this task.")]
StatusOpt = Annotated[ExperimentStatus | None, typer.Option("--status", help="Only this status.")]
RunOpt = Annotated[str | None, typer.Option("--run", help="Only experiments of this run id.")]
FailureOpt = Annotated[FailureKind | None, typer.Option("--failure", help="Only failures of this kind.")]
# Raw bounds on the stored score (direction not applied): one store mixes metrics, and a bound
# that meant "at least this good" would read as a maximum for losses and a minimum for accuracies.
MinOpt = Annotated[float | None, typer.Option(
    "--min-score", help="Validation score at least this, in the metric's units (accuracy; loss on token tasks).")]
MaxOpt = Annotated[float | None, typer.Option(
    "--max-score", help="Validation score at most this, in the metric's units (accuracy; loss on token tasks).")]
KOpt = Annotated[int, typer.Option("--k", min=1, max=1000, help="How many results.")]


def _config(config: Path | None, **flags: Any) -> AgentnasConfig:
    return config_or_exit(config, **flags)


def _check_spec(spec: str | None) -> None:
    """A malformed --memory fails before any slow work (the encoder, the sandbox)."""
    from agentnas.memory.lock import MemorySpecError
    from agentnas.memory.registry import check_memory_spec

    try:
        check_memory_spec(spec)
    except MemorySpecError as e:
        fail(str(e))


def _open(spec: str | None, cfg: AgentnasConfig, read_only: bool = True, note: bool = True) -> MemoryStore:
    from agentnas.memory.lock import MemorySpecError
    from agentnas.memory.registry import open_memory

    try:
        store = open_memory(spec, cache_dir=cfg.cache_dir, read_only=read_only)
    except MemorySpecError as e:
        fail(str(e))
    except MemoryStoreError as e:
        fail(str(e), code=1)
    except OSError as e:  # e.g. no temporary folder for a snapshot
        fail(f"cannot read the memory store {spec or '(default)'}: {e}")
    if store.note and note:
        err.print(f"[yellow]note:[/] {store.note}", highlight=False)
    return store


def _filter(task: str | None = None, status: ExperimentStatus | None = None, run: str | None = None,
            failure: FailureKind | None = None, min_score: float | None = None,
            max_score: float | None = None) -> MemoryFilter:
    return MemoryFilter(task=task, status=status, run_id=run, failure_kind=failure, min_score=min_score,
                        max_score=max_score)


def summary(record: ExperimentRecord) -> dict[str, Any]:
    """The fields a listing shows (no code, no vectors). `score` is in `metric`'s units;
    `val_accuracy` is an accuracy whatever the metric (never a token task's loss)."""
    m = record.metrics
    return {"id": record.id, "run_id": record.run_id, "task": record.task, "status": str(record.status),
            "metric": m.metric if m else None, "score": record.score, "test_score": m.test_score if m else None,
            "val_accuracy": m.val_accuracy if m else None, "test_accuracy": m.test_accuracy if m else None,
            "failure_kind": str(record.failure.kind) if record.failure else None, "params": record.params,
            "hypothesis_id": record.hypothesis_id, "parent_id": record.parent_id, "hypothesis": record.hypothesis,
            "code_hash": record.code_hash, "onnx_text_hash": record.onnx_text_hash,
            "created_at": record.created_at.isoformat()}


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _score_columns(rows: list[dict[str, Any]]) -> tuple[list[str], bool]:
    """The score columns' headings, and whether each row names its metric (a store of mixed tasks)."""
    metrics = {r["metric"] for r in rows if r["metric"] is not None}
    if metrics <= {"accuracy"}:
        return ["val acc", "test acc"], False
    if len(metrics) == 1:
        name = metrics.pop()
        return [f"val {name}", f"test {name}", "val acc", "test acc"], False
    return ["metric", "val score", "test score", "val acc", "test acc"], True


def _table(title: str, rows: list[dict[str, Any]], distance: bool = False) -> None:
    table = Table(title=title)
    scores, mixed = _score_columns(rows)
    columns = ["id", "task", "status", *scores, "params", "hypothesis"]
    if distance:
        columns.insert(0, "distance")
    for col in columns:
        left = col in ("id", "task", "status", "hypothesis", "metric")
        table.add_column(col, overflow="fold", no_wrap=col not in ("hypothesis", "id"),
                         justify="left" if left else "right")
    for r in rows:
        status = r["status"] + (f" ({r['failure_kind']})" if r["failure_kind"] else "")
        cells = [_num(r["val_accuracy"]), _num(r["test_accuracy"])]
        if len(scores) > 2:
            cells = [_num(r["score"]), _num(r["test_score"]), *cells]
        if mixed:
            cells.insert(0, r["metric"] or "-")
        row = [r["id"], r["task"], status, *cells,
               f"{r['params']:,}" if r["params"] is not None else "-", (r["hypothesis"] or "")[:100]]
        if distance:
            row.insert(0, f"{r['distance']:.4f}")
        table.add_row(*row)
    out.print(table)


def _hits(hits: list[Hit]) -> list[dict[str, Any]]:
    return [{**summary(h.record), "distance": h.distance, "by": h.by} for h in hits]


@memory_app.command("ls")
def ls(task: TaskOpt = None, status: StatusOpt = None, run: RunOpt = None, failure: FailureOpt = None,
       min_score: MinOpt = None, max_score: MaxOpt = None,
       limit: Annotated[int, typer.Option(min=0, help="Newest N experiments (0: all).")] = 20,
       memory: MemorySpecOpt = None, json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """List experiments, newest first."""
    cfg = _config(config)
    with _open(memory, cfg) as store:
        records = store.query(_filter(task, status, run, failure, min_score, max_score), limit=limit or None)
    rows = [summary(r) for r in records]
    if json_out:
        _print_json(rows)
    elif store.backend != "none":  # for a store not created yet, the note on stderr says it all
        _table(f"experiments in {store.location} (newest {len(rows)})", rows)


@memory_app.command("show")
def show(experiment_id: Annotated[str, typer.Argument(help="Experiment id.")],
         vectors: Annotated[bool, typer.Option(help="Include the embeddings in --json.")] = False,
         memory: MemorySpecOpt = None, json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Print one experiment whole: hypothesis, code, metrics, lesson, cost."""
    cfg = _config(config)
    with _open(memory, cfg, note=False) as store:  # a missing store is said in the error below
        record = store.get(experiment_id)
    if record is None:
        fail(f"no experiment {experiment_id!r}: {store.note}" if store.backend == "none"
             else f"no experiment {experiment_id!r} in {store.location}")
    if json_out:
        exclude = None if vectors else {"text_embedding", "arch_embedding"}
        _print_json(record.model_dump(mode="json", exclude=exclude))
        return
    s = summary(record)
    if record.metrics is not None:  # the metric first, with its direction: a loss reads the other way
        order = "higher" if record.metric.higher_is_better else "lower"
        s["metric"] = f"{s['metric']} ({order} is better)"
    for key in ("id", "run_id", "task", "status", "failure_kind", "metric", "score", "test_score", "val_accuracy",
                "test_accuracy", "params", "hypothesis_id", "parent_id", "code_hash", "onnx_text_hash", "created_at"):
        out.print(f"[bold]{key}:[/] {s[key] if s[key] is not None else '-'}", highlight=False)
    if record.failure:
        out.print(f"[bold]failure:[/] {record.failure.message}", highlight=False)
    out.print(f"[bold]cost:[/] {record.cost.model_dump()}", highlight=False)
    out.print(f"[bold]hypothesis:[/] {record.hypothesis or '-'}", highlight=False)
    out.print(f"[bold]lesson:[/] {record.lesson or '-'}", highlight=False)
    if record.code:
        out.print("[bold]code:[/]")
        out.print(record.code, markup=False, highlight=False)


@memory_app.command("search")
def search(text: Annotated[str, typer.Argument(help="What to look for, in words (a hypothesis, a question).")],
           k: KOpt = 5, insights: Annotated[int, typer.Option(min=0, help="Seed insights to show too.")] = 3,
           task: TaskOpt = None, status: StatusOpt = None, run: RunOpt = None, min_score: MinOpt = None,
           max_score: MaxOpt = None, memory: MemorySpecOpt = None, json_out: JsonOpt = False,
           config: ConfigOpt = None) -> None:
    """Experiments whose hypothesis is nearest in meaning to TEXT, and the nearest seed insights."""
    from agentnas.memory.seed import load_seed_knowledge
    from agentnas.memory.text import minilm_embedder

    if not text.strip():
        fail("the search text is empty")
    _check_spec(memory)
    cfg = _config(config)
    embed = minilm_embedder(cfg.cache_dir)
    vector = embed([text])[0]
    with _open(memory, cfg) as store:
        hits = store.similar(vector, "text", k, _filter(task, status, run, None, min_score, max_score))
    found = load_seed_knowledge(cfg.cache_dir).search(vector, insights) if insights else []
    rows = _hits(hits)
    seed_rows = [{"id": i.id, "distance": d, "insight": i.insight, "applies_when": i.applies_when,
                  "expected_effect": i.expected_effect, "source": i.source.model_dump()} for i, d in found]
    if json_out:
        _print_json({"experiments": rows, "insights": seed_rows})
        return
    _table(f"experiments nearest to {text[:60]!r}", rows, distance=True)
    if seed_rows:
        table = Table(title="seed insights")
        for col in ("distance", "id", "insight", "source"):
            table.add_column(col, overflow="fold")
        for i, d in found:
            table.add_row(f"{d:.4f}", i.id, i.insight, i.source.cite())
        out.print(table)


@memory_app.command("similar")
def similar(file: Annotated[Path, typer.Argument(help="A candidate .py (exported in the sandbox) or an .onnx file.")],
            k: KOpt = 5, text: Annotated[str | None, typer.Option(
                "--text", help="Also rank by this hypothesis text (both rankings fused).")] = None,
            task: Annotated[str | None, typer.Option(
                "--task", help="Task whose input shape the candidate is exported for, and whose experiments "
                               "are compared (default: the config's, mnist1d).")] = None,
            memory: MemorySpecOpt = None, json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Experiments with the nearest architectures to FILE, and FILE's novelty verdict
    (duplicate, near_duplicate or novel) against the memory of the task."""
    from agentnas.memory.arch import describe_files
    from agentnas.memory.novelty import judge
    from agentnas.memory.retrieve import similar_experiments
    from agentnas.memory.text import minilm_embedder
    from agentnas.tasks import TaskError, get_task

    _check_spec(memory)
    cfg = _config(config, task=task)
    try:
        get_task(cfg.task)
    except TaskError as e:
        fail(str(e))
    if not file.is_file():
        fail(f"no such file: {file}")
    if file.suffix not in (".py", ".onnx"):
        fail(f"{file}: expected a candidate .py file or an .onnx file")
    described = describe_files([file], cfg)
    if isinstance(described, int):
        raise typer.Exit(described)
    desc = described[file]
    if isinstance(desc, str):
        fail(f"{file}: {desc}", code=1)
    import numpy as np

    arch = np.asarray(desc.arch_embedding, dtype=np.float32)
    text_vector = minilm_embedder(cfg.cache_dir)([text])[0] if text else None
    with _open(memory, cfg) as store:
        hits = similar_experiments(store, text_vector, arch, k, MemoryFilter(task=cfg.task))
        verdict = judge(store, cfg.task, desc.code_hash or None, desc.onnx_text_hash, arch)
    rows = _hits(hits)
    if json_out:
        _print_json({"path": str(file), "task": cfg.task, "code_hash": desc.code_hash,
                     "onnx_text_hash": desc.onnx_text_hash, "params": desc.params,
                     "novelty": verdict.model_dump(), "similar": rows})
        return
    out.print(f"[bold]{file}[/]: {verdict.verdict} — {verdict.reason}", highlight=False)
    _table(f"nearest {cfg.task} experiments", rows, distance=True)


@memory_app.command("stats")
def stats(memory: MemorySpecOpt = None, json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """How many experiments, per task, status and failure kind; the best of each task."""
    from agentnas.memory.lock import read_holder
    from agentnas.memory.queue import pending

    cfg = _config(config)
    with _open(memory, cfg) as store:
        by_task: dict[str, dict[str, Any]] = {}
        failures: dict[str, int] = {}
        total = 0
        for r in store.records():
            total += 1
            t = by_task.setdefault(r.task, {"experiments": 0, "by_status": {}, "best": None})
            t["experiments"] += 1
            t["by_status"][str(r.status)] = t["by_status"].get(str(r.status), 0) + 1
            if r.failure is not None:
                failures[str(r.failure.kind)] = failures.get(str(r.failure.kind), 0) + 1
            if r.score is not None and (t["best"] is None or r.metric.better(r.score, t["best"]["val_score"])):
                t["best"] = {"id": r.id, "val_score": r.score, "metric": r.metric.name,
                             "val_accuracy": r.metrics.val_accuracy if r.metrics else None,
                             "test_accuracy": r.metrics.test_accuracy if r.metrics else None}
        info = store.describe()
    embedded = store.backend == "embedded"
    holder = read_holder(Path(store.location)) if embedded else None
    queued = pending(Path(store.location)) if embedded else 0
    report = {**info, "experiments": total, "queued": queued, "tasks": by_task, "failures": failures,
              "writer": holder.model_dump(mode="json") if holder else None}
    if json_out:
        _print_json(report)
        return
    if store.backend == "none":
        return  # the note on stderr said it: no store there yet
    out.print(f"[bold]{store.backend}[/] memory at {store.location}: {total} experiments", highlight=False)
    if queued:
        out.print(f"{queued} more queued by runs, stored at the next write to the store", highlight=False)
    if holder:
        out.print(f"in use by {holder.describe()}", highlight=False)
    table = Table(title="per task")
    for col in ("task", "experiments", "by status", "best (val score)"):
        table.add_column(col)
    for name, t in sorted(by_task.items()):
        b = t["best"]
        best = f"{b['id']} ({'' if b['metric'] == 'accuracy' else b['metric'] + ' '}{b['val_score']:.4f})" if b else "-"
        table.add_row(name, str(t["experiments"]), ", ".join(f"{k} {v}" for k, v in sorted(t["by_status"].items())),
                      best)
    out.print(table)
    if failures:
        out.print("failures: " + ", ".join(f"{k} {v}" for k, v in sorted(failures.items())), highlight=False)


@memory_app.command("export")
def export(file: Annotated[Path, typer.Argument(help="JSONL file to write (one experiment per line).")],
           task: TaskOpt = None, status: StatusOpt = None, run: RunOpt = None, min_score: MinOpt = None,
           max_score: MaxOpt = None, memory: MemorySpecOpt = None, json_out: JsonOpt = False,
           config: ConfigOpt = None) -> None:
    """Write the experiments (vectors included) to a JSONL file, to move them to another
    machine or backend with `agentnas memory import`."""
    from agentnas.memory.transfer import export_jsonl

    cfg = _config(config)
    if file.is_dir():
        fail(f"{file} is a folder; name a file")
    if not file.parent.is_dir():
        fail(f"no such folder: {file.parent}")
    with _open(memory, cfg) as store:
        count = export_jsonl(store, file, _filter(task, status, run, None, min_score, max_score))
    if json_out:
        _print_json({"path": str(file), "experiments": count})
    else:
        out.print(f"exported {count} experiments to {file}", highlight=False)


@memory_app.command("import")
def import_(file: Annotated[Path, typer.Argument(help="JSONL file written by `agentnas memory export`.")],
            memory: MemorySpecOpt = None, json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Upsert the experiments of a JSONL file into the memory (by id: importing twice
    changes nothing). Every line is checked first; a bad file stores nothing."""
    from agentnas.memory.transfer import TransferError, import_jsonl, read_jsonl

    cfg = _config(config)
    if not file.is_file():
        fail(f"no such file: {file}")
    try:
        read_jsonl(file)  # check the whole file before the store is even opened
    except TransferError as e:
        fail(str(e))
    with _open(memory, cfg, read_only=False) as store:
        try:
            with store.session():  # one hold for the whole file; runs meanwhile queue their writes
                count = import_jsonl(store, file)
                total = store.count()
        except (TransferError, ValueError) as e:
            fail(str(e))
        except MemoryStoreError as e:
            fail(str(e), code=1)
    if json_out:
        _print_json({"path": str(file), "imported": count, "experiments": total})
    else:
        out.print(f"imported {count} experiments; the memory holds {total}", highlight=False)
