"""Mechanical fixes of a model's code before the sandbox sees it, for the mistakes small models
make most and that need no judgement: a module the file uses but never imports.

A file that calls `math.ceil` or `nn.Linear` without importing `math` or `nn` fails the check
with a NameError, and a repair costs an LLM call (minutes on a local model) for one line the
trusted side can add itself. Only the standard names of the candidate contract are added
(math, torch, nn, F, np), only when the file binds them nowhere; the code is parsed, never run.
"""

from __future__ import annotations

import ast

KNOWN_IMPORTS = {
    "math": "import math",
    "torch": "import torch",
    "nn": "from torch import nn",
    "F": "import torch.nn.functional as F",
    "np": "import numpy as np",
}


def _bound(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def add_missing_imports(code: str) -> tuple[str, list[str]]:
    """`code` with the known imports it uses but lacks added at the top (after a module
    docstring and `from __future__` lines), and the lines added. Code that does not parse is
    returned as it is: the sandbox reports its syntax error."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, []
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    missing = [KNOWN_IMPORTS[name] for name in KNOWN_IMPORTS if name in used and name not in _bound(tree)]
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
