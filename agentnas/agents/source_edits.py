"""Edits of a model's source text at positions the syntax tree gives, shared by the mechanical fixes."""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator


def is_nn(node: ast.expr) -> bool:
    """`nn` or `torch.nn`: where the fixes look layers up."""
    return (isinstance(node, ast.Name) and node.id == "nn") or (
        isinstance(node, ast.Attribute) and node.attr == "nn" and isinstance(node.value, ast.Name)
        and node.value.id == "torch")


class TextEdits:
    """Edits of a source text at ast positions, applied together (comments and layout stay)."""

    def __init__(self, code: str) -> None:
        self.code, self.lines = code, code.splitlines(keepends=True)
        self.starts, at = [], 0
        for line in self.lines:
            self.starts.append(at)
            at += len(line)
        self.edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in character offsets

    def pos(self, line: int, col: int) -> int:
        """The character offset of an ast (line, column): ast columns count UTF-8 bytes."""
        return self.starts[line - 1] + len(self.lines[line - 1].encode()[:col].decode(errors="ignore"))

    def end(self, node: ast.expr | ast.keyword) -> int:
        return self.pos(node.end_lineno or node.lineno, node.end_col_offset or 0)

    def edit(self, start: int, end: int, text: str) -> None:
        self.edits.append((start, end, text))

    def result(self) -> str:
        out = self.code
        for start, end, text in sorted(self.edits, reverse=True):
            out = out[:start] + text + out[end:]
        return out


def parsed(code: str) -> ast.Module | None:
    """The file's syntax tree, or None when it does not parse (the sandbox reports that error)."""
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def nn_calls(tree: ast.AST, layers: Collection[str] | None = None) -> Iterator[ast.Call]:
    """Every `nn.X(...)` / `torch.nn.X(...)` call (X in `layers`, when given) without `*args`."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_nn(node.func.value)
                and (layers is None or node.func.attr in layers)
                and not any(isinstance(a, ast.Starred) for a in node.args)):
            yield node
