"""`agentnas value collect`: agentnas's own labelled architectures (agentnas.value.collect).

Ctrl-C or TERM stops the evaluations in flight, saves what finished and exits 130/143; the
same command continues where it stopped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

import agentnas.cli.options as opt
from agentnas.cli.apps import value_app


@value_app.command("collect")
def value_collect(
    out_path: Annotated[Path, typer.Option(
        "--out", help="The labelled set to write or continue (gzip-compressed JSON lines).")] =
        Path("agentnas-labelled.jsonl.gz"),
    count: Annotated[int, typer.Option(help="Architectures in the set in total (a continued set grows to it).")] =
        300,
    tasks: Annotated[str | None, typer.Option(help="Comma-separated tasks (default: digits,mnist1d).")] = None,
    families: Annotated[str | None, typer.Option(
        help="Comma-separated families, or all (default): conv, residual, dilated, depthwise, branching, "
             "attention, recurrent, mlp, grammar.")] = None,
    replicate_every: Annotated[int | None, typer.Option(
        help="Every k-th architecture is also trained with seeds 1 and 2, to measure the label noise "
             "(default: 8; 0: none).")] = None,
    sample_seed: Annotated[int | None, typer.Option(help="Seed of the architecture draws (default: 0).")] = None,
    epochs: opt.EpochsOpt = None,
    max_params: Annotated[int | None, typer.Option(
        help="Parameter budget per architecture (default: 1,000,000).")] = None,
    max_macs: Annotated[int | None, typer.Option(
        help="Multiply-add budget per example (default: 5,000,000; 0: none).")] = None,
    text: Annotated[bool, typer.Option("--text/--no-text", help="Keep each graph's ONNX-Net text.")] = True,
    work: Annotated[Path | None, typer.Option(
        help="Folder of the journal and the candidate files (default: one per --out, under the cache).")] = None,
    executor: opt.ExecutorOpt = "local",
    ray_address: opt.RayAddressOpt = None,
    slots: opt.SlotsOpt = None,
    timeout: opt.TimeoutOpt = None,
    memory_limit: opt.MemoryOpt = None,
    device: opt.DeviceOpt = None,
    isolation: opt.IsolationOpt = None,
    unsafe_no_isolation: opt.UnsafeOpt = None,
    cache_dir: opt.CacheOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    config: opt.ConfigOpt = None,
) -> None:
    """Train grammar architectures of many families in the sandbox, into a labelled set for the value model.

    Nine families (convolutional, residual, dilated, depthwise, branching, attention,
    recurrent, MLP and the grammar's defaults) take turns; each architecture is trained under
    the tasks' fixed recipes, every k-th also with two more seeds. Resumable: run the same
    command again after any stop; nothing is trained twice. A continued set keeps the
    settings it was collected with (flags left out are the recorded ones).

    Exit 0 when the set is complete; 2 on usage or config errors.
    """
    if count <= 0:
        opt.fail("--count must be positive")
    if executor not in ("local", "ray"):
        opt.fail(f"--executor must be local or ray, not {executor!r}")
    if ray_address is not None and executor != "ray":
        opt.fail("--ray-address needs --executor ray")
    if out_path.exists() and not out_path.is_file():
        opt.fail(f"--out {out_path} is not a file")
    if work is not None and work.exists() and not work.is_dir():
        opt.fail(f"--work {work} is not a directory")
    cfg = opt.config_or_exit(config, slots=slots, timeout_s=timeout, memory_limit_gb=memory_limit, device=device,
                             isolation=isolation, unsafe_no_isolation=unsafe_no_isolation, cache_dir=cache_dir)
    from pydantic import ValidationError

    from agentnas.value.collect_session import default_work, names, run_collect, settings_from
    from agentnas.value.labelled import CollectionError

    try:
        settings = settings_from(out_path, {
            "sample_seed": sample_seed, "families": names(families), "tasks": names(tasks), "epochs": epochs,
            "replicate_every": replicate_every, "max_params": max_params, "max_macs": max_macs})
    except CollectionError as e:
        opt.fail(str(e))
    except ValidationError as e:
        first = e.errors()[0]
        flag = f"--{str(first['loc'][0]).replace('_', '-')}" if first["loc"] else "option"
        opt.fail(f"invalid {flag}: {first['msg'].removeprefix('Value error, ')}")
    from agentnas.evaluator import ExecutorError, IsolationUnavailable, SandboxStartError
    from agentnas.tasks import TaskError

    loud = not json_out or opt.err.is_terminal
    try:
        report = run_collect(settings, count, out_path, work or default_work(cfg.cache_dir, out_path), text, cfg,
                             executor, ray_address, log=_log if loud else None)
    except KeyboardInterrupt as stop:
        from agentnas.signals import describe

        opt.fail(f"{describe(stop)}; finished evaluations are saved in {out_path}; run the same command to continue",
                 130)
    except (CollectionError, ExecutorError, IsolationUnavailable, TaskError, OSError) as e:
        opt.fail(str(e))
    except SandboxStartError as e:
        opt.fail(f"the sandbox could not start: {e}", 1)
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    _print_summary(report, out_path)


def _log(line: str) -> None:
    opt.err.print(line, highlight=False, markup=False, soft_wrap=True)


def _print_summary(report: dict[str, Any], out_path: Path) -> None:
    session = report["session"]
    opt.out.print(f"{report['architectures']} architectures in {out_path} ({report['complete']} trained on every "
                  f"task); {session['evaluations']} evaluations this session in {session['seconds']:.0f} s",
                  highlight=False, markup=False, soft_wrap=True)
    for task, info in report["tasks"].items():
        noise = info["label_noise"]["test"]
        extra = (f"; seed-to-seed std {noise['std_mean']:.2f} points over {noise['architectures']} architectures"
                 if "std_mean" in noise else "")
        per = info["seconds_per_evaluation"]
        opt.out.print(f"  {task}: {info['ok']} ok, {sum(info['failed'].values())} failed"
                      f"{f', {per} s per evaluation' if per is not None else ''}{extra}",
                      highlight=False, markup=False, soft_wrap=True)
