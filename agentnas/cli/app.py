"""`agentnas`: the command line. Importing this module registers every command on `app`."""

from __future__ import annotations

import sys

# Importing the command modules registers their commands on `app`.
import agentnas.cli.bench  # noqa: F401
import agentnas.cli.bench_costs  # noqa: F401
import agentnas.cli.chat  # noqa: F401
import agentnas.cli.front  # noqa: F401
import agentnas.cli.memory  # noqa: F401
import agentnas.cli.run  # noqa: F401
import agentnas.cli.tools  # noqa: F401
import agentnas.cli.value  # noqa: F401
from agentnas.cli.apps import app

__all__ = ["app", "main"]


def _run_app() -> int:
    """The app with click's errors as one line each (a bad flag or value: exit 2), not a usage box.
    Typer vendors its own click, so the exceptions are known by their class names."""
    try:
        code = app(standalone_mode=False)
    except Exception as e:
        names = {c.__name__ for c in type(e).__mro__}
        if "ClickException" in names:
            ctx = getattr(e, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if "UsageError" in names and ctx is not None else ""
            sys.stderr.write(f"error: {e.format_message()}{where}\n")  # type: ignore[attr-defined]
            return int(getattr(e, "exit_code", 1))
        if "Abort" in names:
            sys.stderr.write("Aborted!\n")
            return 1
        raise
    return code if isinstance(code, int) else 0


def main() -> None:
    from agentnas import signals

    signals.install()  # TERM and HUP clean up like Ctrl-C: no sandbox outlives the command
    try:
        raise SystemExit(_run_app())
    except SystemExit as e:
        signals.wait_for_followers()
        raise SystemExit(signals.exit_code(e.code)) from None
