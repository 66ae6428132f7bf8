"""Mechanical fixes of a model's code before the sandbox sees it, for the mistakes small models make
most and that need no judgement: a module the file uses but never imports, a missing
`super().__init__()` or `build_model`, a torch.nn layer misspelt or given another library's keywords
(`mend_draft`). Mends after a shape failure are in agents.shape_mends.

A file that calls `math.ceil` or `nn.Linear` without importing `math` or `nn` fails the check
with a NameError, and a repair costs an LLM call (minutes on a local model) for one line the
trusted side can add itself. Only the standard names of the candidate contract are added
(math, torch, nn, F, np), only when the file binds them nowhere; the code is parsed, never run.
"""

from __future__ import annotations

import ast
from functools import cache

from agentnas.agents.source_edits import TextEdits, is_nn, nn_calls, parsed
from agentnas.space.helpers import bound_names, helper_sources, restore_helpers

KNOWN_IMPORTS = {
    "math": "import math",
    "torch": "import torch",
    "nn": "from torch import nn",
    "F": "import torch.nn.functional as F",
    "np": "import numpy as np",
}


def add_missing_imports(code: str) -> tuple[str, list[str]]:
    """`code` with the known imports it uses but lacks added at the top (after a module
    docstring and `from __future__` lines), and the lines added. Code that does not parse is
    returned as it is: the sandbox reports its syntax error."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, []
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    missing = [KNOWN_IMPORTS[name] for name in KNOWN_IMPORTS if name in used and name not in bound_names(tree)]
    if not missing:
        return code, []
    body = tree.body
    at = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        at = 1
    while at < len(body) and isinstance(body[at], ast.ImportFrom) and body[at].module == "__future__":  # type: ignore[attr-defined]
        at += 1
    lines = code.splitlines(keepends=True)
    cut = body[at].lineno - 1 if at < len(body) else len(lines)
    # a decorator or comment above the first statement stays with it
    while cut > 0 and lines[cut - 1].lstrip().startswith(("@", "#")):
        cut -= 1
    return "".join(lines[:cut]) + "\n".join(missing) + "\n" + "".join(lines[cut:]), missing


def _module_classes(tree: ast.Module) -> list[ast.ClassDef]:
    """Top-level classes deriving from `nn.Module` / `torch.nn.Module` / `Module`."""
    def is_module(base: ast.expr) -> bool:
        return (isinstance(base, ast.Attribute) and base.attr == "Module" and is_nn(base.value)) or (
            isinstance(base, ast.Name) and base.id == "Module")
    return [n for n in tree.body if isinstance(n, ast.ClassDef) and any(is_module(b) for b in n.bases)]


def _init_of(cls: ast.ClassDef) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)


def add_super_init(code: str) -> tuple[str, list[str]]:
    """`code` with `super().__init__()` as the first statement of each `nn.Module` subclass's
    `__init__` that never calls it (torch then refuses to register the layers: "cannot assign module
    before Module.__init__() call"), and the classes mended. Edits the text; unparsable code is left."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, []
    lines = code.splitlines(keepends=True)
    inserts: list[tuple[int, str]] = []
    mended: list[str] = []
    for cls in _module_classes(tree):
        init = _init_of(cls)
        if init is None or any(isinstance(n, ast.Attribute) and n.attr == "__init__" for n in ast.walk(init)):
            continue
        body = init.body
        first = body[1] if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(
            body[0].value, ast.Constant) and isinstance(body[0].value.value, str) else body[0]
        if first.lineno == init.lineno:  # a one-line `def __init__(self): ...` has no line to put it on
            continue
        indent = lines[first.lineno - 1][: first.col_offset]
        inserts.append((first.lineno - 1, f"{indent}super().__init__()\n"))
        mended.append(cls.name)
    for at, text in sorted(inserts, reverse=True):
        lines.insert(at, text)
    return "".join(lines), mended


# What a model class's constructor parameter most likely means, by its name (first match wins), as
# an expression of build_model's arguments.
_ARGUMENTS = (("shape", "input_shape"), ("class", "num_classes"), ("out", "num_classes"),
              ("channel", "input_shape[0]"), ("len", "input_shape[-1]"), ("in_features", "math.prod(input_shape)"),
              ("input_size", "math.prod(input_shape)"), ("input_dim", "math.prod(input_shape)"))


def add_missing_builder(code: str) -> tuple[str, str | None]:
    """`code` with a `build_model(input_shape, num_classes)` appended when the file defines none but
    one model class that no other class uses and whose required constructor parameters are named
    for what build_model knows (input_shape, num_classes, in_channels, length, ...), and that
    class's name; else (code, None). Small models often write the class and forget the contract's
    function, a file the sandbox would refuse at import. Run `add_missing_imports` after it."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, None
    if any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "build_model" for n in tree.body):
        return code, None
    classes = _module_classes(tree)
    used = {n.id for c in classes for n in ast.walk(c) if isinstance(n, ast.Name)}
    roots = [c for c in classes if c.name not in used]
    if len(roots) != 1:
        return code, None
    root, args = roots[0], []
    init = _init_of(root)
    if init is not None:
        params = init.args.args[1:]  # after self
        if any(d is None for d in init.args.kw_defaults):
            return code, None  # a required keyword-only parameter
        for p in params[: len(params) - len(init.args.defaults)]:
            expr = next((e for key, e in _ARGUMENTS if key in p.arg.lower()), None)
            if expr is None:
                return code, None
            args.append(expr)
    tail = "" if code.endswith("\n") else "\n"
    return (code + tail + "\n\ndef build_model(input_shape, num_classes):\n"
            f"    return {root.name}({', '.join(args)})\n"), root.name


@cache
def _nn_names() -> dict[str, str | None]:
    """Lower-cased name -> the `torch.nn` name it spells (None when two names differ only in case)."""
    from torch import nn

    names: dict[str, str | None] = {}
    for name in dir(nn):
        if not name.startswith("_"):
            names[name.lower()] = None if name.lower() in names else name
    return names


def fix_nn_case(code: str) -> tuple[str, list[str]]:
    """`code` with each `nn.X` that torch.nn lacks but spells in other case (`nn.Glu`, `nn.Relu`,
    `nn.LayerNorm1D`) written as torch spells it, each `nn.X` that torch.nn lacks but the grammar's
    helpers define (`nn.Residual`: a prompt named them) written as the helper (`Residual`, restored
    by `restore_helpers`), and the fixes ("Glu -> GLU", "Residual -> Residual (the grammar's)"). A
    layer neither has (`nn.Shear`) is left for the engineer. Edits the text; unparsable code is left."""
    tree = parsed(code)
    if tree is None:
        return code, []
    names = _nn_names()
    helpers = {name.lower(): name for name in helper_sources()}
    text = TextEdits(code)
    fixes: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and is_nn(node.value)):
            continue
        key = node.attr.lower()
        if key in names:
            right = names[key]
            if right is None or right == node.attr:
                continue
            end = text.end(node)
            text.edit(end - len(node.attr), end, right)
            fixes.append(f"{node.attr} -> {right}")
        elif key in helpers:
            text.edit(text.pos(node.lineno, node.col_offset), text.end(node), helpers[key])
            fixes.append(f"{node.attr} -> {helpers[key]} (the grammar's)")
    return text.result(), sorted(set(fixes))


# Keyword names that mean one thing across torch.nn layers and other libraries' layers. A small model
# writes `nn.BatchNorm1d(in_channels=64)` or `nn.Softmax(axis=1)`: a TypeError at build time that a
# repair call (minutes on a local model) often answers with the same file.
_SYNONYMS = (
    ("in_channels", "in_features", "num_features", "num_channels", "normalized_shape", "input_size", "embed_dim",
     "d_model", "in_dim", "input_dim", "in_size", "channels", "features", "n_channels", "dim_in"),
    ("out_channels", "out_features", "hidden_size", "out_dim", "output_dim", "output_size", "out_size", "dim_out"),
    ("kernel_size", "kernel", "ksize", "kernel_width", "filter_size"),
    ("dim", "axis"), ("stride", "strides"), ("padding", "pad"), ("dilation", "dilation_rate"),
    ("p", "dropout", "rate", "drop_rate", "dropout_rate", "drop_prob", "prob"),
    ("num_heads", "nhead", "n_heads", "heads", "nheads"), ("num_groups", "groups", "n_groups"),
    ("eps", "epsilon"), ("bias", "use_bias"), ("batch_first", "batchfirst"),
)


@cache
def _parameters(layer: str) -> frozenset[str] | None:
    """The keyword parameters of torch.nn's `layer` class, or None (not a class; takes **kwargs)."""
    import inspect

    from torch import nn

    cls = getattr(nn, layer, None)
    if not isinstance(cls, type):
        return None
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL)


def fix_nn_keywords(code: str) -> tuple[str, list[str]]:
    """`code` with each keyword a `torch.nn` layer does not take renamed to the one it does take that
    means the same (`nn.BatchNorm1d(in_channels=…)` -> `num_features=`, `nn.Softmax(axis=1)` -> `dim=`),
    and the fixes ("BatchNorm1d in_channels -> num_features"). A keyword with no such twin, or whose twin
    the call already passes, is left for the sandbox to report. Edits the text; unparsable code is left."""
    tree = parsed(code)
    if tree is None:
        return code, []
    text = TextEdits(code)
    fixes: list[str] = []
    for node in nn_calls(tree):
        assert isinstance(node.func, ast.Attribute)
        accepted = _parameters(node.func.attr)
        if accepted is None:
            continue
        given = {k.arg for k in node.keywords if k.arg}
        for kw in node.keywords:
            if kw.arg is None or kw.arg in accepted:
                continue
            group = next((g for g in _SYNONYMS if kw.arg in g), ())
            twin = next((name for name in group if name in accepted and name not in given), None)
            if twin is None:
                continue
            start = text.pos(kw.lineno, kw.col_offset)
            text.edit(start, start + len(kw.arg), twin)
            given.add(twin)
            fixes.append(f"{node.func.attr} {kw.arg} -> {twin}")
    return text.result(), fixes


def mend_draft(code: str) -> tuple[str, str | None]:
    """A model's file with every mechanical fix that needs no sandbox result (a grammar helper class
    the prompt left out, a missing `super().__init__()`, a missing `build_model`, missing imports, a
    torch.nn layer spelt in the wrong case or given another library's keyword names), and what was
    done, or None."""
    code, cases = fix_nn_case(code)
    code, helpers = restore_helpers(code)
    code, supers = add_super_init(code)
    code, builder = add_missing_builder(code)
    code, imports = add_missing_imports(code)
    code, keywords = fix_nn_keywords(code)
    notes = [note for done, note in (
        (helpers, f"the grammar's {', '.join(helpers)} kept"),
        (supers, f"super().__init__() in {', '.join(supers)}"),
        (builder, f"build_model for {builder}"),
        (imports, f"added {'; '.join(imports)}"),
        (cases, f"nn.{'; nn.'.join(cases)}"),
        (keywords, f"keywords {'; '.join(keywords)}"),
    ) if done]
    return code, "; ".join(notes) or None
