"""Logistic regression: one linear layer on the flattened signal.

The MNIST-1D paper's linear baseline (about 32 % test accuracy): it shows how far
a model gets with no notion of translation, and sets the floor for the task.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Logistic(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(math.prod(input_shape), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)          # (B, C*L)
        logits: torch.Tensor = self.linear(x)     # (B, num_classes)
        return logits


def build_model(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return Logistic(input_shape, num_classes)
