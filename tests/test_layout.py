"""The package's layout holds: imports go down the layers of docs/architecture.md, and no two
files or folders import each other (every import counts, those inside functions too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "agentnas"
LAYERS: list[set[str]] = [
    {"cli", "__main__"},
    {"bench", "report", "replay"},
    {"run"},
    {"search", "agents"},
    {"steering", "memory", "value"},
    {"encode", "evaluator", "llm"},
    {"tasks", "space"},
    {"records", "journal", "config", "fingerprint", "words", "paths", "signals", "threads", "__init__"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("agentnas"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("agentnas")}
    return {m for m in out if m in known}


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(p, known) - {m} for m, p in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def test_no_two_files_import_each_other() -> None:
    edges = {m: {t for t in ts if t != "agentnas"} for m, ts in graph().items() if m != "agentnas"}
    assert cycles(edges) == []


def test_no_two_folders_import_each_other() -> None:
    folders: dict[str, set[str]] = {}
    for m, ts in graph().items():
        folders.setdefault(top(m), set()).update(top(t) for t in ts if top(t) != top(m))
    assert cycles(folders) == []


def test_every_import_goes_down_the_layers() -> None:
    up = []
    for m, ts in graph().items():
        for t in ts:
            a, b = top(m), top(t)
            if a != b and LAYER_OF.get(b, 99) < LAYER_OF.get(a, 99):
                up.append(f"{m} imports {t}")
    assert up == []


def test_every_folder_and_top_level_module_has_a_layer() -> None:
    assert {top(m) for m in modules()} - set(LAYER_OF) == set()
