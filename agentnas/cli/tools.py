"""`agentnas evaluate | encode | predict | tasks | report | value pretrain`: one candidate, one
graph or one run at a time."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import agentnas.cli.options as opt
from agentnas.cli.apps import app, value_app


@app.command()
def evaluate(
    files: opt.FilesArg,
    task: opt.TaskOpt = None,
    json_out: opt.JsonOpt = False,
    epochs: opt.EpochsOpt = None,
    seed: opt.SeedOpt = None,
    timeout: opt.TimeoutOpt = None,
    memory_limit: opt.MemoryOpt = None,
    slots: opt.SlotsOpt = None,
    device: opt.DeviceOpt = None,
    isolation: opt.IsolationOpt = None,
    unsafe_no_isolation: opt.UnsafeOpt = None,
    out_dir: opt.OutOpt = None,
    cache_dir: opt.CacheOpt = None,
    config: opt.ConfigOpt = None,
) -> None:
    """Train and score candidate files in the sandbox; print a table (or JSON list).

    Exit 0 when every file was evaluated, whatever its status; 2 on usage or config errors.
    """
    cfg = opt.config_or_exit(config, task=task, epochs=epochs, seed=seed, timeout_s=timeout,
                         memory_limit_gb=memory_limit, slots=slots, device=device, isolation=isolation,
                         unsafe_no_isolation=unsafe_no_isolation, out_dir=out_dir, cache_dir=cache_dir)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        opt.fail(f"no such candidate file: {', '.join(missing)}")
    from agentnas.evaluator import EvalOptions, Evaluator, IsolationUnavailable, SandboxStartError

    the_task = opt.task_or_exit(cfg.task)
    options = EvalOptions(epochs=cfg.epochs, seed=cfg.seed, timeout_s=cfg.timeout_s,
                          memory_limit_gb=cfg.memory_limit_gb, file_size_limit_mb=cfg.file_size_limit_mb,
                          slots=min(cfg.slots, len(files)),
                          device=cfg.device, isolation=cfg.isolation, allow_unsafe=cfg.unsafe_no_isolation,
                          export_torchscript=cfg.costs.enabled and cfg.costs.torch == "always")
    from agentnas.tasks import TaskError

    try:
        evaluator = Evaluator(the_task, options, cache_dir=cfg.cache_dir, out_dir=cfg.out_dir / "candidates")
    except (IsolationUnavailable, TaskError) as e:  # TaskError: e.g. a tabular task has no data to train on
        opt.fail(str(e))
    if evaluator.isolation.name == "none":
        opt.err.print("[bold red]WARNING: candidates run WITHOUT isolation (--unsafe-no-isolation).[/]")
    done = 0

    def progress(result: Any) -> None:
        nonlocal done
        done += 1
        if not json_out or opt.err.is_terminal:
            opt.err.print(f"[{done}/{len(files)}] {result.path}: {result.status}", highlight=False)

    try:
        with evaluator:
            results = evaluator.evaluate(files, on_result=progress)
    except SandboxStartError as e:
        opt.fail(str(e), code=1)
    except KeyboardInterrupt as stop:
        from agentnas.signals import describe

        opt.fail(f"{describe(stop)}; evaluations in progress were stopped", code=130)
    if cfg.costs.enabled:
        results = [_with_costs(r, cfg.costs, evaluator.isolation, evaluator.device) for r in results]
    if json_out:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in results], indent=2) + "\n")
        return
    title = f"{the_task.spec.name} · {evaluator.recipe.epochs} epochs · isolation {evaluator.isolation.name}"
    table = Table(title=title)
    tokens = the_task.spec.kind == "causal_lm"
    # Token tasks are ranked by loss per token (lower is better); bits = loss / ln 2.
    scores = ["val loss", "val bits", "test loss", "val acc", "test acc"] if tokens else ["val acc", "test acc"]
    columns = ["path", "status", *scores, "params", "train s", "wall s"]
    if any(not r.ok for r in results):
        columns.append("failure")
    for col in columns:
        left = col in ("path", "status", "failure")
        table.add_column(col, justify="left" if left else "right", overflow="fold",
                         no_wrap=col not in ("path", "failure"), ratio=2 if left else None)
    for r in results:
        m = r.metrics
        row = [r.path, "[green]ok[/]" if r.ok else "[red]failed[/]", *_score_cells(m, tokens),
               f"{r.params:,}" if r.params is not None else "-",
               f"{r.train_seconds:.2f}" if r.train_seconds is not None else "-", f"{r.wall_seconds:.2f}"]
        if "failure" in columns:
            row.append(f"{r.failure.kind}: {r.failure.message[:80]}" if r.failure else "")
        table.add_row(*row)
    opt.out.print(table)
    if the_task.spec.baselines:
        published = ", ".join(f"{b.name} {b.test_accuracy:.0%}" for b in the_task.spec.baselines)
        opt.out.print(f"published {the_task.spec.name} baselines (test accuracy): {published}", highlight=False)


def _with_costs(result: Any, config: Any, isolation: Any, device: str) -> Any:
    """The result with the deployment costs of the graph it exported (latency only with
    `[costs] latency = "always"`, through torch on `device` only with `[costs] torch = "always"`:
    nothing here asks for them otherwise), kept beside the graph."""
    from agentnas.encode.costs import measure_costs, write_costs_beside
    from agentnas.encode.onnx_load import OnnxLoadError

    if result.onnx_path is None:
        return result
    try:
        costs = measure_costs(result.onnx_path, config, isolation=isolation, latency=config.latency == "always",
                              torch_device=device if config.torch == "always" else None)
    except OnnxLoadError:
        return result  # a graph the encoder cannot read has no costs; the evaluation stands
    write_costs_beside(result.onnx_path, costs)
    return result.model_copy(update={"costs": costs})


def _score_cells(m: Any, tokens: bool) -> list[str]:
    """The table's score cells of one result (`m`: its Metrics or None)."""
    if m is None:
        return ["-"] * (5 if tokens else 2)
    if not tokens:
        return [f"{m.val_accuracy:.4f}", f"{m.test_accuracy:.4f}"]
    return [f"{m.val_loss:.4f}", f"{m.val_bits:.4f}", f"{m.test_loss:.4f}", f"{m.val_accuracy:.4f}",
            f"{m.test_accuracy:.4f}"]


@app.command()
def encode(
    files: opt.GraphFilesArg,
    task: opt.TaskOpt = None,
    json_out: opt.JsonOpt = False,
    config: opt.ConfigOpt = None,
) -> None:
    """Print each graph as ONNX-Net style text (--json: one line per file with its hash,
    chunk count, features and vector).

    Exit 1 when any file could not be encoded (the others are still printed); 2 on usage or config errors.
    """
    cfg = opt.config_or_exit(config, task=task)
    from agentnas.encode.files import EncodeOptions, run_encode

    code = run_encode(EncodeOptions(paths=files, json_out=json_out, config=cfg))
    if code:
        raise typer.Exit(code)


@app.command()
def predict(
    files: opt.GraphFilesArg,
    task: opt.TaskOpt = None,
    json_out: opt.JsonOpt = False,
    model: Annotated[Path | None, typer.Option(help="Value model file (default: the one shipped).")] = None,
    config: opt.ConfigOpt = None,
) -> None:
    """Predict each architecture's value before any training. Per file: its score ("mean",
    the value model's ranking score: higher means better predicted accuracy, not an accuracy),
    "std" (the heads' disagreement), "percentile" (the share of a fixed set of reference
    architectures that score lower from the same inputs) and "rank" among the files; or
    "status" failed with the reason (e.g. a candidate that does not fit --task). The files of
    one call are predicted from the same inputs: when any lacks zero-cost proxies (an .onnx
    file), all are predicted from the graph alone.

    Exit 0 when every file was handled (scored or reported); 2 on usage or config errors.
    """
    cfg = opt.config_or_exit(config, task=task)
    from agentnas.tasks import TaskError, get_task
    from agentnas.value.predict import run_predict

    try:
        get_task(cfg.task)
    except TaskError as e:
        opt.fail(str(e))
    code = run_predict(files, cfg, model, json_out)
    if code:
        raise typer.Exit(code)


@value_app.command("pretrain")
def value_pretrain(
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the value model file.")],
    spaces: Annotated[str, typer.Option(help="Comma-separated benchmark spaces: nb201, macro.")] = "nb201,macro",
    per_space: Annotated[int, typer.Option(help="Architectures sampled per space.")] = 400,
    mode: Annotated[str, typer.Option(help="Encoding: features, both or chunks.")] = "features",
    members: Annotated[int, typer.Option(help="Heads in the ensemble.")] = 5,
    seed: Annotated[int, typer.Option(help="Sampling and training seed.")] = 0,
    prior_weight: Annotated[str, typer.Option(help="Weight of the zero-cost committee prior: a number >= 0, "
                                              "'auto' (leave-one-space-out CV) or 'cv' (k-fold CV).")] = "auto",
    json_out: opt.JsonOpt = False,
    config: opt.ConfigOpt = None,
) -> None:
    """Pretrain the zero-shot predictor on NAS-Bench-201 (CIFAR-10) and NAS-Bench-Macro
    architectures with a pairwise ranking loss. Encodings are cached: a rerun is cheap."""
    from pydantic import ValidationError

    from agentnas.value.pretrain import PretrainOptions, pretrain

    cfg = opt.config_or_exit(config)
    try:
        # Validated by pydantic: an unknown space or mode becomes a clear usage error.
        options = PretrainOptions.model_validate({
            "spaces": [s.strip() for s in spaces.split(",") if s.strip()], "per_space": per_space,
            "mode": mode, "members": members, "seed": seed, "prior_weight": prior_weight})
    except ValidationError as e:
        opt.fail(f"invalid option: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}")
    try:
        report = pretrain(options, cfg.cache_dir, out_path, log=None if json_out else opt.err.print)
    except FileNotFoundError as e:
        opt.fail(str(e))
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        opt.out.print(report)


@app.command()
def tasks(json_out: opt.JsonOpt = False) -> None:
    """List the built-in tasks with their kind, metric, recipe and published baselines, then
    each kind's candidate contract (what `build_model` takes and what the model must return)."""
    from agentnas.tasks import CONTRACTS, TASK_NAMES, get_task

    specs = [get_task(name).spec for name in TASK_NAMES]
    if json_out:
        sys.stdout.write(json.dumps([{**s.model_dump(mode="json"), "contract": s.contract.model_dump(mode="json")}
                                     for s in specs], indent=2) + "\n")
        return
    table = Table(title="tasks (or pass a path to an .npz file, or a train.bin token stream)")
    for col in ("name", "kind", "input", "classes / vocab", "metric", "recipe", "published baselines (test acc)"):
        table.add_column(col)
    for s in specs:
        r = s.recipe
        metric = f"{s.metric.name} ({'higher' if s.metric.higher_is_better else 'lower'} is better)"
        table.add_row(s.name, s.kind, str(s.input_shape), str(s.num_classes), metric,
                      f"{r.optimizer} lr={r.lr:g} {r.schedule} {r.epochs} ep bs={r.batch_size} seed={r.seed}",
                      ", ".join(f"{b.name} {b.test_accuracy:.0%}" for b in s.baselines) or "-")
    opt.out.print(table)
    for kind, contract in CONTRACTS.items():
        opt.out.print(f"\n[bold]{kind}[/] candidate contract:", highlight=False)
        opt.out.print(contract.text(), highlight=False, markup=False)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (holding journal.sqlite).")],
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="The HTML file to write, or a folder for index.html (default: DIR/report/index.html); "
                      "the PNGs are written beside it.")] = None,
    top: Annotated[int, typer.Option(help="Models shown with code, diff and lesson.")] = 25,
    json_out: opt.JsonOpt = False,
) -> None:
    """Write the run's report: one self-contained HTML page (best-so-far curves against a random-search
    baseline, the search tree, the leaderboard with code, diffs and lessons, cost and time) plus its
    pictures as PNGs. Read-only on the run; safe on a live one."""
    from agentnas.report import ReportError, build_report

    if top <= 0:
        opt.fail("--top must be positive")
    try:
        result = build_report(run_dir, out_path, top)
    except ReportError as e:
        opt.fail(str(e))
    except OSError as e:
        opt.fail(f"cannot write the report: {e}")
    if json_out:
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
        return
    opt.out.print(f"report of {result.experiments} evaluations, {result.nodes} architectures: {result.html}",
              highlight=False, soft_wrap=True)
    for png in result.pngs:
        opt.out.print(f"  {png}", highlight=False, soft_wrap=True)

# The commands of these modules register themselves on `app` when imported (kept apart so no
# module grows past a screenful of commands).
