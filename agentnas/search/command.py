"""The bodies of `agentnas run` and `agentnas runs show`: live view, leaderboard, JSON."""

from __future__ import annotations

import functools
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agentnas.config import AgentnasConfig
from agentnas.search.realtask import AgentsFactory, llm_agents, offline_agents, open_run
from agentnas.search.run import RunError, RunOptions, dumps, leaderboard, summary
from agentnas.search.runtree import RunTree


class LiveView:
    """Iteration, best val/test so far, evaluations per hour, failures by kind, tokens, cost."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.started = time.monotonic()
        self.evals_at_start: int | None = None
        self.tree = RunTree()

    def update(self, tree: RunTree) -> None:
        if self.evals_at_start is None:
            self.evals_at_start = len(tree.experiments)
        self.tree = tree

    def render(self) -> Group:
        tree = self.tree
        best = tree.best()
        done = len(tree.experiments) - (self.evals_at_start or 0)
        hours = max(time.monotonic() - self.started, 1e-6) / 3600
        failures: dict[str, int] = {}
        for exp in tree.experiments.values():
            if exp["status"] != "ok":
                kind = str(exp.get("failure_kind"))
                failures[kind] = failures.get(kind, 0) + 1
        budget = f"/{self.options.budget_evals}" if self.options.budget_evals else ""
        head = Text.assemble(
            ("agentnas run ", "bold"), f"{self.options.task} · iteration {tree.iterations} · ",
            f"evaluations {len(tree.experiments)}{budget} · {done / hours:,.0f}/h · ",
            f"best val {best.val_accuracy:.4f} test {best.test_accuracy:.4f}" if best and best.test_accuracy
            is not None and best.val_accuracy is not None else "no result yet",
            f" · failures {failures}" if failures else "")
        table = Table(show_header=True, header_style="bold", expand=False)
        for col in ("id", "val", "test", "params", "change"):
            table.add_column(col, overflow="fold")
        for row in leaderboard(tree, 5):
            table.add_row(row["id"], f"{row['val_accuracy']:.4f}", f"{row['test_accuracy']:.4f}",
                          f"{row['params']:,}" if row["params"] is not None else "-", row["description"][:60])
        return Group(head, table)


def _ask_on_stderr(prompt: str) -> str:
    """The prompt goes to stderr so that `--json` keeps stdout to JSON alone."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise KeyboardInterrupt  # stdin closed: nobody left to approve; stop, resumable
    return line


def console_approver(err: Console, ask: Any = _ask_on_stderr) -> Any:
    """Approval on the terminal: per candidate yes / no / edit PATH (the file replaces its code)."""

    def approve(question: dict[str, Any]) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for c in question["candidates"]:
            err.print(f"\n[bold]{c['id']}[/] {c['description'][:100]} · {c['params'] or 0:,} params · predicted "
                      f"{(c['mean'] or 0):.3f}±{(c['std'] or 0):.3f}", highlight=False)
            while True:
                reply = ask("train it? [y]es / [n]o / [e]dit PATH: ").strip()
                if reply.lower() in ("y", "yes"):
                    answers[c["id"]] = "yes"
                elif reply.lower() in ("n", "no", ""):
                    answers[c["id"]] = "no"
                elif reply.lower().startswith(("e ", "edit ")):
                    path = Path(reply.split(None, 1)[1]).expanduser()
                    if not path.is_file():
                        err.print(f"no such file: {path}")
                        continue
                    answers[c["id"]] = {"code": path.read_text(encoding="utf-8")}
                else:
                    continue
                break
        return answers

    return approve


def resume_command(options: RunOptions) -> str:
    parts = ["agentnas", "run", "--task", options.task, "--run-dir", str(options.run_dir), "--seed",
             str(options.seed), "--proposer", options.proposer]
    if options.budget_evals:
        parts += ["--budget-evals", str(options.budget_evals)]
    return " ".join(shlex.quote(p) for p in parts)


def execute_run(options: RunOptions, cfg: AgentnasConfig, json_out: bool, console: Console, err: Console,
                agents_factory: AgentsFactory | None = None) -> int:
    """Run (or resume) the discovery; 0 when the budget was spent, 130 on Ctrl-C."""
    view = LiveView(options)
    factory = agents_factory or (functools.partial(llm_agents, settings=cfg.llm) if options.proposer == "llm"
                                 else offline_agents)
    live = (Live(view.render(), console=err, refresh_per_second=2, transient=True)
            if not json_out and not options.approve else None)  # the approval prompt needs the terminal

    def on_iteration(tree: RunTree) -> None:
        view.update(tree)
        if live is not None:
            live.update(view.render())

    try:
        approver = console_approver(err) if options.approve else None
        with open_run(options, cfg, factory, on_iteration, approver,
                      notify=lambda m: err.print(m, highlight=False)) as loop:
            view.update(loop.tree())
            if live is not None:
                live.start()
            try:
                tree = loop.run()
            finally:
                if live is not None:
                    live.stop()
            if loop.stop_reason:
                err.print(f"run stopped early ({loop.stop_reason}). Resume with:\n  {resume_command(options)}",
                          highlight=False)
    except KeyboardInterrupt:
        err.print(f"\nstopped. Resume with:\n  {resume_command(options)}", highlight=False)
        return 130
    except RunError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        return 2
    doc = summary(options.run_dir)
    if json_out:
        sys.stdout.write(dumps(doc) + "\n")
        return 0
    print_leaderboard(console, doc, options.task, tree)
    return 0


def print_leaderboard(console: Console, doc: dict[str, Any], task_name: str, tree: RunTree) -> None:
    table = Table(title=f"leaderboard · {task_name} · {len(doc['experiments'])} evaluations")
    for col in ("rank", "id", "val acc", "test acc", "params", "hypothesis / change"):
        table.add_column(col, overflow="fold")
    for i, row in enumerate(doc["leaderboard"], 1):
        table.add_row(str(i), row["id"], f"{row['val_accuracy']:.4f}", f"{row['test_accuracy']:.4f}",
                      f"{row['params']:,}" if row["params"] is not None else "-",
                      f"{clip(row['hypothesis'], 50)} / {clip(row['description'], 50)}")
    console.print(table)
    try:
        from agentnas.tasks import get_task

        baselines = get_task(task_name).spec.baselines
    except Exception:  # a task that cannot be loaded here still gets its leaderboard
        baselines = ()
    if baselines:
        console.print("published baselines (test accuracy): " + ", ".join(
            f"{b.name} {b.test_accuracy:.1%}" for b in baselines), highlight=False)
    if doc["best"]:
        console.print(f"best model: {doc['best']['path']}", highlight=False)


def print_hypotheses(console: Console, hypotheses: list[dict[str, Any]]) -> None:
    """What became of each hypothesis, two lines each (the JSON document holds the whole text)."""
    if not hypotheses:
        return
    console.print(f"hypotheses ({len(hypotheses)}):", highlight=False)
    for h in hypotheses:
        console.print(f"  {h['id']} ({h['source']}) {clip(h['text'], 70)}", highlight=False, markup=False,
                      soft_wrap=True)
        if h["status"] == "pending":
            fate = "not taken yet: the run is not running, it takes it when resumed"
        else:
            fate = f"{h['nodes']} architectures, {h['trained']} trained, {h['failed']} failed"
            best = h["best"]
            if best is not None:
                test = f"{best['test_accuracy']:.4f}" if best["test_accuracy"] is not None else "-"
                fate += f"; best {best['id']} val {best['val_accuracy']:.4f} test {test}"
            if h["status"] == "pruned":
                fate += "; pruned"
        console.print(f"      {fate}", highlight=False, markup=False, soft_wrap=True)


def clip(text: str, width: int) -> str:
    """`text` on one line, at most `width` characters, cut at a word boundary (… marks a cut)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip() + "…"


def show_run(run_dir: Path, json_out: bool, console: Console) -> int:
    from agentnas.search.tabular_run import show_tabular

    tabular = show_tabular(run_dir)
    if tabular is not None:
        if json_out:
            sys.stdout.write(dumps(tabular) + "\n")
        else:
            best = tabular["best"]
            console.print(f"{tabular['task']} · {tabular['method']} · {tabular['queries']} queries · best "
                          + (f"{best['key']} val {best['val_accuracy']:.2f} test {best['test_accuracy']:.2f}"
                             if best else "none"), highlight=False, markup=False)
        return 0
    doc = summary(run_dir)
    if json_out:
        sys.stdout.write(dumps(doc) + "\n")
        return 0
    from agentnas.journal import open_journal

    with open_journal(run_dir, read_only=True) as journal:
        tree = RunTree.from_journal(journal)
    task = (doc.get("config") or {}).get("task", "?")
    print_leaderboard(console, doc, task, tree)
    print_hypotheses(console, doc["hypotheses"])
    llm = doc["llm"]
    console.print(f"iterations {doc['iterations']} · hypotheses {len(doc['hypotheses'])} · failures "
                  f"{doc['failures'] or 'none'} · LLM calls {llm['calls']}, tokens "
                  f"{llm['prompt_tokens']}+{llm['completion_tokens']}, ${llm['cost_usd']:.4f}", highlight=False)
    return 0
