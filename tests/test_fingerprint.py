"""One normalised code hash: comments, docstrings, layout and the names a file chooses do
not make a new model; anything that changes what the code computes does."""

from __future__ import annotations

from agentnas.fingerprint import code_hash, text_hash

BASE = '''
"""A small CNN."""
import torch
from torch import nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, c, kernel_size=k)  # the stem
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv1(x))
        return F.relu(h).mean(-1)


def build_model(input_shape, num_classes):
    return Net(16, 3)
'''

RENAMED = '''
import torch
from torch import nn
import torch.nn.functional as fn
class Model(nn.Module):
    def __init__(self, width, ks):
        super().__init__()
        self.stem = nn.Conv1d(1, width, kernel_size=ks)
        self.act = nn.ReLU()
    def forward(self, inp):
        y = self.act(self.stem(inp))
        return fn.relu(y).mean(-1)
def build_model(input_shape, num_classes):
    return Model(16, 3)
'''


def test_comments_docstrings_layout_and_names_do_not_change_the_hash() -> None:
    assert code_hash(BASE) == code_hash(RENAMED)


def test_a_change_to_what_the_code_computes_changes_the_hash() -> None:
    for changed in (RENAMED.replace("Model(16, 3)", "Model(32, 3)"),       # a width
                    RENAMED.replace("fn.relu(y)", "fn.gelu(y)"),            # an op
                    RENAMED.replace("kernel_size=ks", "kernel_size=ks, dilation=2"),  # a keyword
                    RENAMED.replace("mean(-1)", "amax(-1)")):               # a method of torch
        assert code_hash(changed) != code_hash(RENAMED)


def test_the_entry_point_and_forward_keep_their_names() -> None:
    assert code_hash(BASE.replace("def build_model", "def make_model")) != code_hash(BASE)
    assert code_hash(BASE.replace("def forward", "def call")) != code_hash(BASE)


def test_code_that_does_not_parse_is_hashed_as_text() -> None:
    broken = "def build_model(:\n"
    assert code_hash(broken) == code_hash(broken) and code_hash(broken) != code_hash(broken + " ")
    assert text_hash(broken) != code_hash(broken)
