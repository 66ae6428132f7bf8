"""A two-hidden-layer MLP with a residual connection, as in the MNIST-1D paper.

About 68 % test accuracy in the paper: enough capacity to memorise the training
set, but without weight sharing it cannot generalise across the random shifts.
The paper's training script builds it with hidden_size=256 (its default model
arguments), which is the width used here.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, hidden: int = 256) -> None:
        super().__init__()
        self.fc1 = nn.Linear(math.prod(input_shape), hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)                      # (B, C*L)
        h = torch.relu(self.fc1(x))           # (B, hidden)
        h = h + torch.relu(self.fc2(h))       # (B, hidden), residual as in the paper
        logits: torch.Tensor = self.head(h)   # (B, num_classes)
        return logits


def build_model(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return MLP(input_shape, num_classes)
