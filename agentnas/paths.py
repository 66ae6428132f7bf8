"""Where the shipped data folders live, in a checkout and in an installed wheel."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_PACKAGE_DIR = Path(__file__).resolve().parent
_SHIPPED_NAMES = ("prompts", "memory", "sandbox", "examples")


def shipped_dir(name: str) -> Path:
    """Return the folder `name` (prompts, memory, sandbox, examples).

    An installed wheel carries them under `agentnas/_shipped/`; a checkout has them
    at the repository root, beside the package.
    """
    if name not in _SHIPPED_NAMES:
        raise ValueError(f"unknown shipped folder {name!r}; expected one of {_SHIPPED_NAMES}")
    installed = _PACKAGE_DIR / "_shipped" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"shipped folder {name!r} not found under {installed} or {checkout}")


def load_module(path: Path, name: str) -> ModuleType:
    """Import a Python file (a sandbox module, an example candidate) as module `name`.

    Trusted code only: candidates are imported inside the sandbox, never with this.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def default_cache_dir() -> Path:
    """The cache for generated datasets: $XDG_CACHE_HOME/agentnas or ~/.cache/agentnas."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentnas"
