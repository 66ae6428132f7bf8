"""Character-level language modelling over Python standard library source files.

The corpus exists on every machine with Python and needs no download: the `.py` files of
a fixed list of standard-library packages that neither the sandbox nor torch imports
(`PACKAGES`, those present in this interpreter's library), sorted by path and split by
file with a hash of the relative path (about 80 / 10 / 10), so a file's text is in one
split only and the split does not move when a package is absent elsewhere.

Characters: ASCII code points are the tokens (vocabulary 128); any other character
becomes token 0 (NUL never occurs in source). Train is every window of 128 + 1
characters (non-overlapping) of the train files joined; val and test keep at most 256
windows each, evenly spaced over their files. Metric: loss per character in nats, lower
is better; bits per character = loss / ln 2.

The sandbox must not read the evaluation text from disk: the corpus packages are hidden
from it (`hidden_paths`), in this interpreter's library and in every other Python library
folder it could see. A package absent here is simply not part of the corpus, so the task
can differ between Python versions: its description names the version and corpus size.
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
import sysconfig
from pathlib import Path

import numpy as np

from agentnas.tasks.base import Recipe, Task, TaskData, TaskError
from agentnas.tasks.tokens import eval_rows_cap, spread, token_recipe, token_spec, windows

# Pure-Python packages with no role in importing torch, numpy or the ONNX exporters (a test
# checks the sandbox imports none of them), so hiding them from the sandbox breaks nothing.
PACKAGES = ("idlelib", "tkinter", "turtledemo", "lib2to3", "distutils", "xmlrpc", "wsgiref", "curses",
            "dbm", "sqlite3", "tomllib", "zoneinfo", "ensurepip", "venv")
SEQ_LEN = 128
VOCAB = 128
# Train files take hash buckets 0-7 of 10, val 8, test 9.
VAL_BUCKET, TEST_BUCKET = 8, 9
# AdamW at 3e-3 with cosine decay, batch 32 for one pass over the train windows (about 9,000
# steps' worth of characters is more than a minute on one core, so the pass is capped).
MAX_TRAIN_ROWS = 8_000


def library_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def corpus_files(root: Path | None = None) -> list[Path]:
    """Every corpus file, sorted by its path relative to the library (tests folders excluded)."""
    root = root or library_dir()
    found = []
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            rel = path.relative_to(root)
            if not any(part in ("test", "tests", "idle_test") for part in rel.parts):
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def split_of(rel: str) -> str:
    bucket = int(hashlib.sha256(rel.encode()).hexdigest(), 16) % 10
    return "val" if bucket == VAL_BUCKET else "test" if bucket == TEST_BUCKET else "train"


def encode(text: str) -> np.ndarray:
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    codes[codes >= VOCAB] = 0
    return codes


class StdlibCharsTask(Task):
    """Character-level LM over standard-library packages (module docstring)."""

    def __init__(self, recipe: Recipe | None = None, root: Path | None = None) -> None:
        self.root = root or library_dir()
        self.files = corpus_files(self.root)
        if not self.files:
            raise TaskError(f"stdlib-chars: none of the corpus packages ({', '.join(PACKAGES)}) is in {self.root}")
        chars = sum(p.stat().st_size for p in self.files)
        self.spec = token_spec(
            "stdlib-chars", SEQ_LEN, VOCAB, recipe or token_recipe(SEQ_LEN, VOCAB),
            f"Character-level LM over {len(self.files)} Python {sys.version_info.major}.{sys.version_info.minor} "
            f"standard-library source files ({chars / 1e6:.1f} MB; packages {', '.join(PACKAGES)} where present), "
            f"split by file ~80/10/10; windows of {SEQ_LEN} characters, ASCII vocabulary of {VOCAB}. "
            "Metric: loss per character (bits per character = loss / ln 2).")

    def load(self, cache_dir: Path) -> TaskData:
        # Reading and encoding a few MB takes well under a second: no cache.
        text: dict[str, list[str]] = {"train": [], "val": [], "test": []}
        for path in self.files:
            rel = path.relative_to(self.root).as_posix()
            text[split_of(rel)].append(path.read_text(encoding="utf-8", errors="replace"))
        rows = {s: windows(encode("".join(parts)), SEQ_LEN) for s, parts in text.items()}
        cap = eval_rows_cap(SEQ_LEN, VOCAB)
        x_train, y_train = spread(*rows["train"], MAX_TRAIN_ROWS)
        x_val, y_val = spread(*rows["val"], cap)
        x_test, y_test = spread(*rows["test"], cap)
        if not (len(x_val) and len(x_test)):
            raise TaskError(f"stdlib-chars: the corpus in {self.root} is too small for a val and a test split")
        return TaskData(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test)

    def hidden_paths(self) -> tuple[str, ...]:
        """The corpus packages in every Python library folder the sandbox could see: this
        interpreter's, its base installation's, and the system's (often a copy of the same files)."""
        prefixes = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),
                    "/usr", "/usr/local"}
        roots = {str(self.root)}
        for prefix in prefixes:
            roots.update(glob.glob(f"{prefix}/lib/python3*"))
            roots.update(glob.glob(f"{prefix}/lib64/python3*"))
        return tuple(sorted({os.path.realpath(d) for r in roots for d in glob.glob(f"{r}/*")
                             if os.path.basename(d) in PACKAGES and os.path.isdir(d)}))
