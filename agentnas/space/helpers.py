"""The grammar's helper modules (`Residual`, `Split`, `GlobalPool`, ...) as prompts show them: left out.

A rendered file defines the helper classes it uses before `build_model`: about 1,300 characters of
boilerplate in a typical MNIST-1D file, a quarter to a half of what a prompt shows of it. A model
asked to edit such a file reads them and then copies them back into its reply, at minutes per
thousand tokens on a local model, and a small model breaks them while copying. So a prompt shows a
file with its unchanged helpers replaced by one comment line (`elide_helpers`), and a reply that
uses a helper it does not define gets the helper back verbatim (`restore_helpers`, a mend before
the sandbox check). Only exact copies of the grammar's own helpers are left out: a helper the model
or a user changed is code like any other and is shown.
"""

from __future__ import annotations

import ast
import textwrap
from functools import cache

from agentnas.space.render import _HELPERS
from agentnas.space.render_tokens import TOKEN_HELPERS

ELIDED = "# defined as in agentnas's grammar (left out here; kept in the file when used): "


@cache
def helper_sources() -> dict[str, str]:
    """Helper class name -> its source as rendered (dedented, stripped)."""
    return {name: textwrap.dedent(src).strip() for name, src in {**_HELPERS, **TOKEN_HELPERS}.items()}


def _segments(code: str) -> tuple[ast.Module, list[str]] | None:
    try:
        return ast.parse(code), code.splitlines(keepends=True)
    except (SyntaxError, ValueError):
        return None


def elide_helpers(code: str) -> tuple[str, list[str]]:
    """`code` with each top-level class that is a verbatim grammar helper replaced, the first by one
    comment line naming them all, the others by nothing; and the names left out."""
    parsed = _segments(code)
    if parsed is None:
        return code, []
    tree, lines = parsed
    known = helper_sources()
    spans: list[tuple[int, int, str]] = []  # (first line index, end line index, name)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in known and not node.decorator_list:
            text = "".join(lines[node.lineno - 1: node.end_lineno]).strip()
            if text == known[node.name]:
                spans.append((node.lineno - 1, node.end_lineno or node.lineno, node.name))
    if not spans:
        return code, []
    names = [s[2] for s in spans]
    out: list[str] = []
    at = 0
    for i, (start, end, _name) in enumerate(spans):
        out += lines[at:start]
        if i == 0:
            out.append(ELIDED + ", ".join(names) + "\n")
        at = end
        while at < len(lines) and not lines[at].strip() and i + 1 < len(spans) and at < spans[i + 1][0]:
            at += 1  # the blank lines between two left-out helpers go with them
    out += lines[at:]
    return "".join(out), names


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the file binds: imports, classes, functions, assignments and parameters."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def restore_helpers(code: str) -> tuple[str, list[str]]:
    """`code` with the source of each grammar helper it uses but does not define inserted before its
    first top-level class or function (helpers a restored helper uses too), and the names restored.
    Code that does not parse, or defines them all, is returned as it is."""
    parsed = _segments(code)
    if parsed is None:
        return code, []
    tree, lines = parsed
    known = helper_sources()
    bound = bound_names(tree)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    wanted: list[str] = []
    todo = [name for name in known if name in used and name not in bound]
    while todo:
        name = todo.pop(0)
        if name in wanted:
            continue
        wanted.append(name)
        inner = {n.id for n in ast.walk(ast.parse(known[name])) if isinstance(n, ast.Name)}
        todo += [other for other in known if other in inner and other not in bound and other not in wanted]
    if not wanted:
        return code, []
    first = next((n for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)),
                 None)
    cut = len(lines)
    if first is not None:
        cut = (first.decorator_list[0].lineno if first.decorator_list else first.lineno) - 1
        while cut > 0 and lines[cut - 1].lstrip().startswith("#"):
            cut -= 1  # a comment above the definition stays with it
    ordered = [name for name in known if name in wanted]
    block = "\n\n\n".join(known[name] for name in ordered) + "\n\n\n"
    # the prompt's line that said the helpers were left out is no longer true
    lines = [line if not line.startswith(ELIDED) else "" for line in lines]
    head = "".join(lines[:cut])
    if head and not head.endswith("\n"):
        head += "\n"
    return head + block + "".join(lines[cut:]), ordered


# The blocks a proposal prompt offers (classification tasks on (C, *spatial) inputs): the grammar's helpers
# a small model most often tries to write itself and gets wrong (a residual sum of two lengths, `nn.Residual`,
# attention over the wrong axis). Not `Recurrent`: its hidden size must give back C channels, a trap.
OFFERED = ("Residual", "Branch", "SqueezeExcite", "SelfAttention", "ChannelLayerNorm", "GlobalPool")


def describe_helpers(names: tuple[str, ...] = OFFERED) -> tuple[str, ...]:
    """One line per helper: its call signature (no annotations) and the first sentence of its docstring."""
    out = []
    known = helper_sources()
    for name in names:
        cls = ast.parse(known[name]).body[0]
        assert isinstance(cls, ast.ClassDef)
        init = next(f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
        args = init.args
        plain = [a.arg for a in args.args[1:]]
        defaults = [ast.unparse(d) for d in args.defaults]
        shown = plain[: len(plain) - len(defaults)] + [f"{a}={d}" for a, d in zip(plain[len(plain) - len(defaults):],
                                                                                  defaults, strict=True)]
        if args.vararg is not None:
            shown.append(f"*{args.vararg.arg}")
        doc = (ast.get_docstring(cls) or "").strip().split("\n")[0]
        out.append(f"{name}({', '.join(shown)}): {doc}")
    return tuple(out)
