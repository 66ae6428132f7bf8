"""Prompts are data: templates in `prompts/`, filled from named sections of a `PromptContext`.

A template (`prompts/<operator>.txt`) is a header of `# key: value` lines (`role`, `reply`),
then `=== system ===` and `=== user ===` blocks of literal text. A line holding only
`{{name}}` is replaced by the rendered section `name` (required: missing is a `PromptError`),
`{{name?}}` by the section or nothing (optional), `{{> part}}` by the file `prompts/_part.txt`.
Blank lines left by omitted sections collapse, so the same context always gives the same
bytes, whatever was missing.

Results are shown with validation metrics only: the search never sees test scores.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from agentnas.llm.budgets import DEFAULT_PROMPT_CAP, DROP_ORDER, trim, without
from agentnas.llm.config import ROLES
from agentnas.llm.context import CandidateBrief, Constraints, MemoryItem, PromptContext
from agentnas.llm.schemas import SCHEMAS, AgentReply
from agentnas.paths import shipped_dir
from agentnas.records import ChatMessage, EvalResult
from agentnas.space.helpers import elide_helpers
from agentnas.tasks.base import TaskSpec


class PromptError(ValueError):
    """A template is malformed, or a required section is missing from the context."""


class Prompt(BaseModel):
    """An assembled prompt: who asks, which schema the reply must follow, and the messages."""

    model_config = ConfigDict(frozen=True)

    operator: str
    role: str
    reply: str
    messages: tuple[ChatMessage, ...]
    evidence_ids: tuple[str, ...] = ()   # every id shown, to check a lesson's citations
    dropped: tuple[str, ...] = ()        # optional sections left out to keep within the prompt cap

    @property
    def estimated_tokens(self) -> int:
        return sum(len(m.content) for m in self.messages) // 4

    @property
    def reply_schema(self) -> type[AgentReply]:
        return SCHEMAS[self.reply]


# -- rendering of sections --------------------------------------------------------------------------
_LOG_TAIL_LINES = 40


def _num(v: float) -> str:
    return f"{v:.4f}"


def _result(r: EvalResult | None) -> str:
    if r is None:
        return "not evaluated yet"
    if not r.ok:
        f = r.failure
        return f"failed ({f.kind}): {f.message}" if f else "failed"
    parts = []
    if r.metrics is not None:
        parts.append(f"val_accuracy {_num(r.metrics.val_accuracy)}")
        if r.metrics.val_loss is not None:
            parts.append(f"val_loss {_num(r.metrics.val_loss)}")
    if r.params is not None:
        parts.append(f"params {r.params:,}")
    if r.flops is not None:
        parts.append(f"FLOPs {r.flops:,}")
    if r.train_seconds is not None:
        parts.append(f"train {r.train_seconds:.1f} s")
    return ", ".join(parts) or "ok"


# A module docstring costs tokens twice (read, then copied into the reply) and tells the model nothing new.
_MODULE_DOC = re.compile(r'\A\s*(?:"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\')\s*\n')
# The grammar's machine-readable tree (space.grammar.ARCH_MARKER): often a third of a rendered file's
# characters, meaningless to the model, and stale once it edits the code it would copy it into.
_ARCH_LINE = re.compile(r"^#\s*agentnas-arch:.*(?:\n|\Z)", re.MULTILINE)


def shown_code(code: str) -> str:
    """A candidate's code as a prompt shows it: without its module docstring, grammar tree line and
    the grammar's unchanged helper classes (one comment line names them; see space.helpers)."""
    return elide_helpers(_ARCH_LINE.sub("", _MODULE_DOC.sub("", code, count=1)))[0].strip()


def _candidate(title: str, c: CandidateBrief, *, code: bool = True) -> str:
    lines = [f"## {title} [{c.id}]"]
    if c.hypothesis:
        lines.append(f"Hypothesis: {c.hypothesis.strip()}")
    lines.append(f"Result: {_result(c.result)}")
    if c.lesson:
        lines.append(f"Lesson: {c.lesson.strip()}")
    if code and c.code:
        lines.append(f"```python\n{shown_code(c.code)}\n```")
    elif code and c.diff:
        lines.append(f"Changes from the parent:\n```diff\n{c.diff.strip()}\n```")
    return "\n".join(lines)


def code_diff(before: str, after: str, *, limit: int = 60) -> str:
    """The lines `after` changed from `before` as a unified diff with one line of context (as shown,
    without docstring and tree line), at most `limit` lines; "" when they show the same code."""
    rows = list(difflib.unified_diff(shown_code(before).splitlines(), shown_code(after).splitlines(),
                                     lineterm="", n=1))[2:]  # the ---/+++ file header says nothing here
    if len(rows) > limit:
        rows = [*rows[:limit], f"... {len(rows) - limit} more diff lines"]
    return "\n".join(rows)


def _task(t: TaskSpec) -> str:
    metric = f"{t.metric.name} ({'higher' if t.metric.higher_is_better else 'lower'} is better)"
    shape = (f"Input shape without the batch dimension: {tuple(t.input_shape)}; classes: {t.num_classes}"
             if t.kind == "classification" else f"Sequence length (seq_len): {t.seq_len}; vocabulary (vocab_size): "
             f"{t.vocab_size}")
    lines = [f"## Task: {t.name}", f"{shape}; metric: validation {metric}."]
    if t.description:
        lines.append(t.description.strip())
    if t.baselines:
        lines.append("Published baselines (test accuracy): "
                     + ", ".join(f"{b.name} {b.test_accuracy:.1%}" for b in t.baselines) + ".")
    recipe = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in t.recipe.model_dump().items())
    lines.append(f"Fixed training recipe (the same for every candidate, not yours to change): {recipe}.")
    if t.kind != "classification":  # classification prompts stay as they were (recorded cassettes match)
        lines.append(f"## Candidate contract of this task ({t.kind}): it replaces the build_model(input_shape, "
                     f"num_classes) signature and the (B, num_classes) logits of the generic rules\n"
                     f"{t.contract.text()}")
    return "\n".join(lines)


def _items(title: str, items: tuple[MemoryItem, ...]) -> str:
    lines = [f"## {title}"]
    for it in items:
        src = f" (source: {it.source})" if it.source else ""
        lines.append(f"- [{it.id}] {it.text.strip()}{src}")
    return "\n".join(lines)


def _failure(ctx: PromptContext) -> str:
    assert ctx.failure is not None
    lines = ["## Failure", f"Kind: {ctx.failure.kind}", f"Message: {ctx.failure.message.strip()}"]
    tail = ctx.log_tail.strip().splitlines()[-_LOG_TAIL_LINES:]
    if tail:
        lines.append("Log tail:\n```text\n" + "\n".join(tail) + "\n```")
    return "\n".join(lines)


def _constraints(c: Constraints) -> str:
    lines = ["## Constraints"]
    if c.max_params is not None:
        lines.append(f"- At most {c.max_params:,} trainable parameters.")
    if c.max_flops is not None:
        lines.append(f"- At most {c.max_flops:,} FLOPs per example.")
    lines += [f"- {n.strip()}" for n in c.notes]
    return "\n".join(lines)


def _hypothesis(ctx: PromptContext) -> str:
    h = ctx.hypothesis
    assert h is not None
    hid = f" [{ctx.hypothesis_id}]" if ctx.hypothesis_id else ""
    title, text = h.title.strip(), h.text.strip()
    # a title cut from the text itself would show the same words twice
    head = "" if text.startswith(title.rstrip("…").rstrip()) else f": {title}"
    lines = [f"## Hypothesis to test{hid}{head}", text]
    if h.rationale:
        lines.append(f"Rationale: {h.rationale.strip()}")
    return "\n".join(lines)


_Renderer = Callable[[PromptContext], str | None]
SECTIONS: dict[str, _Renderer] = {
    "task": lambda c: _task(c.task) if c.task else None,
    "hypothesis": lambda c: _hypothesis(c) if c.hypothesis else None,
    "parent": lambda c: _candidate("Parent", c.parent) if c.parent else None,
    "parents": lambda c: "\n\n".join(_candidate(f"Parent {i + 1}", p) for i, p in enumerate(c.parents)) or None,
    "candidate": lambda c: _candidate("Candidate", c.candidate) if c.candidate else None,
    "siblings": lambda c: "\n\n".join(
        [f"## Siblings already tried ({len(c.siblings)})"] + [_candidate("Sibling", s, code=False)
                                                              for s in c.siblings]) if c.siblings else None,
    "similar": lambda c: _items("Similar past experiments (cite by id)", c.similar) if c.similar else None,
    "knowledge": lambda c: _items("Design knowledge (cite by id)", c.knowledge) if c.knowledge else None,
    "failure": lambda c: _failure(c) if c.failure else None,
    "previous_repairs": lambda c: "\n".join(["## Repairs already tried (they did not work)"]
                                            + [f"- {r.strip()}" for r in c.previous_repairs])
    if c.previous_repairs else None,
    "steering": lambda c: "\n".join(["## Notes from the user (follow them)"] + [f"- {s.strip()}" for s in c.steering])
    if c.steering else None,
    "constraints": lambda c: _constraints(c.constraints) if c.constraints else None,
    "retry": lambda c: f"## Your last answer could not be used\n{c.retry.strip()}" if c.retry else None,
    "ideas": lambda c: "\n".join(["## Directions not tried yet in this run"] + [f"- {i}" for i in c.ideas])
    if c.ideas else None,
    "blocks": lambda c: "\n".join(["## Building blocks you may use without defining them (their code is added for "
                                   "you)"] + [f"- {b}" for b in c.blocks]) if c.blocks else None,
}


def _evidence_ids(ctx: PromptContext) -> tuple[str, ...]:
    ids = [c.id for c in (ctx.parent, ctx.candidate) if c is not None]
    ids += [c.id for c in (*ctx.parents, *ctx.siblings)] + [m.id for m in (*ctx.similar, *ctx.knowledge)]
    if ctx.hypothesis_id:
        ids.append(ctx.hypothesis_id)
    return tuple(dict.fromkeys(ids))


# -- templates --------------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"^\{\{\s*(?:(?P<part>>)\s*)?(?P<name>[a-z_]+)(?P<opt>\?)?\s*\}\}$")
_BLOCK = re.compile(r"^=== (system|user) ===$")


class Template(BaseModel):
    model_config = ConfigDict(frozen=True)

    operator: str
    role: str
    reply: str
    blocks: dict[str, tuple[str, ...]]   # "system" / "user" -> lines (partials already expanded)


def _parse_template(path: Path, directory: Path) -> Template:
    meta: dict[str, str] = {}
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = _BLOCK.match(line.strip())
        if m:
            current = blocks.setdefault(m.group(1), [])
            continue
        if current is None:
            if line.startswith("#"):
                key, _, value = line.lstrip("#").partition(":")
                if key.strip() in ("role", "reply"):  # any other header line is a comment
                    meta[key.strip()] = value.strip()
            elif line.strip():
                raise PromptError(f"{path}:{lineno}: text before the first '=== system ===' / '=== user ===' block")
            continue
        current.extend(_expand(line, path, lineno, directory))
    role, reply = meta.get("role", ""), meta.get("reply", "")
    if role not in ROLES:
        raise PromptError(f"{path}: header '# role:' must be one of {', '.join(ROLES)}, got {role!r}")
    if reply not in SCHEMAS:
        raise PromptError(f"{path}: header '# reply:' must be one of {', '.join(SCHEMAS)}, got {reply!r}")
    if set(blocks) != {"system", "user"}:
        raise PromptError(f"{path}: needs one '=== system ===' and one '=== user ===' block")
    return Template(operator=path.stem, role=role, reply=reply, blocks={k: tuple(v) for k, v in blocks.items()})


def _expand(line: str, path: Path, lineno: int, directory: Path) -> list[str]:
    m = _PLACEHOLDER.match(line.strip())
    if m is None:
        if "{{" in line:
            raise PromptError(f"{path}:{lineno}: a placeholder must stand alone on its line: {line.strip()!r}")
        return [line]
    name = m.group("name")
    if m.group("part"):
        part = directory / f"_{name}.txt"
        if not part.is_file():
            raise PromptError(f"{path}:{lineno}: no partial {part.name} in {directory}")
        return [ln for i, ln in enumerate(part.read_text(encoding="utf-8").splitlines(), 1)
                for ln in _expand(ln, part, i, directory)]
    if name not in SECTIONS:
        raise PromptError(f"{path}:{lineno}: unknown section {name!r}; known: {', '.join(sorted(SECTIONS))}")
    return [line.strip()]


def _render_block(lines: tuple[str, ...], ctx: PromptContext, operator: str) -> str:
    """Literal runs and sections, each trimmed of blank edge lines, joined by one blank line: an omitted
    section leaves no trace, and blank lines inside a section (code) stay as they are."""
    chunks: list[str] = []
    run: list[str] = []

    def flush() -> None:
        text = "\n".join(run).strip("\n")
        if text.strip():
            chunks.append(text)
        run.clear()

    for line in lines:
        m = _PLACEHOLDER.match(line)
        if m is None:
            run.append(line.rstrip())
            continue
        flush()
        text = SECTIONS[m.group("name")](ctx)
        if text is None:
            if not m.group("opt"):
                raise PromptError(f"the {operator} prompt needs the section {m.group('name')!r}, "
                                  "but the context has none")
            continue
        chunks.append(text.strip("\n"))
    flush()
    return "\n\n".join(chunks) + "\n"


class PromptLibrary:
    """The templates of one folder (the shipped `prompts/` by default): `build(operator, context)`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or shipped_dir("prompts")
        files = sorted(p for p in self.directory.glob("*.txt") if not p.name.startswith("_"))
        self.templates = {p.stem: _parse_template(p, self.directory) for p in files}

    @property
    def operators(self) -> tuple[str, ...]:
        return tuple(self.templates)

    def build(self, operator: str, context: PromptContext, cap: int = DEFAULT_PROMPT_CAP) -> Prompt:
        """The prompt, each section within its budget; optional sections are dropped (least useful
        first, see `budgets.DROP_ORDER`) while the estimated tokens exceed `cap`."""
        template = self.templates.get(operator)
        if template is None:
            raise PromptError(f"no prompt template {operator!r} in {self.directory}; "
                              f"have {', '.join(self.templates)}")
        context = trim(context)
        dropped: list[str] = []
        prompt = self._render(template, operator, context, ())
        for section in DROP_ORDER:
            if prompt.estimated_tokens <= cap:
                break
            if getattr(context, section):
                context = without(context, section)
                dropped.append(section)
                prompt = self._render(template, operator, context, tuple(dropped))
        return prompt

    @staticmethod
    def _render(template: Template, operator: str, context: PromptContext, dropped: tuple[str, ...]) -> Prompt:
        messages = tuple(ChatMessage(role=k, content=_render_block(template.blocks[k], context, operator))
                         for k in ("system", "user"))
        return Prompt(operator=operator, role=template.role, reply=template.reply, messages=messages,
                      evidence_ids=_evidence_ids(context), dropped=dropped)


@cache
def default_library() -> PromptLibrary:
    return PromptLibrary()


def build_prompt(operator: str, context: PromptContext, cap: int = DEFAULT_PROMPT_CAP) -> Prompt:
    """`operator`'s prompt from the shipped templates, within `cap` estimated tokens where it can be."""
    return default_library().build(operator, context, cap)
