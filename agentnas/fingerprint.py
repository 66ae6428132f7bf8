"""The one code hash of agentnas: two candidate files that differ only in comments,
docstrings, formatting or the names they chose hash alike.

The agents (duplicates among siblings and in the run), the journal (`code_hash` of every
node and experiment), replay and the memory's novelty index all call `code_hash`; the
ONNX graph hash (`GraphEncoding.text_sha256`, free of tensor and module names) is the
second key, for changes that survive this normalisation (a refactor into other modules).

Normalisation, on the syntax tree (the code is parsed, never executed):
- docstrings are dropped; comments and layout never reach the tree;
- every name the file binds itself (functions, classes, arguments, variables, import
  aliases, attributes set on `self`) is renamed by order of first appearance, so
  `self.conv1`/`h` and `self.stem`/`x` agree; names the file does not bind (torch, nn,
  range, keyword argument names, methods the framework calls such as `forward` and
  `build_model`) keep their spelling, because they change what the code does.
A file that does not parse is hashed as text (the same broken code is still a duplicate).
"""

from __future__ import annotations

import ast
import builtins
import hashlib

# Names the framework or the candidate contract looks up by spelling: renaming them changes behaviour.
_FIXED = frozenset({"build_model", "forward", "self", "cls"}) | frozenset(dir(builtins))


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]


def _bound_names(tree: ast.AST) -> tuple[list[str], set[str]]:
    """Names the file binds (in order of first appearance) and attribute names it sets on `self`."""
    order: list[str] = []
    attrs: set[str] = set()

    def bind(name: str | None) -> None:
        if name and not (name.startswith("__") and name.endswith("__")) and name not in _FIXED \
                and name not in order:
            order.append(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bind(node.name)
        elif isinstance(node, ast.arg):
            bind(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bind(node.id)
        elif isinstance(node, ast.alias):
            bind(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                and isinstance(node.value, ast.Name) and node.value.id == "self":
            attrs.add(node.attr)
            bind(node.attr)
    return order, attrs


class _Renamer(ast.NodeTransformer):
    def __init__(self, names: dict[str, str], attrs: set[str]) -> None:
        self.names, self.attrs = names, attrs

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self.names.get(node.arg, node.arg)
        node.annotation = None  # type hints do not change the model
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = self.names.get(node.name, node.name)
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.name = self.names.get(node.name, node.name)
        self.generic_visit(node)
        return node

    def visit_alias(self, node: ast.alias) -> ast.AST:
        bound = node.asname or node.name.split(".")[0]
        if bound in self.names and (node.asname or "." not in node.name):
            node.asname = self.names[bound]
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        # only `self.<attr>`: `F.relu` is the library's name even when the file also sets `self.relu`
        if node.attr in self.attrs and isinstance(node.value, ast.Name) and node.value.id == "self":
            node.attr = self.names.get(node.attr, node.attr)
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        self.generic_visit(node)
        node.annotation = ast.Constant(value=None)
        return node


def normalised_source(code: str) -> str:
    """The canonical form `code_hash` hashes (raises SyntaxError for code that does not parse)."""
    tree = ast.parse(code)
    _strip_docstrings(tree)
    order, attrs = _bound_names(tree)
    names = {name: f"v{i}" for i, name in enumerate(order)}
    tree = _Renamer(names, attrs).visit(tree)
    return ast.dump(tree, annotate_fields=False)


def code_hash(code: str) -> str:
    """sha256 (hex) of the normalised syntax tree; of the text when the code does not parse."""
    try:
        dumped = "ast2\0" + normalised_source(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        dumped = "text\0" + code
    return hashlib.sha256(dumped.encode("utf-8", "surrogatepass")).hexdigest()


def text_hash(code: str) -> str:
    """sha256 of the raw text: what journals written before the normalised hash stored."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()
