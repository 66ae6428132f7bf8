"""The `agentnas` command line (typer + rich): `main` is the console entry point."""

from agentnas.cli.app import app, main

__all__ = ["app", "main"]
