"""`agentnas chat --run-dir DIR`: a REPL attached to a live run.

Offline grammar (no LLM needed): slash commands, free text that is only deployment limits
("under 3 ms", "below 2 MB") taken as a constraint, any other free text as a hypothesis.

    /hypothesis TEXT            queue a hypothesis (free text does the same)
    /constrain max_params=N | max_time=SECONDS | max_latency=MS | max_macs=N | max_size=MB
               | no OP[,OP] | use OP[,OP]   (join several with ';'; "under 3 ms" also reads)
    /focus ID   /unfocus   /prune ID      steer selection to / away from a subtree
    /ask QUESTION               answered from memory and the run's lessons, ids cited
    /status                     where the run stands, and what your hypotheses produced
    /watch SECONDS              print new results of your hypotheses as they arrive
    /stop                       end the run after its current iteration (resumable)
    /help   /quit

Messages go to the run's inbox (never to its journal directly); the run reads them at its
next iteration boundary. Everything else is read from the journal, read-only. A focus or
prune target must be an id of the run. To a run that is not running (it holds no run lock),
messages wait in the inbox for its resume, and /stop is refused: there is nothing to stop.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from agentnas.journal import JournalError, open_journal
from agentnas.journal.tree import ArchNode, RunTree
from agentnas.records import SteeringMessage, describe_constraint
from agentnas.steering.inbox import run_holder, send
from agentnas.steering.interpret import unknown_target

HELP = __doc__.split("\n\n")[2] if __doc__ else ""


class ChatError(ValueError):
    """A command the REPL cannot understand; the message says how to write it."""


def parse(line: str) -> tuple[str, Any]:
    """A REPL line -> (action, argument). Actions: send, ask, status, watch, help, quit, none."""
    text = line.strip()
    if not text:
        return "none", None
    if not text.startswith("/"):
        limit = deployment_limit(text)
        if limit is not None:  # "under 3 ms" is a limit, not a design idea
            return "send", limit
        return "send", SteeringMessage(kind="hypothesis", text=text)
    command, _, rest = text[1:].partition(" ")
    rest = rest.strip()
    command = command.lower()
    if command in ("hypothesis", "h"):
        if not rest:
            raise ChatError("usage: /hypothesis TEXT")
        return "send", SteeringMessage(kind="hypothesis", text=rest)
    if command == "constrain":
        return "send", parse_constraint(rest)
    if command in ("focus", "prune"):
        if not rest:
            raise ChatError(f"usage: /{command} ID (a hypothesis id like h001 or a node id like i00004-c2)")
        return "send", SteeringMessage(kind=command, target=rest.split()[0])  # type: ignore[arg-type]
    if command == "unfocus":
        return "send", SteeringMessage(kind="unfocus")
    if command == "stop":
        return "send", SteeringMessage(kind="stop")
    if command == "ask":
        if not rest:
            raise ChatError("usage: /ask QUESTION")
        return "ask", rest
    if command == "watch":
        try:
            return "watch", float(rest or "30")
        except ValueError:
            raise ChatError("usage: /watch SECONDS") from None
    if command in ("status", "help", "quit", "exit"):
        return {"exit": "quit"}.get(command, command), None
    raise ChatError(f"unknown command /{command}; /help lists them")


USAGE = ("max_params=N, max_time=SECONDS, max_latency=MS (or: under 3 ms), max_macs=N, max_size=MB, no OP[,OP] "
         "or use OP[,OP]")


def _count(number: str, suffix: str) -> int:
    return int(float(number.replace("_", "").replace(",", "")) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[suffix.lower()])


# Deployment limits in the words people use: "max_latency=3ms", "under 3 ms", "below 2 MB",
# "max_macs=5M", "at most 5M MACs".
_UNDER = r"(?:max_?|under|below|at\s+most|within|<=?)\s*"
_LATENCY = re.compile(_UNDER + r"(?:latency\s*[=:]?\s*)?(\d+(?:\.\d+)?)\s*ms", re.IGNORECASE)
_LATENCY_KEY = re.compile(r"max_?latency(?:_ms)?\s*[=:]?\s*(\d+(?:\.\d+)?)\s*(?:ms)?", re.IGNORECASE)
_SIZE = re.compile(r"(?:max_?size(?:_mb)?\s*[=:]?\s*|" + _UNDER + r")(\d+(?:\.\d+)?)\s*mb", re.IGNORECASE)
_MACS = re.compile(r"(?:max_?macs\s*[=:]?\s*([\d_,.]+)\s*([kKmMgG]?)|" + _UNDER
                   + r"([\d_,.]+)\s*([kKmMgG]?)\s*macs)", re.IGNORECASE)


def _cost_limit(part: str, fields: dict[str, Any]) -> bool:
    """Read one deployment limit from `part` into `fields`; False when it is none."""
    for pattern, name in ((_LATENCY_KEY, "max_latency_ms"), (_LATENCY, "max_latency_ms"), (_SIZE, "max_size_mb")):
        m = pattern.fullmatch(part)
        if m:
            value = float(m.group(1))
            if value <= 0:
                raise ChatError(f"{name} must be positive")
            fields[name] = value
            return True
    m = _MACS.fullmatch(part)
    if m:
        number, suffix = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value = _count(number, suffix or "")
        if value <= 0:
            raise ChatError("max_macs must be positive")
        fields["max_macs"] = value
        return True
    return False


def deployment_limit(text: str) -> SteeringMessage | None:
    """Free text that is only deployment limits ("under 3 ms", "below 2 MB; at most 5M MACs",
    "under 3 ms and below 2 MB") as a constraint; None for anything else."""
    fields: dict[str, Any] = {}
    parts = [p.strip(" .!") for p in re.split(r";|,|\band\b", text.strip(), flags=re.IGNORECASE)]
    for part in filter(None, parts):
        part = re.sub(r"^(?:answers?|responds?|runs?|latency|models?|size|keep (?:it|them)|stay)\s+", "", part,
                      flags=re.IGNORECASE)
        try:
            if not _cost_limit(part, fields):
                return None
        except ChatError:
            return None
    return SteeringMessage(kind="constrain", **fields) if fields else None


def parse_constraint(text: str) -> SteeringMessage:
    """`max_params=50000`, `max_time=90s`, `max_latency=3ms` (or `under 3 ms`), `max_size=2MB`,
    `max_macs=5M`, `no lstm,attention`, `use conv` (several separated by ';')."""
    fields: dict[str, Any] = {"banned_ops": [], "required_ops": []}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        m = re.fullmatch(r"max_?params\s*[=:]?\s*([\d_,]+)\s*([kKmM]?)", part)
        if m:
            fields["max_params"] = _count(m.group(1), m.group(2))
            continue
        if _cost_limit(part, fields):
            continue
        m = re.fullmatch(r"max_?(?:train_?)?(?:time|seconds)\s*[=:]?\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?", part,
                         re.IGNORECASE)
        if m:
            seconds = float(m.group(1)) * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[(m.group(2) or "s").lower()]
            if seconds <= 0:
                raise ChatError("max_time must be positive")
            fields["max_train_seconds"] = seconds
            continue
        word, _, ops = part.partition(" ")
        names = [o.strip() for o in ops.split(",") if o.strip()]
        if word.lower() in ("no", "ban", "without") and names:
            fields["banned_ops"] += names
        elif word.lower() in ("use", "require", "with") and names:
            fields["required_ops"] += names
        else:
            raise ChatError(f"cannot read constraint {part!r}: write {USAGE}")
    limits = {"max_params", "max_train_seconds", "max_latency_ms", "max_macs", "max_size_mb"}
    if not (limits & set(fields)) and not fields["banned_ops"] and not fields["required_ops"]:
        raise ChatError(f"usage: /constrain {USAGE}")
    return SteeringMessage(kind="constrain", **fields)


def load_tree(run_dir: Path) -> RunTree | None:
    try:
        with open_journal(run_dir, read_only=True) as j:
            return RunTree.from_journal(j)
    except JournalError:
        return None


def status_lines(tree: RunTree | None) -> list[str]:
    if tree is None:
        return ["the run has not started writing its journal yet"]
    best = tree.best()  # by the task's metric, in its direction
    head = f"iteration {tree.iterations} · evaluations {len(tree.experiments)} · hypotheses {len(tree.hypotheses)}"
    if best is not None and best.val_score is not None:
        order = "" if tree.metric.name == "accuracy" else \
            f" by validation {tree.metric.name} ({'higher' if tree.metric.higher_is_better else 'lower'} is better)"
        head += f" · best{order} {best.id} {scores(tree, best)}"
    lines = [head]
    s = tree.steering
    if s.focus or s.pruned or s.notes:
        lines.append(f"steering: focus {s.focus or '-'} · pruned {sorted(s.pruned) or '-'} · "
                     f"{'; '.join(n for n in s.notes if n.startswith('constraint')) or 'no constraints'}")
    for h in tree.hypotheses.values():
        if h.source == "user":
            lines.append(f"your hypothesis {h.id}: {h.text}")
            lines.extend("  " + node_line(tree, i) for i in h.nodes)
    return lines


def scores(tree: RunTree, n: ArchNode) -> str:
    """A trained node's scores: `val 0.8123 test 0.8011` on accuracy tasks; the metric named,
    with the accuracies beside it, on others (`val loss 1.2345 test loss 1.2500 · val acc 0.4100`)."""
    if tree.metric.name == "accuracy":
        return f"val {n.val_score or 0:.4f} test {n.test_score or 0:.4f}"
    name = tree.metric.name
    acc = f" · val acc {n.val_accuracy:.4f}" if n.val_accuracy is not None else ""
    return f"val {name} {n.val_score or 0:.4f} test {name} {n.test_score or 0:.4f}{acc}"


def node_line(tree: RunTree, node_id: str) -> str:
    n = tree.nodes[node_id]
    if n.val_score is not None:
        result = scores(tree, n)
    else:
        result = n.status + (f" (predicted {n.mean:.3f}±{n.std or 0:.3f})" if n.mean is not None else "")
    return f"{n.id} [{n.params or 0:,} params] {result} — {n.description[:70]}"


def answer(run_dir: Path, question: str, memory: Callable[[str], Any] | None) -> list[str]:
    """An answer from the run's lessons and the experiment memory, citing ids."""
    words = {w for w in re.findall(r"[a-z0-9]+", question.lower()) if len(w) > 3}
    tree = load_tree(run_dir)
    lines = []
    if tree is not None:
        scored = []
        for n in tree.nodes.values():
            h = tree.hypotheses.get(n.hypothesis_id)
            hay = f"{n.description} {h.text if h else ''}"
            overlap = len(words & set(re.findall(r"[a-z0-9]+", hay.lower())))
            if overlap and n.val_score is not None:
                scored.append((overlap, tree.metric.utility(n.val_score), n.id))  # the best first, either direction
        for _, _, nid in sorted(scored, reverse=True)[:5]:
            lines.append(f"[{nid}] " + node_line(tree, nid))
    if memory is not None:
        found = memory(question)
        lines += [f"[{e.id}] {e.hypothesis[:70]} -> {e.outcome()}; {e.lesson[:100]}" for e in found.experiments]
        lines += [f"[{i.id}] {i.insight} ({i.source})" for i in found.insights]
    return lines or ["nothing in this run or the memory relates to that yet"]


class Repl:
    """The chat loop. With an `interpreter` (an LLM endpoint), free text is interpreted into
    actions (agentnas.steering.interpret); without one, free text is a hypothesis."""

    def __init__(self, run_dir: Path, write: Callable[[str], None],
                 memory: Callable[[str], Any] | None = None, clock: Callable[[], float] = time.monotonic,
                 interpreter: Any | None = None, live: Callable[[], str | None] | None = None) -> None:
        self.run_dir, self.write, self.memory, self.clock = run_dir, write, memory, clock
        self.interpreter = interpreter
        self.live = live or (lambda: run_holder(run_dir))  # "pid N" while the run runs, else None
        self.shown: set[str] = set()

    def news(self) -> None:
        """Print results of user hypotheses not shown yet."""
        tree = load_tree(self.run_dir)
        if tree is None:
            return
        for h in tree.hypotheses.values():
            if h.source != "user":
                continue
            for i in h.nodes:
                key = f"{i}:{tree.nodes[i].val_accuracy}"
                if key not in self.shown and tree.nodes[i].status != "drafted":
                    self.shown.add(key)
                    self.write(f"  {h.id} → " + node_line(tree, i))

    def interpret(self, text: str) -> list[tuple[str, Any]]:
        """Free text through the LLM: its reply, refusals, and the checked actions."""
        from agentnas.llm.errors import LLMError

        assert self.interpreter is not None
        try:
            result = self.interpreter.interpret(text, load_tree(self.run_dir))
        except LLMError as e:
            self.write(f"error: the LLM could not interpret that ({e}); nothing was sent. Slash commands "
                       "work without it (/help).")
            return []
        if result.reply:
            self.write(f"llm: {result.reply}")
        for problem in result.errors:
            self.write(f"error: {problem}")
        if not result.actions and not result.errors:
            self.write("(no action taken)")
        return list(result.actions)

    def handle(self, line: str) -> bool:
        """Handle one line; False when the REPL should end."""
        try:
            action, arg = parse(line)
        except ChatError as e:
            self.write(f"error: {e}")
            return True
        steps = [(action, arg)]
        if action == "send" and self.interpreter is not None and not line.strip().startswith("/"):
            steps = self.interpret(line)
        for action, arg in steps:
            if not self.do(action, arg):
                return False
        self.news()
        return True

    def do(self, action: str, arg: Any) -> bool:
        if action == "send":
            self.deliver(arg)
        elif action == "ask":
            lines = answer(self.run_dir, arg, self.memory)
            if self.interpreter is not None:
                from agentnas.llm.errors import LLMError

                try:
                    lines = self.interpreter.answer(arg, lines)
                except LLMError as e:
                    self.write(f"(the LLM could not write the answer: {e}; the records follow)")
            for out in lines:
                self.write(out)
        elif action == "status":
            holder = self.live()
            self.write(f"the run is running ({holder})" if holder else
                       "the run is not running: messages wait in its inbox until it is resumed")
            for out in status_lines(load_tree(self.run_dir)):
                self.write(out)
        elif action == "watch":
            end = self.clock() + arg
            while self.clock() < end:
                self.news()
                time.sleep(0.5)
        elif action == "help":
            self.write(HELP)
        elif action == "quit":
            return False
        return True

    def deliver(self, m: SteeringMessage) -> None:
        """Send one message, or say why not; say whether a live run or its resume will take it."""
        if m.kind in ("focus", "prune"):
            problem = unknown_target(load_tree(self.run_dir), m.kind, m.target or "")
            if problem:
                self.write(f"error: {problem}")
                return
        holder = self.live()
        if m.kind == "stop" and holder is None:
            self.write("error: the run is not running, so there is nothing to stop; nothing was sent")
            return
        send(self.run_dir, m)
        when = ("the run takes it at its next iteration" if holder else
                "the run is not running; this will reach it when it is resumed")
        self.write(f"sent {m.kind} {m.id}: {summary(m)} — {when}")

    def run(self, lines: Iterable[str]) -> None:
        for line in lines:
            if not self.handle(line):
                break


def summary(m: SteeringMessage) -> str:
    """The message in words, so the user sees what the run was asked."""
    if m.kind == "hypothesis":
        return m.text[:120]
    if m.kind == "constrain":
        return describe_constraint(m)
    if m.kind in ("focus", "prune"):
        return f"{m.kind} {m.target}"
    return m.kind
