"""The bodies of `agentnas run` and `agentnas runs show`: live view, leaderboard, JSON."""

from __future__ import annotations

import functools
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from agentnas.config import AgentnasConfig
from agentnas.journal.tree import RunTree
from agentnas.records import ACCURACY, Metric
from agentnas.run.loop import Loop
from agentnas.run.progress import Progress, best_line
from agentnas.run.settings import RunError, RunOptions, describe_changes, flag, recorded_settings
from agentnas.run.summary import dumps, leaderboard, summary
from agentnas.words import clip

if TYPE_CHECKING:
    from agentnas.run.assemble import AgentsFactory


class LiveView:
    """Iteration, stage, best val/test so far, evaluations per hour, failures by kind. Rendered
    on every refresh of the live display (twice a second), so the stage line moves during an
    iteration; the tree is swapped in whole after each result and each iteration."""

    def __init__(self, options: RunOptions, progress: Progress | None = None) -> None:
        self.options = options
        self.progress = progress
        self.started = time.monotonic()
        self.evals_at_start: int | None = None
        self.tree = RunTree()

    def update(self, tree: RunTree) -> None:
        if self.evals_at_start is None:
            self.evals_at_start = len(tree.experiments)
        self.tree = tree

    def render(self) -> Group:
        tree = self.tree
        done = len(tree.experiments) - (self.evals_at_start or 0)
        hours = max(time.monotonic() - self.started, 1e-6) / 3600
        failures: dict[str, int] = {}
        for exp in tree.experiments.values():
            if exp["status"] != "ok":
                kind = str(exp.get("failure_kind"))
                failures[kind] = failures.get(kind, 0) + 1
        budget = f"/{self.options.budget_evals}" if self.options.budget_evals else ""
        p = self.progress
        stage = f" · {p.stage} for {p.elapsed():.0f} s" if p is not None and p.iteration is not None else ""
        head = Text.assemble(
            ("agentnas run ", "bold"), f"{self.options.task} · iteration {tree.iterations}{stage} · ",
            f"evaluations {len(tree.experiments)}{budget} · {done / hours:,.0f}/h · ", best_line(tree),
            f" · failures {failures}" if failures else "")
        table = Table(show_header=True, header_style="bold", expand=False)
        for col in ("id", f"val {tree.metric.name}", f"test {tree.metric.name}", "params", "change"):
            table.add_column(col, overflow="fold")
        for row in leaderboard(tree, 5):
            table.add_row(row["id"], _num(row["val_score"]), _num(row["test_score"]),
                          f"{row['params']:,}" if row["params"] is not None else "-", clip(row["description"], 60))
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


def setting_args(options: RunOptions, skip: tuple[str, ...] = ()) -> list[str]:
    """The recorded settings as flags: task and seed, then every one that is not the default."""
    defaults = RunOptions(run_dir=options.run_dir).model_dump(mode="json")
    config_defaults = {name: AgentnasConfig.model_fields[name].default for name in ("timeout_s", "device")}
    args: list[str] = []
    for name, value in options.model_dump(mode="json").items():
        if name == "run_dir" or name in skip or value is None:
            continue
        if value == defaults[name] and name not in ("task", "seed"):
            continue
        if name in config_defaults and value == config_defaults[name]:
            continue
        if isinstance(value, bool):
            args.append(flag(name) if value else f"--no-{flag(name)[2:]}")
        elif name == "budget_time_s":
            args += [flag(name), f"{float(value):g}s"]
        else:
            args += [flag(name), str(value)]
    return args


def resume_command(options: RunOptions, local_args: tuple[str, ...] = ()) -> str:
    """The command that resumes the run: its recorded settings (a resume keeps them anyway;
    spelled out, the command reads as the run it continues) and the machine-local flags of
    this invocation (`local_args`: slots, isolation, cache folder, config file)."""
    return shlex.join(["agentnas", "run", "--run-dir", str(options.run_dir), *setting_args(options), *local_args])


def execute_run(options: RunOptions, cfg: AgentnasConfig, json_out: bool, console: Console, err: Console,
                agents_factory: AgentsFactory | None = None, allow_change: bool = False,
                local_args: tuple[str, ...] = ()) -> int:
    """Run (or resume) the discovery; 0 when the budget was spent, 130 on Ctrl-C. In a terminal
    a live view; otherwise (or with --json / --approve) one line per event on `err`."""
    # Here, not at the top: assembling a run imports torch and the value models (seconds), which
    # `runs show` never needs.
    from agentnas.run.assemble import llm_agents, offline_agents, open_run

    live_view = not json_out and not options.approve and err.is_terminal  # approval prompts need the terminal

    def say(line: str) -> None:
        err.print(line, highlight=False, markup=False, soft_wrap=True)

    progress = Progress(None if live_view else say)
    view = LiveView(options, progress)
    factory = agents_factory or (functools.partial(llm_agents, settings=cfg.llm, notify=say)
                                 if options.proposer == "llm" else offline_agents)
    live = Live(console=err, refresh_per_second=2, transient=True, get_renderable=view.render) if live_view else None

    def on_iteration(tree: RunTree) -> None:
        view.update(tree)
        progress.ended(tree, options.budget_evals)

    def resume_hint(options: RunOptions) -> str:
        return f"Resume with:\n  {resume_command(options, local_args)}"

    try:
        resuming = recorded_settings(options.run_dir) is not None
        approver = console_approver(err) if options.approve else None
        with open_run(options, cfg, factory, on_iteration, approver, notify=say, allow_change=allow_change,
                      progress=progress) as loop:
            options = loop_options(options, loop)
            view.options = options
            first = loop.tree()
            view.update(first)
            if live is not None:  # the live table follows each result, not only each iteration
                progress.on_result = lambda: view.update(loop.tree())
            say(f"agentnas run {options.task} in {options.run_dir}: "
                + (f"resuming at iteration {first.iterations} with {len(first.experiments)} evaluations, "
                   f"{best_line(first)}" if resuming else "starting")
                + f" · budget {budget_words(options)}")
            if live is not None:
                live.start()
            try:
                tree = loop.run()
            finally:
                if live is not None:
                    live.stop()
            if loop.stop_reason:
                say(f"run stopped early ({loop.stop_reason}). {resume_hint(options)}")
                if loop.stop_error is not None and _is_endpoint_failure(loop.stop_error):
                    return 3  # the endpoint cannot serve the run: not a finished run
            elif options.budget_evals is not None and len(tree.experiments) >= options.budget_evals:
                say(f"stopped: the evaluation budget is spent ({len(tree.experiments)}/{options.budget_evals}); "
                    f"to go on, run again on --run-dir {options.run_dir} with a larger --budget-evals")
            else:
                say(f"stopped: the time budget of this session is spent ({options.budget_time_s or 0:g} s; a training "
                    f"already running was finished). {resume_hint(options)}")
    except KeyboardInterrupt:
        say(f"\nstopped. {resume_hint(options)}")
        return 130
    except RunError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        return 2
    doc = summary(options.run_dir)
    if json_out:
        sys.stdout.write(dumps(doc) + "\n")
        return 0
    print_leaderboard(console, doc, options.task, tree)
    return 0


def _is_endpoint_failure(e: Exception) -> bool:
    from agentnas.llm.errors import EndpointDown

    return isinstance(e, EndpointDown)


def loop_options(asked: RunOptions, loop: Loop[RunTree]) -> RunOptions:
    """The options the run goes on with: the asked ones settled against the journal."""
    from agentnas.run.settings import effective_config

    assert loop.journal is not None  # a code-level run's loop always has its journal
    settings = effective_config(loop.journal)
    return asked if settings is None else RunOptions.model_validate({**settings, "run_dir": asked.run_dir})


def budget_words(options: RunOptions) -> str:
    parts = [f"{options.budget_evals} evaluations" if options.budget_evals else "",
             f"{options.budget_time_s:g} s of this session" if options.budget_time_s else ""]
    return " and ".join(p for p in parts if p) or "none"


def settings_words(config: dict[str, Any]) -> str:
    """The recorded settings as flags, the budget first (what `runs show` prints)."""
    options = RunOptions.model_validate({**config, "run_dir": config.get("run_dir", ".")})
    args = setting_args(options, skip=("budget_evals", "budget_time_s"))
    return f"budget {budget_words(options)} · " + shlex.join(args)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_leaderboard(console: Console, doc: dict[str, Any], task_name: str, tree: RunTree) -> None:
    metric = tree.metric
    order = "higher" if metric.higher_is_better else "lower"
    table = Table(title=f"leaderboard · {task_name} · {len(doc['experiments'])} evaluations · "
                        f"by validation {metric.name}, {order} is better")
    scores = ["val acc", "test acc"] if metric.name == "accuracy" else \
        [f"val {metric.name}", f"test {metric.name}", "val acc", "test acc"]
    for col in ("rank", "id", *scores, "params", "hypothesis / change"):
        table.add_column(col, overflow="fold")
    for i, row in enumerate(doc["leaderboard"], 1):
        cells = [_num(row["val_accuracy"]), _num(row["test_accuracy"])]
        if metric.name != "accuracy":
            cells = [_num(row["val_score"]), _num(row["test_score"]), *cells]
        table.add_row(str(i), row["id"], *cells,
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


def print_hypotheses(console: Console, hypotheses: list[dict[str, Any]], metric: Metric = ACCURACY) -> None:
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
            if best is not None and metric.name == "accuracy":
                test = f"{best['test_accuracy']:.4f}" if best["test_accuracy"] is not None else "-"
                fate += f"; best {best['id']} val {best['val_score']:.4f} test {test}"
            elif best is not None:  # the metric's own scores, never a loss beside a test accuracy
                fate += (f"; best {best['id']} val {metric.name} {_num(best['val_score'])} test {metric.name} "
                         f"{_num(best.get('test_score'))} · val acc {_num(best['val_accuracy'])}")
            if h["status"] == "pruned":
                fate += "; pruned"
        console.print(f"      {fate}", highlight=False, markup=False, soft_wrap=True)


def show_run(run_dir: Path, json_out: bool, console: Console) -> int:
    from agentnas.run.tabular import show_tabular

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
    config = doc.get("config") or {}
    task = config.get("task", "?")
    print_leaderboard(console, doc, task, tree)
    if len(config.get("objectives") or ()) >= 2:  # a run that optimised a trade-off shows it
        from agentnas.cli.front import front_table
        from agentnas.run.front import front_of

        names = tuple(config["objectives"])
        _, front, measured = front_of(tree, names)
        console.print(front_table(names, front, measured))
    print_hypotheses(console, doc["hypotheses"], tree.metric)
    if config:
        console.print(f"settings in force: {settings_words(config)}", highlight=False, markup=False, soft_wrap=True)
    for change in doc.get("settings_changes", []):
        console.print(f"  changed from iteration {change['iteration']}: {describe_changes(change['changed'])}",
                      highlight=False, markup=False, soft_wrap=True)
    llm = doc["llm"]
    console.print(f"iterations {doc['iterations']} · hypotheses {len(doc['hypotheses'])} · failures "
                  f"{doc['failures'] or 'none'} · {llm['text']}", highlight=False, soft_wrap=True)
    return 0
