"""What every `agentnas` command shares: the consoles, the option types, and one way to fail.

Every command reads one `AgentnasConfig` (agentnas.toml < AGENTNAS_* < flags). Usage and
configuration errors exit with status 2 and one line on stderr; `--json` prints only JSON on
stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from agentnas.config import AgentnasConfig, ConfigError, load_config

# Piped output (logs, CI) gets a wide fixed width instead of rich's 80-column fallback.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)  # a message is one line, whatever the width

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


def task_or_exit(name: str) -> Any:
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
ExecutorOpt = Annotated[str, typer.Option(
    help="Where evaluations run: local (this machine's sandbox pool) or ray (pip install 'agentnas\\[ray]').")]
RayAddressOpt = Annotated[str | None, typer.Option(
    help="With --executor ray: auto, HOST:PORT, or omitted for a private Ray instance.")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", help="Where each candidate's ONNX and source are kept (default: ./agentnas-out).")]
CacheOpt = Annotated[Path | None, typer.Option(help="Dataset cache (default: ~/.cache/agentnas).")]
GraphFilesArg = Annotated[list[Path], typer.Argument(
    help="Candidate .py files (exported to ONNX inside the sandbox) or .onnx files.")]
FilesArg = Annotated[list[Path], typer.Argument(
    help="Candidate .py files, each defining build_model(input_shape, num_classes).")]
