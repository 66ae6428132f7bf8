"""One candidate cannot influence the next one evaluated in the same sandbox slot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agentnas.evaluator import EvalOptions, Evaluator
from agentnas.tasks import get_task

MODEL = '''
import torch.nn as nn

def build_model(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))
'''

LEAVE_TRACES = MODEL + '''
import os, pathlib
here = pathlib.Path.cwd()
for target in (here.parent / "cached_weights.pt", here / "left_behind.txt", pathlib.Path("/scratch/x")):
    try:
        target.write_text("from the previous candidate")
    except OSError:
        pass
'''

LOOK_FOR_TRACES = MODEL + '''
import os
found = []
for root, dirs, files in os.walk(os.path.dirname(os.getcwd())):
    found += [os.path.join(root, f) for f in files if f in ("cached_weights.pt", "left_behind.txt", "x")]
if found:
    raise RuntimeError("FOUND " + " ".join(found))
'''


@pytest.mark.parametrize("backend", ["bwrap", "unshare"])
def test_files_left_by_a_candidate_are_gone_for_the_next(backend: str, tmp_path: Path) -> None:
    if backend == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed")
    (tmp_path / "a.py").write_text(LEAVE_TRACES)
    (tmp_path / "b.py").write_text(LOOK_FOR_TRACES)
    options = EvalOptions(isolation=backend, slots=1, epochs=1, timeout_s=60)
    with Evaluator(get_task("digits"), options, cache_dir=tmp_path / "cache") as ev:
        first = ev.evaluate_one(tmp_path / "a.py")
        second = ev.evaluate_one(tmp_path / "b.py")
        assert ev.sandboxes[0].starts == 1  # same zygote served both
    assert first.ok, first.failure
    assert second.ok, (second.failure, second.log_tail)
