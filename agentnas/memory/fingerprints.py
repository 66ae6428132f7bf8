"""Duplicate keys of an experiment: the hash of its code and the hash of its graph's text.

`code_hash` hashes the code's syntax tree, not its bytes: comments, blank lines, quoting,
formatting and docstrings do not change it, so an edit that only touches those is a
duplicate before anything is exported. A renamed variable does change the tree; the graph
hash (`GraphEncoding.text_sha256`, the sha256 of the canonical ONNX text, which is free of
tensor and module names) catches that one. The code is parsed, never executed.
"""

from __future__ import annotations

import ast
import hashlib


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def code_hash(code: str) -> str:
    """sha256 (hex) of the code's syntax tree without docstrings; of its text when it does
    not parse (a syntax error is still a fingerprint: the same broken code is a duplicate)."""
    try:
        dumped = "ast\0" + ast.dump(_strip_docstrings(ast.parse(code)), annotate_fields=False)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        dumped = "text\0" + code
    return hashlib.sha256(dumped.encode("utf-8", "surrogatepass")).hexdigest()
