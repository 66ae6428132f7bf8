"""The `agentnas` command line (typer + rich).

Every command reads one `AgentnasConfig` (agentnas.toml < AGENTNAS_* < flags). Usage and
configuration errors exit with status 2 and a message on stderr; `--json` prints only
JSON on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentnas import __version__
from agentnas.config import AgentnasConfig, ConfigError, load_config

app = typer.Typer(
    name="agentnas", no_args_is_help=True, add_completion=False,
    help="Agentic neural architecture search: candidates are PyTorch files, trained in an "
         "isolated sandbox under the task's fixed recipe and scored on the trusted side.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks measured on this machine.")
app.add_typer(bench_app, name="bench")
value_app = typer.Typer(no_args_is_help=True, help="The value model: pretraining the zero-shot predictor.")
app.add_typer(value_app, name="value")
runs_app = typer.Typer(no_args_is_help=True, help="Stored runs: what a run did, read from its journal.")
app.add_typer(runs_app, name="runs")
from agentnas.memory.cli import memory_app  # noqa: E402  (the sub-app lives with its package)

app.add_typer(memory_app, name="memory")

# Piped output (logs, CI) gets a wide fixed width instead of rich's 80-column fallback.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML config file (default: ./agentnas.toml)")]
TaskOpt = Annotated[str | None, typer.Option(
    "--task", help="Task: mnist1d, digits, or a path to an .npz file (default: mnist1d)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]


def fail(message: str, code: int = 2) -> NoReturn:
    # Escaped: messages hold literal brackets (pip extras, paths) that rich would take for markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def config_or_exit(config: Path | None, **flags: Any) -> AgentnasConfig:
    try:
        return load_config(config, **flags)
    except ConfigError as e:
        fail(str(e))


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        out.print(f"agentnas {__version__}")
        raise typer.Exit(0)


def _task_or_exit(name: str) -> Any:
    from agentnas.tasks import TaskError, get_task

    try:
        return get_task(name)
    except TaskError as e:
        fail(str(e))


EpochsOpt = Annotated[int | None, typer.Option(
    help="Override the recipe's number of epochs (the rest of the recipe stays the task's).")]
SeedOpt = Annotated[int | None, typer.Option(help="Override the recipe's seed (to measure seed-to-seed spread).")]
TimeoutOpt = Annotated[float | None, typer.Option(help="Wall-clock limit per candidate, seconds (default: 600).")]
MemoryOpt = Annotated[float | None, typer.Option(help="Memory limit per candidate, GB (default: 4).")]
SlotsOpt = Annotated[int | None, typer.Option(help="Parallel evaluation slots (default: number of cores).")]
DeviceOpt = Annotated[str | None, typer.Option(help="auto, cpu or cuda (default: auto).")]
IsolationOpt = Annotated[str | None, typer.Option(help="auto (bwrap, else unshare), bwrap or unshare (default: auto).")]
UnsafeOpt = Annotated[bool | None, typer.Option(
    "--unsafe-no-isolation", help="Run candidates UNCONFINED when no isolation works. Dangerous.")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", help="Where each candidate's ONNX and source are kept (default: ./agentnas-out).")]
CacheOpt = Annotated[Path | None, typer.Option(help="Dataset cache (default: ~/.cache/agentnas).")]
GraphFilesArg = Annotated[list[Path], typer.Argument(
    help="Candidate .py files (exported to ONNX inside the sandbox) or .onnx files.")]
FilesArg = Annotated[list[Path], typer.Argument(
    help="Candidate .py files, each defining build_model(input_shape, num_classes).")]


@app.command()
def evaluate(
    files: FilesArg,
    task: TaskOpt = None,
    json_out: JsonOpt = False,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    timeout: TimeoutOpt = None,
    memory_limit: MemoryOpt = None,
    slots: SlotsOpt = None,
    device: DeviceOpt = None,
    isolation: IsolationOpt = None,
    unsafe_no_isolation: UnsafeOpt = None,
    out_dir: OutOpt = None,
    cache_dir: CacheOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train and score candidate files in the sandbox; print a table (or JSON list).

    Exit 0 when every file was evaluated, whatever its status; 2 on usage or config errors.
    """
    cfg = config_or_exit(config, task=task, epochs=epochs, seed=seed, timeout_s=timeout,
                         memory_limit_gb=memory_limit, slots=slots, device=device, isolation=isolation,
                         unsafe_no_isolation=unsafe_no_isolation, out_dir=out_dir, cache_dir=cache_dir)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        fail(f"no such candidate file: {', '.join(missing)}")
    from agentnas.evaluator import EvalOptions, Evaluator, IsolationUnavailable, SandboxStartError

    the_task = _task_or_exit(cfg.task)
    options = EvalOptions(epochs=cfg.epochs, seed=cfg.seed, timeout_s=cfg.timeout_s,
                          memory_limit_gb=cfg.memory_limit_gb, file_size_limit_mb=cfg.file_size_limit_mb,
                          slots=min(cfg.slots, len(files)),
                          device=cfg.device, isolation=cfg.isolation, allow_unsafe=cfg.unsafe_no_isolation)
    from agentnas.tasks import TaskError

    try:
        evaluator = Evaluator(the_task, options, cache_dir=cfg.cache_dir, out_dir=cfg.out_dir / "candidates")
    except (IsolationUnavailable, TaskError) as e:  # TaskError: e.g. a tabular task has no data to train on
        fail(str(e))
    if evaluator.isolation.name == "none":
        err.print("[bold red]WARNING: candidates run WITHOUT isolation (--unsafe-no-isolation).[/]")
    done = 0

    def progress(result: Any) -> None:
        nonlocal done
        done += 1
        if not json_out or err.is_terminal:
            err.print(f"[{done}/{len(files)}] {result.path}: {result.status}", highlight=False)

    try:
        with evaluator:
            results = evaluator.evaluate(files, on_result=progress)
    except SandboxStartError as e:
        fail(str(e), code=1)
    except KeyboardInterrupt:
        fail("interrupted; evaluations in progress were stopped", code=130)
    if json_out:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in results], indent=2) + "\n")
        return
    title = f"{the_task.spec.name} · {evaluator.recipe.epochs} epochs · isolation {evaluator.isolation.name}"
    table = Table(title=title)
    columns = ["path", "status", "val acc", "test acc", "params", "train s", "wall s"]
    if any(not r.ok for r in results):
        columns.append("failure")
    for col in columns:
        left = col in ("path", "status", "failure")
        table.add_column(col, justify="left" if left else "right", overflow="fold",
                         no_wrap=col not in ("path", "failure"), ratio=2 if left else None)
    for r in results:
        m = r.metrics
        row = [r.path, "[green]ok[/]" if r.ok else "[red]failed[/]",
               f"{m.val_accuracy:.4f}" if m else "-", f"{m.test_accuracy:.4f}" if m else "-",
               f"{r.params:,}" if r.params is not None else "-",
               f"{r.train_seconds:.2f}" if r.train_seconds is not None else "-", f"{r.wall_seconds:.2f}"]
        if "failure" in columns:
            row.append(f"{r.failure.kind}: {r.failure.message[:80]}" if r.failure else "")
        table.add_row(*row)
    out.print(table)
    if the_task.spec.baselines:
        published = ", ".join(f"{b.name} {b.test_accuracy:.0%}" for b in the_task.spec.baselines)
        out.print(f"published {the_task.spec.name} baselines (test accuracy): {published}", highlight=False)


@app.command()
def encode(
    files: GraphFilesArg,
    task: TaskOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Print each graph as ONNX-Net style text (--json: one line per file with its hash,
    chunk count, features and vector).

    Exit 1 when any file could not be encoded (the others are still printed); 2 on usage or config errors.
    """
    cfg = config_or_exit(config, task=task)
    from agentnas.encode.command import EncodeOptions, run_encode

    code = run_encode(EncodeOptions(paths=files, json_out=json_out, config=cfg))
    if code:
        raise typer.Exit(code)


@app.command()
def predict(
    files: GraphFilesArg,
    task: TaskOpt = None,
    json_out: JsonOpt = False,
    model: Annotated[Path | None, typer.Option(help="Value model file (default: the one shipped).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Predict each architecture's value before any training: {"path", "mean", "std"} per
    file; a higher mean means better predicted accuracy, std is the ensemble's disagreement.

    Exit 1 when any file could not be scored (the others still are); 2 on usage or config errors.
    """
    cfg = config_or_exit(config, task=task)
    from agentnas.tasks import TaskError, get_task
    from agentnas.value.predict import run_predict

    try:
        get_task(cfg.task)
    except TaskError as e:
        fail(str(e))
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
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Pretrain the zero-shot predictor on NAS-Bench-201 (CIFAR-10) and NAS-Bench-Macro
    architectures with a pairwise ranking loss. Encodings are cached: a rerun is cheap."""
    from pydantic import ValidationError

    from agentnas.value.pretrain import PretrainOptions, pretrain

    cfg = config_or_exit(config)
    try:
        # Validated by pydantic: an unknown space or mode becomes a clear usage error.
        options = PretrainOptions.model_validate({
            "spaces": [s.strip() for s in spaces.split(",") if s.strip()], "per_space": per_space,
            "mode": mode, "members": members, "seed": seed, "prior_weight": prior_weight})
    except ValidationError as e:
        fail(f"invalid option: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}")
    try:
        report = pretrain(options, cfg.cache_dir, out_path, log=None if json_out else err.print)
    except FileNotFoundError as e:
        fail(str(e))
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        out.print(report)


@app.command()
def tasks(json_out: JsonOpt = False) -> None:
    """List the built-in tasks with their recipes and published baselines."""
    from agentnas.tasks import TASK_NAMES, get_task

    specs = [get_task(name).spec for name in TASK_NAMES]
    if json_out:
        sys.stdout.write(json.dumps([s.model_dump(mode="json") for s in specs], indent=2) + "\n")
        return
    table = Table(title="tasks (or pass a path to an .npz file)")
    for col in ("name", "input", "classes", "recipe", "published baselines (test acc)"):
        table.add_column(col)
    for s in specs:
        r = s.recipe
        table.add_row(s.name, str(s.input_shape), str(s.num_classes),
                      f"{r.optimizer} lr={r.lr:g} {r.schedule} {r.epochs} ep bs={r.batch_size} seed={r.seed}",
                      ", ".join(f"{b.name} {b.test_accuracy:.0%}" for b in s.baselines) or "-")
    out.print(table)


@bench_app.command("sandbox")
def bench_sandbox(
    json_out: JsonOpt = False,
    epochs: Annotated[int, typer.Option(help="Recipe length for the benchmark.")] = 20,
    n: Annotated[int, typer.Option(help="Evaluations per measurement.")] = 8,
    slots: SlotsOpt = None,
    isolation: IsolationOpt = None,
    candidate: Annotated[Path | None, typer.Option(help="Candidate (default: the reference MNIST-1D CNN).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Evaluations per hour in full isolation, and seconds per evaluation beside a bare
    in-process training loop with the same recipe (the isolation overhead)."""
    from agentnas.bench.sandbox import run_sandbox_bench
    from agentnas.evaluator import IsolationUnavailable

    cfg = config_or_exit(config, slots=slots, isolation=isolation)
    try:
        report = run_sandbox_bench(cfg, epochs=epochs, n=n, candidate=candidate,
                                   log=None if json_out else err.print)
    except IsolationUnavailable as e:
        fail(str(e))
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table(title="sandbox benchmark")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in report.items():
        table.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
    out.print(table)


@bench_app.command("value")
def bench_value(
    json_out: JsonOpt = False,
    mode: Annotated[str, typer.Option(help="Encoding: features, both or chunks.")] = "features",
    train_n: Annotated[int, typer.Option(help="NB201 architectures to train on (within-space).")] = 200,
    test_n: Annotated[int, typer.Option(help="Architectures of each space to test on.")] = 2000,
    cross_n: Annotated[int, typer.Option(help="Architectures of one space to train on for the cross-space τ.")] = 400,
    members: Annotated[int, typer.Option(help="Heads in each ensemble.")] = 5,
    steps: Annotated[int, typer.Option(help="Training steps per head.")] = 1500,
    prior_weight: Annotated[str, typer.Option(help="Committee prior weight for the cross-space fits: a number "
                                              ">= 0 (0: heads only) or 'auto'.")] = "auto",
    config: ConfigOpt = None,
) -> None:
    """Kendall τ within NB201 and across spaces (beside params and FLOPs), calibration of
    the online model, and encode + predict latency per candidate with the sandboxed export.
    Encodings are cached by graph, so a rerun only pays for new architectures."""
    from agentnas.bench.value import run_value_bench
    from agentnas.value.zeroshot import parse_prior_weight

    cfg = config_or_exit(config)
    if mode not in ("both", "chunks", "features"):
        fail(f"unknown mode {mode!r}; expected both, chunks or features")
    try:
        weight = parse_prior_weight(prior_weight)
    except ValueError as e:
        fail(str(e))
    report = run_value_bench(cfg, mode, train_n, test_n, cross_n, members, steps,  # type: ignore[arg-type]
                             log=None if json_out else err.print, prior_weight=weight)
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table(title=f"value model benchmark ({mode})")
    for col in ("measure", "τ / value", "params τ", "FLOPs τ"):
        table.add_column(col)
    for name, part in report.items():
        if isinstance(part, dict) and "tau" in part:
            table.add_row(name, f"{part['tau']:.3f}", f"{part.get('params_tau', float('nan')):.3f}",
                          f"{part.get('flops_tau', float('nan')):.3f}")
    online = report["online_nb201"]
    table.add_row("online calibration", f"1σ {online['within_1sigma']:.2f} · 2σ {online['within_2sigma']:.2f}", "", "")
    table.add_row("latency p50 / p90 s", f"{report['latency']['p50_seconds']:.3f} / "
                  f"{report['latency']['p90_seconds']:.3f}", "", "")
    out.print(table)


@bench_app.command("llm")
def bench_llm(
    json_out: JsonOpt = False,
    n: Annotated[int, typer.Option(help="Proposals per measurement.")] = 200,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="Measure this OpenAI-compatible endpoint (default: the test suite's scripted "
                           "server, a checkout only).")] = None,
    model: Annotated[str | None, typer.Option(help="Model name at --base-url.")] = None,
) -> None:
    """Latency and tokens per proposal through the LLM layer (prompt, completion, parse, ledger,
    cassette), streamed and not, beside a bare HTTP round trip with the same request. The API key
    comes from OPENAI_API_KEY."""
    import os

    from agentnas.bench.llm import run_llm_bench
    from agentnas.llm import LLMError

    try:
        report = run_llm_bench(n, base_url=base_url, model=model, api_key=os.environ.get("OPENAI_API_KEY"),
                               log=None if json_out else err.print)
    except (LLMError, FileNotFoundError) as e:
        fail(str(e))
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table(title=f"LLM layer benchmark ({report['endpoint']}, n={n})")
    for col in ("measure", "p50 ms", "p90 ms", "prompt tok/call", "completion tok/call"):
        table.add_column(col)
    for name in ("baseline_raw_http", "prompt_assembly", "proposal", "proposal_streamed"):
        part = report[name]
        table.add_row(name, f"{part['p50_ms']:.2f}", f"{part['p90_ms']:.2f}",
                      f"{part.get('prompt_tokens_per_call', float('nan')):.0f}",
                      f"{part.get('completion_tokens_per_call', float('nan')):.0f}")
    out.print(table)


@bench_app.command("memory")
def bench_memory(
    n: Annotated[int, typer.Option(min=100, help="Vectors in the index.")] = 10_000,
    json_out: JsonOpt = False,
    queries: Annotated[int, typer.Option(min=10, help="Held-out query vectors.")] = 500,
    backends: Annotated[str, typer.Option(help="Comma-separated: hot, embedded, server.")] = "hot,embedded",
    ef: Annotated[int, typer.Option(min=10, help="Hot index search breadth (hnswlib ef).")] = 128,
    calibrate: Annotated[bool, typer.Option(
        help="Also export the novelty calibration variants in the sandbox and report their distances.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Recall@10 against exact search, query p50/p99 and inserts per second of the hot index
    (top-level keys) and of the Chroma backends, on embedding-like data (n x 384)."""
    from agentnas.bench.memory import run_memory_bench

    cfg = config_or_exit(config)
    chosen = [b.strip() for b in backends.split(",") if b.strip()]
    if not chosen or any(b not in ("hot", "embedded", "server") for b in chosen):
        fail(f"--backends {backends!r}: expected a comma-separated list of hot, embedded, server")
    report = run_memory_bench(n, queries=queries, backends=chosen, ef=ef, log=None if json_out else err.print)
    if calibrate:
        from agentnas.memory.calibration import calibrate as run_calibration

        report["novelty_calibration"] = run_calibration(cfg)
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table(title=f"memory benchmark (n={n} x {report['dim']}, {queries} queries)")
    for col in ("backend", "recall@10", "p50 ms", "p99 ms", "inserts/s"):
        table.add_column(col, justify="right")
    for name in ("exact", "hot", "embedded", "server"):
        part = report.get(name)
        if part:
            table.add_row(name, f"{part.get('recall_at_10', 1.0):.4f}", f"{part['query_p50_ms']:.3f}",
                          f"{part['query_p99_ms']:.3f}", f"{part['insert_per_s']:.0f}" if "insert_per_s" in part
                          else "-")
    out.print(table)
    if calibrate:
        cal = report["novelty_calibration"]
        out.print(f"novelty threshold {cal['threshold']}: largest 'same' distance {cal['max_same_distance']}, "
                  f"smallest 'different' {cal['min_different_distance']}, all as expected: {cal['all_as_expected']}",
                  highlight=False)

@bench_app.command("search")
def bench_search(
    space: Annotated[str, typer.Option(help="Tabular space: nb201 or macro.")] = "nb201",
    dataset: Annotated[str, typer.Option(help="nb201: cifar10, cifar100 or imagenet16; macro: cifar10.")] = "cifar10",
    queries: Annotated[int, typer.Option(min=1, help="Table lookups per search (the budget).")] = 100,
    seeds: Annotated[int, typer.Option(min=1, help="Searches per method.")] = 30,
    methods: Annotated[str, typer.Option(help="Comma-separated: random, rea, ls, mcts.")] = "random,rea,ls,mcts",
    plot_path: Annotated[Path | None, typer.Option("--plot", help="Also write a PNG of test accuracy vs "
                                                                  "queries (needs matplotlib).")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Search policies on a tabular benchmark: per method, the mean ± 95 % CI of the TEST
    accuracy of the best-VALIDATION architecture after 10, 25, 50, 100 queries, and the median
    number of queries to reach the space's best-validation architecture. MCTS encodes each
    architecture it scores once (an ONNX export) into the cache: a first run is slow, later ones fast."""
    from agentnas.bench.search import BenchError, plot, render, run_search_bench
    from agentnas.search import POLICY_NAMES
    from agentnas.tasks import TaskError

    cfg = config_or_exit(config)
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    if not chosen or any(m not in POLICY_NAMES for m in chosen):
        fail(f"--methods {methods!r}: expected a comma-separated list of {', '.join(POLICY_NAMES)}")
    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            fail("--plot needs matplotlib, which is not installed; run without --plot or install it")
    try:
        report = run_search_bench(space, dataset, queries, seeds, chosen, cfg.cache_dir,
                                  log=None if json_out else err.print)
    except (BenchError, TaskError) as e:
        fail(str(e))
    if plot_path is not None:
        plot(report, plot_path)
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    out.print(render(report))
    if plot_path is not None:
        out.print(f"plot written to {plot_path}", highlight=False)


@bench_app.command("executor")
def bench_executor(
    task: Annotated[str, typer.Option(help="Task of the batch: mnist1d or digits.")] = "mnist1d",
    epochs: Annotated[int, typer.Option(min=1, help="Recipe length for the benchmark.")] = 5,
    n: Annotated[int, typer.Option(min=1, help="Evaluations in the timed batch.")] = 8,
    workers: Annotated[str, typer.Option(help="Comma-separated parallel slots / Ray workers to measure.")] = "1,2",
    executors: Annotated[str, typer.Option(help="Comma-separated: local, ray.")] = "local,ray",
    rounds: Annotated[int, typer.Option(min=1, help="Timed batches per configuration, interleaved; the "
                                        "median counts.")] = 3,
    candidate: Annotated[Path | None, typer.Option(help="Candidate (default: the task's example CNN).")] = None,
    isolation: IsolationOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Evaluation throughput of the local executor and of Ray (a private instance in this
    process) at each number of workers, on one batch timed in interleaved rounds, with the
    ratios between them. Ray's start-up and each sandbox's first start are timed apart."""
    from agentnas.bench.executor import run_executor_bench
    from agentnas.evaluator import EXECUTORS, ExecutorError, IsolationUnavailable, SandboxStartError

    cfg = config_or_exit(config, isolation=isolation)
    kinds = [k.strip() for k in executors.split(",") if k.strip()]
    if not kinds or any(k not in EXECUTORS for k in kinds):
        fail(f"--executors {executors!r}: expected a comma-separated list of {', '.join(EXECUTORS)}")
    try:
        counts = [int(w) for w in workers.split(",") if w.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        fail(f"--workers {workers!r}: expected positive whole numbers, e.g. 1,2")
    if task not in ("mnist1d", "digits") and candidate is None:
        fail(f"--task {task!r}: expected mnist1d or digits (or give --candidate)")
    try:
        report = run_executor_bench(cfg, task=task, epochs=epochs, n=n, workers=counts, executors=kinds,
                                    rounds=rounds, candidate=candidate, log=None if json_out else err.print)
    except (ExecutorError, IsolationUnavailable) as e:
        fail(str(e))
    except (SandboxStartError, RuntimeError) as e:
        fail(str(e), code=1)
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table(title=f"executor benchmark · {report['n']} × {report['candidate']} · {report['task']} · "
                        f"{report['epochs']} epochs · median of {report['rounds']}")
    for col in ("executor", "workers", "open s", "warm s", "batch s", "evals/h", "× local 1", "× local same"):
        table.add_column(col, justify="left" if col == "executor" else "right")
    for r in report["rows"]:
        ratio = [f"{r[k]:.2f}" if r[k] is not None else "-" for k in ("vs_local_1", "vs_local_same")]
        table.add_row(r["executor"], str(r["workers"]), f"{r['open_seconds']:.1f}", f"{r['warm_seconds']:.1f}",
                      f"{r['batch_seconds']:.1f}", f"{r['evals_per_hour']:.0f}", *ratio)
    out.print(table)


def _duration(text: str | None) -> float | None:
    """'90', '90s', '30m', '1h', '1.5h' -> seconds."""
    if text is None:
        return None
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    t = text.strip().lower()
    try:
        seconds = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        fail(f"--budget-time {text!r} is not a duration (e.g. 90s, 30m, 1h)")
    if seconds <= 0:
        fail("--budget-time must be positive")
    return seconds


@app.command()
def run(
    task: TaskOpt = None,
    budget_evals: Annotated[int | None, typer.Option(
        help="Stop after this many real training evaluations (failed ones count; proposals rejected "
             "before training do not).")] = None,
    budget_time: Annotated[str | None, typer.Option(help="Stop after this long, e.g. 30m or 1h.")] = None,
    proposer: Annotated[str, typer.Option(help="offline (built-in grammar, no API key) or llm.")] = "offline",
    seed: Annotated[int, typer.Option(help="Seed of the search's choices.")] = 0,
    run_dir: Annotated[Path | None, typer.Option(
        help="Run directory; running again on it resumes (default: ./agentnas-runs/<task>-s<seed>).")] = None,
    memory: Annotated[str | None, typer.Option(help="Experiment memory: a path or http://HOST:PORT.")] = None,
    llm_base_url: Annotated[str | None, typer.Option(
        help="OpenAI-compatible endpoint for --proposer llm (else $OPENAI_BASE_URL); the key comes from "
             "$OPENAI_API_KEY and is never stored.")] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model for every role (else $AGENTNAS_LLM_MODEL).")] = None,
    k: Annotated[int, typer.Option(help="Children proposed per expansion.")] = 6,
    train_per_expansion: Annotated[int, typer.Option(help="Children granted real training per expansion.")] = 2,
    beta: Annotated[float, typer.Option(help="Weight of the value model's std (exploration).")] = 1.0,
    max_params: Annotated[int | None, typer.Option(help="Reject candidates with more parameters.")] = None,
    max_macs: Annotated[int | None, typer.Option(
        help="Offline proposer: propose nothing above this many multiply-adds (bounds training time).")] = None,
    value_model: Annotated[str | None, typer.Option(
        help="Zero-shot value model file (default: the shipped one; 'none' for no prior).")] = None,
    executor: Annotated[str, typer.Option(
        help="Where evaluations run: local (this machine's sandbox pool) or ray (pip install 'agentnas[ray]').")
    ] = "local",
    ray_address: Annotated[str | None, typer.Option(
        help="With --executor ray: auto, HOST:PORT, or omitted for a private Ray instance.")] = None,
    epochs: EpochsOpt = None,
    fidelity_epochs: Annotated[int | None, typer.Option(
        help="Successive halving: train every granted child this many epochs first; only the best "
             "--keep fraction goes on to the full recipe. Each training counts as one evaluation.")] = None,
    keep: Annotated[float, typer.Option(help="Fraction of short runs promoted (with --fidelity-epochs).")] = 0.5,
    approve: Annotated[bool, typer.Option(help="Ask before each real training (yes / no / edit).")] = False,
    json_out: JsonOpt = False,
    slots: SlotsOpt = None,
    timeout: TimeoutOpt = None,
    device: DeviceOpt = None,
    isolation: IsolationOpt = None,
    unsafe_no_isolation: UnsafeOpt = None,
    cache_dir: CacheOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Discover architectures for a task: a tree search over hypotheses and model code, guided
    by the value model, every candidate trained in the sandbox. Resumable: run the same
    command again after any stop. Prints the leaderboard and the best model's file."""
    cfg = config_or_exit(config, task=task, epochs=epochs, slots=slots, timeout_s=timeout, device=device,
                         isolation=isolation, unsafe_no_isolation=unsafe_no_isolation, cache_dir=cache_dir)
    if proposer not in ("offline", "llm"):
        fail(f"--proposer must be offline or llm, not {proposer!r}")
    if budget_evals is None and budget_time is None:
        fail("give a budget: --budget-evals N and/or --budget-time 1h")
    if budget_evals is not None and budget_evals <= 0:
        fail("--budget-evals must be positive")
    if not 0 < keep <= 1:
        fail("--keep must be in (0, 1]")
    if executor not in ("local", "ray"):
        fail(f"--executor must be local or ray, not {executor!r}")
    if ray_address is not None and executor != "ray":
        fail("--ray-address needs --executor ray")
    _task_or_exit(cfg.task)
    from agentnas.search.command import execute_run
    from agentnas.search.run import RunOptions

    options = RunOptions(task=cfg.task, run_dir=run_dir or Path("agentnas-runs") / f"{cfg.task}-s{seed}",
                         budget_evals=budget_evals, budget_time_s=_duration(budget_time),
                         proposer="llm" if proposer == "llm" else "offline",
                         seed=seed, k=k, train_per_expansion=train_per_expansion, beta=beta, max_params=max_params,
                         epochs=cfg.epochs, memory=memory, approve=approve, fidelity_epochs=fidelity_epochs,
                         keep=keep, llm_base_url=llm_base_url, llm_model=llm_model, value_model=value_model,
                         max_macs=max_macs, executor="ray" if executor == "ray" else "local",
                         ray_address=ray_address)
    raise typer.Exit(execute_run(options, cfg, json_out, out, err))


@runs_app.command("show")
def runs_show(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (holding journal.sqlite).")],
    json_out: JsonOpt = False,
) -> None:
    """What a run did: experiments, best model, leaderboard, LLM usage (read-only; safe on a live run)."""
    from agentnas.search.command import show_run
    from agentnas.search.run import RunError

    try:
        code = show_run(run_dir, json_out, out)
    except RunError as e:
        fail(str(e))
    raise typer.Exit(code)


@app.command()
def replay(
    run_dir: Annotated[Path, typer.Argument(help="A recorded run directory (holding journal.sqlite).")],
    retrain: Annotated[int, typer.Option(help="Also retrain the top K candidates with new seeds.")] = 0,
    seeds: Annotated[int, typer.Option(help="Seeds per retrained candidate (with --retrain).")] = 2,
    fork_at: Annotated[int | None, typer.Option(
        help="Copy the run up to iteration STEP into --into and continue it there with the flags given.")] = None,
    into: Annotated[Path | None, typer.Option(
        "--into", "--run-dir", help="New run directory (for --fork-at) or where the replay is kept.")] = None,
    budget_evals: Annotated[int | None, typer.Option(help="Budget of the forked run.")] = None,
    proposer: Annotated[str | None, typer.Option(help="Proposer of the forked run (offline or llm).")] = None,
    json_out: JsonOpt = False,
    slots: SlotsOpt = None,
    isolation: IsolationOpt = None,
    cache_dir: CacheOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Re-execute a recorded run from its journal — every LLM reply from the journaled cassette
    (no network), every evaluation from the record — and say whether it ends with the same tree
    and leaderboard (exit 1 if not). --retrain K measures seed-to-seed spread of the top K;
    --fork-at STEP --run-dir NEW continues a copy of the run from STEP with another config."""
    import tempfile

    from agentnas.llm.errors import CassetteMiss
    from agentnas.replay import ReplayDivergence, fork
    from agentnas.replay import replay as do_replay
    from agentnas.search.run import RunError, RunOptions, dumps

    cfg = config_or_exit(config, slots=slots, isolation=isolation, cache_dir=cache_dir)
    if not (run_dir / "journal.sqlite").is_file():
        fail(f"{run_dir} holds no journal.sqlite: not a run directory")
    if fork_at is not None:
        if into is None:
            fail("--fork-at needs --run-dir NEW for the forked run")
        from agentnas.journal import open_journal
        from agentnas.search.command import execute_run

        try:
            copied = fork(run_dir, fork_at, into)
            with open_journal(run_dir, read_only=True) as j:
                recorded = j.get("run", "config")
            assert recorded is not None
            changes = {k: v for k, v in {"budget_evals": budget_evals, "proposer": proposer}.items() if v}
            options = RunOptions.model_validate({**recorded.payload, **changes, "run_dir": str(into)})
        except RunError as e:
            fail(str(e))
        err.print(f"forked {copied} entries (iterations < {fork_at}) into {into}", highlight=False)
        raise typer.Exit(execute_run(options, cfg, json_out, out, err))
    keep = into
    with tempfile.TemporaryDirectory(prefix="agentnas-replay-") as tmp:
        try:
            report = do_replay(run_dir, keep or Path(tmp) / "replayed")
        except (RunError, ReplayDivergence, CassetteMiss) as e:
            fail(f"replay failed: {e}", code=1)
    doc: dict[str, Any] = report.model_dump(mode="json")
    if retrain:
        from agentnas.replay.command import retrain as do_retrain

        try:
            doc["retrain"] = do_retrain(run_dir, retrain, seeds, cfg)
        except RunError as e:
            fail(str(e))
    if json_out:
        sys.stdout.write(dumps(doc) + "\n")
    else:
        verdict = "[green]same tree and leaderboard[/]" if report.same_tree and report.same_leaderboard else \
            f"[red]DIFFERENT[/]: {report.first_difference}"
        out.print(f"replayed {report.iterations} iterations, {report.experiments} experiments, "
                  f"{report.llm_calls_served} LLM replies from the cassette: {verdict}")
        for row in doc.get("retrain", []):
            out.print(f"  {row['id']}: recorded val {row['recorded_val']:.4f} test {row['recorded_test']:.4f}; "
                      f"{row['seeds']} new seeds val {row['val_mean']:.4f}±{row['val_sd']:.4f} "
                      f"test {row['test_mean']:.4f}±{row['test_sd']:.4f} (Δtest {row['delta_test']:+.4f})",
                      highlight=False)
    raise typer.Exit(0 if report.same_tree and report.same_leaderboard else 1)


@app.command()
def chat(
    run_dir: Annotated[Path, typer.Option(help="The run to attach to (its directory).")],
    start: Annotated[bool, typer.Option(
        help="Start `agentnas run` on --run-dir in the background first (log: RUN_DIR/run.log).")] = False,
    task: TaskOpt = None,
    budget_evals: Annotated[int | None, typer.Option(help="With --start: the run's budget.")] = None,
    budget_time: Annotated[str | None, typer.Option(help="With --start: the run's time budget.")] = None,
    memory: Annotated[str | None, typer.Option(help="Experiment memory to answer /ask from.")] = None,
) -> None:
    """Steer a live run: slash commands (/hypothesis, /constrain, /focus, /prune, /ask, /status,
    /watch, /stop; /help lists them) and free text taken as a hypothesis. Messages reach the
    run at its next iteration boundary; the run never waits for the chat."""
    import subprocess

    from agentnas.steering.chat import Repl

    if start:
        if budget_evals is None and budget_time is None:
            fail("--start needs --budget-evals or --budget-time for the run")
        run_dir.mkdir(parents=True, exist_ok=True)
        args = [str(Path(sys.argv[0]).resolve().parent / "agentnas") if Path(sys.argv[0]).name == "agentnas"
                else "agentnas", "run", "--run-dir", str(run_dir)]
        args += ["--task", task] if task else []
        args += ["--budget-evals", str(budget_evals)] if budget_evals else []
        args += ["--budget-time", budget_time] if budget_time else []
        log = open(run_dir / "run.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        err.print(f"started the run (pid {proc.pid}), log {run_dir / 'run.log'}", highlight=False)
    elif not (run_dir / "journal.sqlite").exists():
        fail(f"{run_dir} holds no run yet: start one with `agentnas run --run-dir {run_dir}` or use --start")

    retrieve = None
    if memory is not None:
        def retrieve(text: str) -> Any:
            from agentnas.memory import load_seed_knowledge, open_memory, retrieve_for_prompt

            with open_memory(memory, read_only=True) as store:
                return retrieve_for_prompt(store, task or "mnist1d", text, k=5, seed=load_seed_knowledge())

    def write(line: str) -> None:
        out.print(line, highlight=False, markup=False, soft_wrap=True)

    repl = Repl(run_dir, write, retrieve)
    if sys.stdin.isatty():
        write("agentnas chat: /help lists the commands; free text is a hypothesis; /quit leaves (the run goes on).")

        def lines() -> Any:
            while True:
                try:
                    yield input("agentnas> ")
                except EOFError:
                    return
        repl.run(lines())
    else:
        repl.run(sys.stdin)



@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (holding journal.sqlite).")],
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="The HTML file to write, or a folder for index.html (default: DIR/report/index.html); "
                      "the PNGs are written beside it.")] = None,
    top: Annotated[int, typer.Option(help="Models shown with code, diff and lesson.")] = 25,
    json_out: JsonOpt = False,
) -> None:
    """Write the run's report: one self-contained HTML page (best-so-far curves against a random-search
    baseline, the search tree, the leaderboard with code, diffs and lessons, cost and time) plus its
    pictures as PNGs. Read-only on the run; safe on a live one."""
    from agentnas.report import ReportError, build_report

    if top <= 0:
        fail("--top must be positive")
    try:
        result = build_report(run_dir, out_path, top)
    except ReportError as e:
        fail(str(e))
    except OSError as e:
        fail(f"cannot write the report: {e}")
    if json_out:
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
        return
    out.print(f"report of {result.experiments} evaluations, {result.nodes} architectures: {result.html}",
              highlight=False, soft_wrap=True)
    for png in result.pngs:
        out.print(f"  {png}", highlight=False, soft_wrap=True)

def main() -> None:
    app()
