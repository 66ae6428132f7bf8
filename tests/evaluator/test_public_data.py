"""Packages installed beside torch cannot be used to look up a task's labels.

scikit-learn ships the digits data set and mnist1d regenerates MNIST-1D from its public
seed; both are installed for the trusted side. Inside the sandbox only torch, numpy, the
ONNX exporters and their requirements exist, so a candidate that tries to copy the
published labels gets an honest score instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentnas.evaluator import Evaluator

from .conftest import assert_still_serving, open_evaluator

LOOKUP = '''
import os, sys
import numpy as np
import torch
from torch import nn

table, imported = {}, []
try:
    from sklearn.datasets import load_digits
    d = load_digits()
    for img, label in zip(d.images, d.target):
        table[np.asarray(img / 16.0, np.float32).tobytes()] = int(label)
    imported.append("sklearn")
except Exception as e:
    print("sklearn unavailable:", type(e).__name__, flush=True)
try:
    import mnist1d
    imported.append("mnist1d")
except Exception as e:
    print("mnist1d unavailable:", type(e).__name__, flush=True)
found = []
for top in ("/", ):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ("proc", "dev")]
        found += [os.path.join(root, f) for f in files if f.startswith("digits.csv")]
site = sorted(os.listdir(os.path.dirname(os.path.dirname(np.__file__))))
print("IMPORTED", imported, "DATAFILES", found, "SITE", site, flush=True)


class Lookup(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.fallback = nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))

    def forward(self, x):
        logits = self.fallback(x)
        if table and not self.training:
            rows = x.detach().cpu().numpy().reshape(len(x), 8, 8).astype(np.float32)
            hits = [table.get(r.tobytes()) for r in rows]
            if all(h is not None for h in hits):
                return torch.nn.functional.one_hot(torch.tensor(hits), logits.shape[1]).float() * 100
        return logits


def build_model(input_shape, num_classes):
    return Lookup(num_classes)
'''


@pytest.fixture(scope="module")
def evaluator(backend: str, cache_dir: Path) -> Iterator[Evaluator]:
    with open_evaluator(backend, cache_dir, timeout_s=60.0) as ev:
        yield ev


def test_published_datasets_cannot_be_loaded_to_copy_labels(evaluator: Evaluator, candidate: Any,
                                                             tmp_path: Path) -> None:
    result = evaluator.evaluate_one(candidate(LOOKUP))
    assert result.ok, (result.failure, result.log_tail)
    assert "IMPORTED []" in result.log_tail and "DATAFILES []" in result.log_tail
    assert "'torch'" in result.log_tail and "'numpy'" in result.log_tail  # what must stay
    assert "'sklearn'" not in result.log_tail and "'mnist1d'" not in result.log_tail
    assert result.metrics is not None and result.metrics.test_accuracy < 0.99
    assert_still_serving(evaluator, tmp_path)
