"""The Python installation as the sandbox sees it: the interpreter, the standard library,
and only the distributions the sandbox code needs (torch, numpy, the ONNX exporters and
what they require) — nothing else that happens to be installed.

Why: a package beside torch can carry a task's labels. scikit-learn ships the digits data
set and mnist1d regenerates MNIST-1D from its public seed; a candidate that imports either
can look up the test labels. So every site-packages folder is covered with an empty
read-only tmpfs, and the needed distributions are bound back in one by one.
"""

from __future__ import annotations

import functools
import glob
import importlib.metadata as md
import os
import sys
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from agentnas.evaluator.isolation import Mount

# What sandbox/*.py imports (numpy, torch) plus what torch.onnx.export needs.
SANDBOX_DISTRIBUTIONS = ("torch", "numpy", "onnx", "onnxscript")


def requirement_closure(roots: tuple[str, ...] = SANDBOX_DISTRIBUTIONS) -> dict[str, md.Distribution]:
    """Installed distributions reachable from `roots` through their (non-extra) requirements."""
    found: dict[str, md.Distribution] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # an optional requirement that is not installed
        found[name] = dist
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def _top_level_entries(dist: md.Distribution) -> set[Path]:
    """The folders and files a distribution installed directly in its site-packages."""
    base = Path(str(dist.locate_file(""))).resolve()
    entries = set()
    for f in dist.files or []:
        parts = Path(str(f)).parts
        # Scripts live outside ("../../bin"); a shared __pycache__ would expose other modules.
        if parts and parts[0] not in ("..", "__pycache__"):
            entries.add(base / parts[0])
    return {e for e in entries if e.exists()}


def _site_dirs(prefixes: set[Path]) -> set[Path]:
    patterns = [f"{p}/lib/python3*/site-packages" for p in prefixes]
    patterns += [f"{p}/lib/python3*/dist-packages" for p in prefixes]
    patterns += [f"{p}/local/lib/python3*/dist-packages" for p in prefixes]
    patterns += ["/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages",
                 "/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages"]
    return {Path(d) for pattern in patterns for d in glob.glob(pattern) if os.path.isdir(d)}


@functools.cache
def python_mounts(roots: tuple[str, ...] = SANDBOX_DISTRIBUTIONS) -> tuple[Mount, ...]:
    """Read-only mounts giving the sandbox a working interpreter with only the needed packages
    (`roots` and what they require)."""
    prefixes = {Path(sys.prefix), Path(sys.base_prefix), Path(os.path.realpath(sys.executable)).parent.parent}
    mounts = [Mount(p, str(p)) for p in sorted(prefixes)]
    mounts += [Mount(None, str(d)) for d in sorted(_site_dirs(prefixes))]
    entries = set().union(*(_top_level_entries(d) for d in requirement_closure(roots).values()))
    mounts += [Mount(e, str(e)) for e in sorted(entries)]
    return tuple(mounts)
