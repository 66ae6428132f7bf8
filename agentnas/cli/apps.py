"""The typer apps of the command line: the root and its groups. Command modules attach to
these; `agentnas.cli.app` imports every command module, so importing it registers them all."""

from __future__ import annotations

from typing import Annotated

import typer

from agentnas import __version__

app = typer.Typer(
    name="agentnas", no_args_is_help=True, add_completion=False,
    help="Agentic neural architecture search: candidates are PyTorch files, trained in an "
         "isolated sandbox under the task's fixed recipe and scored on the trusted side.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks measured on this machine.")
app.add_typer(bench_app, name="bench")
value_app = typer.Typer(no_args_is_help=True, help="The value model: pretraining the zero-shot predictor, and "
                        "agentnas's own labelled architectures to train it on.")
app.add_typer(value_app, name="value")
runs_app = typer.Typer(no_args_is_help=True, help="Stored runs: what a run did, read from its journal.")
app.add_typer(runs_app, name="runs")
memory_app = typer.Typer(no_args_is_help=True, help="The experiment memory: list, search, compare, move.")
app.add_typer(memory_app, name="memory")


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        print(f"agentnas {__version__}")
        raise typer.Exit(0)
