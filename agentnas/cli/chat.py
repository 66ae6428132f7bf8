"""`agentnas run`, `runs show`, `replay` and `chat`: the discovery commands (registered by agentnas.cli)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agentnas.cli.apps import app
from agentnas.cli.options import (
    TaskOpt,
    err,
    fail,
    out,
)


@app.command()
def chat(
    run_dir: Annotated[Path, typer.Option(help="The run to attach to (its directory).")],
    start: Annotated[bool, typer.Option(
        help="Start `agentnas run` on --run-dir in the background first (log: RUN_DIR/run.log).")] = False,
    task: TaskOpt = None,
    budget_evals: Annotated[int | None, typer.Option(help="With --start: the run's budget.")] = None,
    budget_time: Annotated[str | None, typer.Option(help="With --start: the run's time budget.")] = None,
    memory: Annotated[str | None, typer.Option(help="Experiment memory to answer /ask from.")] = None,
    llm_base_url: Annotated[str | None, typer.Option(
        help="OpenAI-compatible endpoint that interprets free text into actions (else $OPENAI_BASE_URL; "
             "the key comes from $OPENAI_API_KEY).")] = None,
    llm_model: Annotated[str | None, typer.Option(help="Its model (else $AGENTNAS_LLM_MODEL).")] = None,
    offline: Annotated[bool, typer.Option(
        help="Never call an LLM: slash commands, and free text taken as a hypothesis.")] = False,
) -> None:
    """Steer a live run: slash commands (/hypothesis, /constrain, /focus, /prune, /ask, /status,
    /watch, /stop; /help lists them). With an LLM endpoint, free text ("keep it under 50k
    parameters and drop the LSTMs") is interpreted into those actions, each shown before it is
    sent; offline, free text is a hypothesis. Messages reach the run at its next iteration
    boundary; the run never waits for the chat. LLM calls of the chat are logged to
    RUN_DIR/chat-llm.jsonl (never the key)."""
    import subprocess

    from agentnas import signals
    from agentnas.steering import run_holder
    from agentnas.steering.chat import Repl

    if memory is not None:  # checked now: /ask opens the memory only when asked
        from agentnas.memory import MemorySpecError, check_memory_spec

        try:
            check_memory_spec(memory)
        except MemorySpecError as e:
            fail(str(e))
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
        signals.stop_with_me(proc)  # TERM or HUP to the chat stops the run too; /quit does not
        err.print(f"started the run (pid {proc.pid}), log {run_dir / 'run.log'}", highlight=False)
        started = wait_for_run(run_dir, proc)
        if started is not None:
            err.print(f"[yellow]the run ended at once (exit status {started}); see {run_dir / 'run.log'}[/]",
                      highlight=False, soft_wrap=True)
    elif not (run_dir / "journal.sqlite").exists():
        fail(f"{run_dir} holds no run yet: start one with `agentnas run --run-dir {run_dir}` or use --start")
    if run_holder(run_dir) is None:
        err.print(f"the run in {run_dir} is not running: messages wait in its inbox until it is resumed, and "
                  "/stop is refused", highlight=False, markup=False, soft_wrap=True)

    retrieve = None
    if memory is not None:
        def retrieve(text: str) -> Any:
            from agentnas.memory import load_seed_knowledge, open_memory, retrieve_for_prompt

            with open_memory(memory, read_only=True) as store:
                return retrieve_for_prompt(store, task or run_task(run_dir), text, k=5, seed=load_seed_knowledge())

    def write(line: str) -> None:
        out.print(line, highlight=False, markup=False, soft_wrap=True)

    interpreter = None if offline else chat_interpreter(run_dir, llm_base_url, llm_model)
    repl = Repl(run_dir, write, retrieve, interpreter=interpreter)
    if sys.stdin.isatty():
        write("agentnas chat: /help lists the commands; free text is "
              + ("interpreted by the LLM" if interpreter else "a hypothesis") + "; /quit leaves (the run goes on).")

        def lines() -> Any:
            while True:
                try:
                    yield input("agentnas> ")
                except EOFError:
                    return
        repl.run(lines())
    else:
        repl.run(sys.stdin)


def wait_for_run(run_dir: Path, proc: Any, limit_s: float = 120.0) -> int | None:
    """Wait until the run started by `chat --start` holds its lock (its pid is written in it),
    so the chat never takes it for a finished run; the exit status if it ended first. The lock
    is never probed here: a probe at the instant the run takes it would make the run refuse."""
    import time

    lock, mine = run_dir / "run.lock", f"pid {proc.pid}"
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            return int(code)
        try:
            if lock.read_text(encoding="utf-8", errors="replace").strip() == mine:
                return None
        except OSError:
            pass
        time.sleep(0.1)
    return None


def chat_interpreter(run_dir: Path, base_url: str | None, model: str | None) -> Any:
    """The LLM interpreter when an endpoint is configured and answers; None for offline chat.
    An endpoint named on the command line must work; one from the environment that does not
    is reported and the chat goes on offline."""
    import os

    from agentnas.llm import LLMClient, LLMConfig
    from agentnas.llm.errors import LLMError
    from agentnas.llm.ledger import Ledger
    from agentnas.steering.interpret import Interpreter

    explicit = base_url is not None or model is not None
    try:
        config = LLMConfig.resolve(base_url=base_url, model=model, env=dict(os.environ))
        if config.base_url is None:
            if explicit:
                fail("--llm-model needs an endpoint: pass --llm-base-url or set $OPENAI_BASE_URL")
            return None
        log = run_dir / "chat-llm.jsonl"

        def logged(call: Any) -> None:
            with open(log, "a", encoding="utf-8") as f:
                f.write(call.model_dump_json() + "\n")

        client = LLMClient(config, ledger=Ledger(config.prices, config.caps, on_call=logged))
        client.check()
    except LLMError as e:
        if explicit:
            fail(f"the chat's LLM endpoint: {e}")
        err.print(f"[yellow]LLM endpoint from the environment unusable ({e}); chat is offline[/]", highlight=False)
        return None
    return Interpreter(client)


def run_task(run_dir: Path) -> str:
    """The task of the run in `run_dir` (its journal's config), mnist1d when it has none yet."""
    from agentnas.journal import JournalError, open_journal

    try:
        with open_journal(run_dir, read_only=True) as j:
            entry = j.get("run", "config")
    except JournalError:
        return "mnist1d"
    return str(entry.payload.get("task", "mnist1d")) if entry is not None else "mnist1d"
