"""`agentnas run`, `runs show`, `replay` and `chat`: the discovery commands (registered by agentnas.cli)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from agentnas.cli.apps import app, runs_app
from agentnas.cli.options import (
    CacheOpt,
    ConfigOpt,
    DeviceOpt,
    EpochsOpt,
    ExecutorOpt,
    IsolationOpt,
    JsonOpt,
    RayAddressOpt,
    SlotsOpt,
    TaskOpt,
    TimeoutOpt,
    UnsafeOpt,
    config_or_exit,
    err,
    fail,
    out,
    task_or_exit,
)
from agentnas.config import AgentnasConfig


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


# `agentnas run` parameters that are run settings under another name (the rest share theirs).
SETTING_OF_PARAM = {"budget_time": "budget_time_s", "timeout": "timeout_s"}
# Flags of this machine, not of the run: not recorded, repeated in the printed resume command.
LOCAL_PARAMS = {"slots": "--slots", "isolation": "--isolation", "unsafe_no_isolation": "--unsafe-no-isolation",
                "cache_dir": "--cache-dir", "config": "--config"}


def given_params(ctx: typer.Context) -> frozenset[str]:
    """The parameters the user typed (not defaults)."""
    typed = ("COMMANDLINE", "ENVIRONMENT")
    return frozenset(p.name for p in ctx.command.params if p.name is not None
                     and getattr(ctx.get_parameter_source(p.name), "name", None) in typed)


def local_args(ctx: typer.Context, given: frozenset[str]) -> tuple[str, ...]:
    args: list[str] = []
    for name, option in LOCAL_PARAMS.items():
        value = ctx.params.get(name)
        if name in given and value is not None:
            args += [option] if isinstance(value, bool) else [option, str(value)]
    return tuple(args)


def options_or_exit(fields: dict[str, Any]) -> Any:
    """RunOptions from flag values; a bad value is one line naming its flag (exit 2)."""
    from agentnas.run.settings import RunError, options_from

    try:
        return options_from(fields)
    except RunError as e:
        fail(str(e))


@app.command()
def run(
    ctx: typer.Context,
    task: TaskOpt = None,
    budget_evals: Annotated[int | None, typer.Option(
        help="Stop after this many real training evaluations (failed ones count; proposals rejected "
             "before training do not).")] = None,
    budget_time: Annotated[str | None, typer.Option(
        help="Stop after this long of this invocation, e.g. 30m or 1h: no training starts after it (one "
             "already running finishes, within --timeout).")] = None,
    proposer: Annotated[str, typer.Option(help="offline (built-in grammar, no API key) or llm.")] = "offline",
    seed: Annotated[int, typer.Option(help="Seed of the search's choices.")] = 0,
    run_dir: Annotated[Path | None, typer.Option(
        help="Run directory; running again on it resumes (default: ./agentnas-runs/<task>-s<seed>).")] = None,
    memory: Annotated[str | None, typer.Option(help="Experiment memory: a path, http://HOST:PORT or none.")] = None,
    from_memory: Annotated[bool, typer.Option(
        help="Warm-start from the memory's experiments of this task (other runs): the value model learns "
             "their results and their best hypotheses are explored first. Frozen into the journal at the "
             "first start, so resume and replay see the same warm start.")] = False,
    llm_base_url: Annotated[str | None, typer.Option(
        help="OpenAI-compatible endpoint for --proposer llm (else $OPENAI_BASE_URL); the key comes from "
             "$OPENAI_API_KEY and is never stored.")] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model for every role (else $AGENTNAS_LLM_MODEL).")] = None,
    k: Annotated[int | None, typer.Option(
        help="Children proposed per expansion (default 6 offline, 2 with --proposer llm: each is a call).")] = None,
    train_per_expansion: Annotated[int, typer.Option(help="Children granted real training per expansion.")] = 2,
    beta: Annotated[float, typer.Option(help="Weight of the value model's std (exploration).")] = 1.0,
    max_params: Annotated[int | None, typer.Option(help="Reject candidates with more parameters.")] = None,
    max_macs: Annotated[int | None, typer.Option(
        help="Reject candidates whose exported graph has more multiply-adds, before training; the offline "
             "proposer proposes nothing above it (bounds training time).")] = None,
    max_size_mb: Annotated[float | None, typer.Option(
        help="Reject candidates whose exported ONNX file is larger (MB), before training.")] = None,
    max_latency_ms: Annotated[float | None, typer.Option(
        help="Reject candidates whose batch-1 latency (median, ONNX Runtime on CPU, one thread, measured at the "
             "check) is higher, before training.")] = None,
    objectives: Annotated[str | None, typer.Option(
        help="What the run optimises, comma-separated, each with its direction: val_accuracy, val_loss, "
             "latency_ms, params, macs, size_mb, peak_mem_mb (default: the task's metric). Recorded with the "
             "run; a cost objective makes its figure measured for every candidate.")] = None,
    value_model: Annotated[str | None, typer.Option(
        help="Zero-shot value model file (default: the shipped one; 'none' for no prior).")] = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    epochs: EpochsOpt = None,
    fidelity_epochs: Annotated[int | None, typer.Option(
        help="Successive halving: train every granted child this many epochs first; only the best "
             "--keep fraction goes on to the full recipe. Each training counts as one evaluation.")] = None,
    keep: Annotated[float, typer.Option(help="Fraction of short runs promoted (with --fidelity-epochs).")] = 0.5,
    approve: Annotated[bool, typer.Option(help="Ask before each real training (yes / no / edit).")] = False,
    change_settings: Annotated[bool, typer.Option(
        "--change-settings", help="On a resume, use the flags given where they differ from the run's recorded "
                                  "settings (epochs, k, memory, proposer...): the change is recorded in the "
                                  "journal and applies from the next iteration. Without it such a resume is "
                                  "refused; flags left out always keep the recorded values.")] = False,
    search: Annotated[str, typer.Option(
        help="Tabular tasks (nb201-*, macro-cifar10) only: the search method, mcts (value-model guided), random, "
             "rea (regularized evolution) or ls (local search); --budget-evals counts table queries.")] = "mcts",
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
    by the value model, every candidate trained in the sandbox. Resumable: run again on the same
    --run-dir after any stop; settings left out are the recorded ones. Prints the leaderboard
    and the best model's file."""
    cfg = config_or_exit(config, task=task, epochs=epochs, slots=slots, timeout_s=timeout, device=device,
                         isolation=isolation, unsafe_no_isolation=unsafe_no_isolation, cache_dir=cache_dir)
    given_names = given_params(ctx)
    if proposer not in ("offline", "llm"):
        fail(f"--proposer must be offline or llm, not {proposer!r}")
    if budget_evals is not None and budget_evals <= 0:
        fail("--budget-evals must be positive")
    if not 0 < keep <= 1:
        fail("--keep must be in (0, 1]")
    if executor not in ("local", "ray"):
        fail(f"--executor must be local or ray, not {executor!r}")
    if ray_address is not None and executor != "ray":
        fail("--ray-address needs --executor ray")
    # Light imports until every flag is checked: a bad value is answered at once.
    from agentnas.run.settings import RunError, RunOptions, recorded_settings, settle

    the_dir = run_dir or Path("agentnas-runs") / f"{cfg.task}-s{seed}"
    if the_dir.exists() and not the_dir.is_dir():
        fail(f"--run-dir {the_dir} is a file, not a directory")
    fields = dict(task=cfg.task, run_dir=the_dir, budget_evals=budget_evals, budget_time_s=_duration(budget_time),
                  proposer=proposer, seed=seed, k=k if k is not None else (2 if proposer == "llm" else 6),
                  train_per_expansion=train_per_expansion, beta=beta,
                  max_params=max_params, epochs=cfg.epochs, memory=memory, from_memory=from_memory,
                  approve=approve, fidelity_epochs=fidelity_epochs, keep=keep, llm_base_url=llm_base_url,
                  llm_model=llm_model, value_model=value_model, max_macs=max_macs, executor=executor,
                  ray_address=ray_address, timeout_s=cfg.timeout_s, device=cfg.device,
                  max_size_mb=max_size_mb, max_latency_ms=max_latency_ms, objectives=objectives)
    options: RunOptions = options_or_exit(fields)
    try:
        recorded = recorded_settings(the_dir)
        if recorded is not None:  # a resume: what is not given again is the recorded setting
            settings, _ = settle(recorded, options.model_dump(mode="json"),
                                 frozenset(SETTING_OF_PARAM.get(n, n) for n in given_names), change_settings, the_dir)
            options = options_or_exit({**settings, "run_dir": the_dir})
    except RunError as e:
        fail(str(e))
    if options.budget_evals is None and options.budget_time_s is None:
        fail("give a budget: --budget-evals N and/or --budget-time 1h")
    if options.value_model not in (None, "none") and not Path(options.value_model).is_file():
        fail(f"--value-model {options.value_model}: no such file (or 'none' for no prior)")
    if options.from_memory and options.memory == "none":
        fail("--from-memory needs the experiment memory: drop --memory none")
    the_task = task_or_exit(options.task)
    from agentnas.tasks.tabular import TabularTask

    tabular = isinstance(the_task, TabularTask)
    if search != "mcts" and not tabular:
        fail(f"--search {search} applies to tabular tasks; a run on {options.task} is the value-guided tree search")
    if tabular:
        raise typer.Exit(tabular_command(options, cfg, search, json_out, change_settings))
    from agentnas.cli.view import execute_run

    raise typer.Exit(execute_run(options, cfg, json_out, out, err, allow_change=change_settings,
                                 local_args=local_args(ctx, given_names)))


def tabular_command(options: Any, cfg: Any, search: str, json_out: bool, allow_change: bool = False) -> int:
    """A run on a tabular task: the table-lookup search, resumable, then its leaderboard."""
    import json

    from rich.table import Table

    from agentnas.run.settings import RunError
    from agentnas.run.tabular import run_tabular
    from agentnas.tasks import TaskError

    try:
        doc = run_tabular(options, cfg, search, say=lambda m: err.print(m, highlight=False, markup=False,
                                                                          soft_wrap=True), allow_change=allow_change)
    except (RunError, TaskError) as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        return 2
    if json_out:
        print(json.dumps(doc, indent=2))
        return 0
    table = Table(title=f"{doc['task']} · {doc['method']} · {doc['queries']} queries (val is what the search saw)")
    for col in ("#", "architecture", "val", "test"):
        table.add_column(col)
    ranked = sorted((x for x in doc["experiments"] if x["status"] == "ok"), key=lambda x: -x["val_accuracy"])
    for i, x in enumerate(ranked[:10], 1):
        table.add_row(str(i), x["key"], f"{x['val_accuracy']:.2f}", f"{x['test_accuracy']:.2f}")
    out.print(table)
    o = doc["optimum"]
    out.print(f"space optimum (by val): val {o['val_accuracy']:.2f} test {o['test_accuracy']:.2f}"
              + (" — found" if doc["found_optimum"] else ""), highlight=False)
    return 0


@runs_app.command("show")
def runs_show(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (holding journal.sqlite).")],
    json_out: JsonOpt = False,
) -> None:
    """What a run did: experiments, best model, leaderboard, LLM usage (read-only; safe on a live run)."""
    from agentnas.cli.view import show_run
    from agentnas.run.settings import RunError

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
    llm_base_url: Annotated[str | None, typer.Option(
        help="With --fork-at: OpenAI-compatible endpoint of the forked run's LLM proposer (else the recorded "
             "one, else $OPENAI_BASE_URL).")] = None,
    llm_model: Annotated[str | None, typer.Option(
        help="With --fork-at: model of the forked run (else the recorded one, else $AGENTNAS_LLM_MODEL).")] = None,
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
    cfg = config_or_exit(config, slots=slots, isolation=isolation, cache_dir=cache_dir)
    if retrain < 0:
        fail("--retrain must be 0 or more")
    if seeds <= 0:
        fail("--seeds must be positive")
    if fork_at is not None and fork_at < 0:
        fail("--fork-at must be 0 or more")
    if budget_evals is not None and budget_evals <= 0:
        fail("--budget-evals must be positive")
    if proposer is not None and proposer not in ("offline", "llm"):
        fail(f"--proposer must be offline or llm, not {proposer!r}")
    fork_only = {"--budget-evals": budget_evals, "--proposer": proposer, "--llm-base-url": llm_base_url,
                 "--llm-model": llm_model}
    if fork_at is None and any(v is not None for v in fork_only.values()):
        fail(f"{', '.join(k for k, v in fork_only.items() if v is not None)} applies to a fork: add --fork-at STEP")
    if not (run_dir / "journal.sqlite").is_file():
        fail(f"{run_dir} holds no journal.sqlite: not a run directory")
    if fork_at is not None:
        if into is None:
            fail("--fork-at needs --run-dir NEW for the forked run")
        changes = {k: v for k, v in {"budget_evals": budget_evals, "proposer": proposer,
                                     "llm_base_url": llm_base_url, "llm_model": llm_model}.items() if v is not None}
        local = tuple(a for name, value in (("--slots", slots), ("--isolation", isolation),
                                            ("--cache-dir", cache_dir), ("--config", config))
                      if value is not None for a in (name, str(value)))

        raise typer.Exit(fork_and_run(run_dir, fork_at, into, changes, cfg, json_out, out, err, local))
    import tempfile

    from agentnas.llm.errors import CassetteMiss
    from agentnas.replay import ReplayDivergence
    from agentnas.replay import replay as do_replay
    from agentnas.run.settings import RunError
    from agentnas.run.summary import dumps

    keep = into
    with tempfile.TemporaryDirectory(prefix="agentnas-replay-") as tmp:
        try:
            report = do_replay(run_dir, keep or Path(tmp) / "replayed")
        except (RunError, ReplayDivergence, CassetteMiss) as e:
            fail(f"replay failed: {e}", code=1)
    doc: dict[str, Any] = report.model_dump(mode="json")
    if retrain:
        from agentnas.replay.retrain import retrain as do_retrain

        try:
            doc["retrain"] = do_retrain(run_dir, retrain, seeds, cfg)
        except RunError as e:
            fail(str(e))
    if json_out:
        sys.stdout.write(dumps(doc) + "\n")
    else:
        verdict = "[green]same tree and leaderboard[/]" if report.same_tree and report.same_leaderboard else \
            f"[red]DIFFERENT[/]: {report.first_difference}"
        out.print(f"replayed {report.iterations} iterations, {report.experiments} of "
                  f"{report.experiments_recorded} recorded experiments re-executed, "
                  f"{report.llm_calls_served} LLM replies from the cassette: {verdict}")
        for row in doc.get("retrain", []):
            out.print(f"  {row['id']}: recorded val {row['recorded_val']:.4f} test {row['recorded_test']:.4f}; "
                      f"{row['seeds']} new seeds val {row['val_mean']:.4f}±{row['val_sd']:.4f} "
                      f"test {row['test_mean']:.4f}±{row['test_sd']:.4f} (Δtest {row['delta_test']:+.4f})",
                      highlight=False)
    raise typer.Exit(0 if report.same_tree and report.same_leaderboard else 1)


def fork_and_run(source: Path, at: int, into: Path, changes: dict[str, Any], cfg: AgentnasConfig, json_out: bool,
                 out: Console, err: Console, local_args: tuple[str, ...] = ()) -> int:
    """`replay --fork-at`: copy the run up to iteration `at` into `into` and continue it there
    with the settings in force at that iteration and `changes`. A fork that fails before the
    forked run has started removes what it created (never what was there before), so it can
    simply be retried."""
    from agentnas.cli.view import execute_run
    from agentnas.journal import JournalError, open_journal
    from agentnas.replay.replay import fork
    from agentnas.run.settings import RunError, effective_config, entries_under, options_from, remove_new

    before = entries_under(into)
    code = 2
    try:
        with open_journal(source, read_only=True) as j:
            recorded = effective_config(j, before_iteration=at)
        if recorded is None:
            raise RunError(f"{source} has no run configuration: not a run journal")
        options = options_from({**recorded, **changes, "run_dir": str(into)})
        copied = fork(source, at, into)
        err.print(f"forked {copied} entries (iterations < {at}) into {into}", highlight=False, soft_wrap=True)
        code = execute_run(options, cfg, json_out, out, err, local_args=local_args)
    except (RunError, JournalError) as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
    finally:
        if code != 0 and not started(into):
            remove_new(into, before)
    return code


def started(run_dir: Path) -> bool:
    """Whether a run has recorded its settings in `run_dir` (it started at least once)."""
    from agentnas.journal import JournalError, open_journal

    try:
        with open_journal(run_dir, read_only=True) as j:
            return j.get("run", "config") is not None
    except JournalError:
        return False
