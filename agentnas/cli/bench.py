"""`agentnas bench ...`: benchmarks measured on this machine (registered on the CLI by agentnas.cli)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from agentnas.cli.apps import bench_app
from agentnas.cli.options import ConfigOpt, IsolationOpt, JsonOpt, SlotsOpt, config_or_exit, err, fail, out


@bench_app.command("sandbox")
def bench_sandbox(
    json_out: JsonOpt = False,
    epochs: Annotated[int, typer.Option(min=1, help="Recipe length for the benchmark.")] = 20,
    n: Annotated[int, typer.Option(min=1, help="Evaluations per measurement.")] = 8,
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
    train_n: Annotated[int, typer.Option(min=2, help="NB201 architectures to train on (within-space).")] = 200,
    test_n: Annotated[int, typer.Option(min=2, help="Architectures of each space to test on.")] = 2000,
    cross_n: Annotated[int, typer.Option(
        min=2, help="Architectures of one space to train on for the cross-space τ.")] = 400,
    members: Annotated[int, typer.Option(min=1, help="Heads in each ensemble.")] = 5,
    steps: Annotated[int, typer.Option(min=1, help="Training steps per head.")] = 1500,
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
    table.add_row("online update p50 / max s", f"{online['update_s_p50']:.4f} / {online['update_s_max']:.4f}", "", "")
    table.add_row("latency p50 / p90 s", f"{report['latency']['p50_seconds']:.3f} / "
                  f"{report['latency']['p90_seconds']:.3f}", "", "")
    out.print(table)


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _seeds(text: str, flag: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        fail(f"{flag} takes comma-separated integers, e.g. 0,1,2 (got {text!r})")
    if any(x < 0 for x in seeds):
        fail(f"{flag}: seeds must be >= 0")
    return seeds


@bench_app.command("llm")
def bench_llm(
    json_out: JsonOpt = False,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="The OpenAI-compatible endpoint (else $OPENAI_BASE_URL). --overhead without it uses "
                           "the test suite's scripted server (a checkout only).")] = None,
    model: Annotated[str | None, typer.Option(help="Model name at --base-url (else $AGENTNAS_LLM_MODEL).")] = None,
    task: Annotated[str, typer.Option(help="Task of the compared runs.")] = "mnist1d",
    evals: Annotated[int, typer.Option(min=1, help="Real evaluations per run.")] = 30,
    seeds: Annotated[str, typer.Option(help="Seeds of the LLM runs, comma-separated.")] = "0",
    offline_seeds: Annotated[str, typer.Option(help="Seeds of the offline runs, comma-separated.")] = "0,1,2",
    epochs: Annotated[int | None, typer.Option(min=1, help="Override the task recipe's epochs (both runs).")] = None,
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Where the runs live; the same command again resumes them.")] = Path("agentnas-out/bench-llm"),
    overhead: Annotated[bool, typer.Option(
        help="Instead: the LLM layer's own latency per proposal beside a bare HTTP round trip.")] = False,
    n: Annotated[int, typer.Option(min=1, help="--overhead: proposals per measurement.")] = 200,
    slots: SlotsOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Does the LLM help? The same discovery run (task, seed, recipe) with the LLM proposer and with the
    offline grammar, N evaluations each: proposals valid first try / after repairs, duplicates caught,
    grammar fallbacks, LLM calls, tokens and seconds per evaluated candidate, best validation and its
    test accuracy, wall time. Resumable: run the same command again after any stop. The API key comes
    from OPENAI_API_KEY."""
    import os

    from agentnas.llm import LLMError

    if overhead:
        from agentnas.bench.llm import run_llm_bench

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
        return
    from agentnas.bench.proposers import compare
    from agentnas.run.settings import RunError

    llm_seeds, off_seeds = _seeds(seeds, "--seeds"), _seeds(offline_seeds, "--offline-seeds")
    if llm_seeds and not (base_url or os.environ.get("OPENAI_BASE_URL")):
        fail("bench llm compares against a real endpoint: pass --base-url (and --model), or --seeds '' to run "
             "the offline proposer alone")
    cfg = config_or_exit(config, slots=slots, task=task)
    try:
        report = compare(cfg, task=task, evals=evals, out_dir=out_dir, llm_seeds=llm_seeds, offline_seeds=off_seeds,
                         base_url=base_url, model=model, epochs=epochs,
                         log=lambda m: err.print(m, highlight=False, markup=False, soft_wrap=True))
    except RunError as e:
        fail(str(e))
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table(title=f"LLM vs offline proposer · {task} · {evals} evaluations per run")
    for col in ("run", "best val", "its test", "valid 1st", "valid ≤2 rep.", "mended", "dup. caught", "fallbacks",
                "dup. trained", "calls/eval", "tokens/eval", "LLM s/eval", "wall s"):
        table.add_column(col, justify="right")
    for name, r in report["runs"].items():
        p = r["proposals"]
        table.add_row(name, f"{r['best_val_accuracy'] or 0:.4f}", f"{r['best_test_accuracy'] or 0:.4f}",
                      _rate(r["valid_first_try_rate"]), _rate(r["valid_after_repairs_rate"]), str(p["mended"]),
                      str(p["duplicates"]),
                      str(p["fallbacks"]), str(r["duplicate_trainings"]), f"{r['llm_calls_per_eval']:.2f}",
                      ("~" if r["llm_tokens_estimated"] else "") + f"{r['llm_tokens_per_eval']:,.0f}",
                      f"{r['llm_seconds_per_eval']:.0f}", f"{r['wall_s']:.0f}")
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
    methods: Annotated[str | None, typer.Option(help="Comma-separated: random, rea, ls, mcts (one objective; the "
                                                "default); random, nsga2, mcts (with a cost).")] = None,
    objectives: Annotated[str, typer.Option(
        help="val_accuracy alone, or val_accuracy and a cost the graph tells (macs; on macro also params): "
             "then the searches look for the front and the figure is its hypervolume.")] = "val_accuracy",
    plot_path: Annotated[Path | None, typer.Option("--plot", help="Also write a PNG of test accuracy vs "
                                                                  "queries (needs matplotlib; one objective).")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Search policies on a tabular benchmark: per method, the mean ± 95 % CI of the TEST
    accuracy of the best-VALIDATION architecture after 10, 25, 50, 100 queries, and the median
    number of queries to reach the space's best-validation architecture. With
    `--objectives val_accuracy,macs`: the hypervolume of each search's front (validation
    accuracy against MACs) in a box fixed by the space, beside the space's own front, for
    random search, NSGA-II and MCTS by expected hypervolume improvement. MCTS encodes each
    architecture it scores once (an ONNX export, in parallel processes) into the cache: a first
    run takes longer, with progress on stderr (also with --json); the baselines report first."""
    from agentnas.bench.search import BenchError, plot, render, run_search_bench
    from agentnas.records.objectives import parse_objectives
    from agentnas.search import PARETO_POLICY_NAMES, POLICY_NAMES
    from agentnas.tasks import TaskError

    cfg = config_or_exit(config)
    try:
        names = parse_objectives(objectives)
    except ValueError as e:
        fail(f"--objectives: {e}")
    if names[0] != "val_accuracy" or len(names) > 2:
        fail("--objectives: a tabular benchmark ranks by val_accuracy, alone or with one cost (e.g. val_accuracy,macs)")
    cost = names[1] if len(names) == 2 else None
    allowed = PARETO_POLICY_NAMES if cost else tuple(m for m in POLICY_NAMES if m not in ("nsga2",))
    methods = methods or ",".join(allowed)
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    if not chosen or any(m not in allowed for m in chosen):
        fail(f"--methods {methods!r}: expected a comma-separated list of {', '.join(allowed)}"
             + (" (with a cost)" if cost else " (one objective)"))
    if cost is not None:
        if plot_path is not None:
            fail("--plot draws one objective's curves; leave it out with a cost (the JSON holds the curves)")
        _bench_pareto(space, dataset, queries, seeds, chosen, cost, cfg.cache_dir, json_out)
        return
    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            fail("--plot needs matplotlib, which is not installed; run without --plot or install it")
    try:
        # Progress goes to stderr even with --json (stdout holds only the JSON): a first run
        # encodes for many minutes and must not look hung. One line per message, unwrapped.
        report = run_search_bench(space, dataset, queries, seeds, chosen, cfg.cache_dir,
                                  log=lambda m: err.print(m, soft_wrap=True, highlight=False))
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


def _bench_pareto(space: str, dataset: str, queries: int, seeds: int, methods: list[str], cost: str,
                  cache_dir: Path, json_out: bool) -> None:
    from agentnas.bench.pareto import render_pareto, run_pareto_bench
    from agentnas.bench.search import BenchError
    from agentnas.tasks import TaskError

    try:
        report = run_pareto_bench(space, dataset, queries, seeds, methods, cost, cache_dir,
                                  log=lambda m: err.print(m, soft_wrap=True, highlight=False))
    except (BenchError, TaskError) as e:
        fail(str(e))
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    out.print(render_pareto(report))


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
