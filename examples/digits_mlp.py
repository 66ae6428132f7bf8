"""A plain MLP for small images such as the 8x8 digits: flatten, two hidden layers."""

from __future__ import annotations

import math

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),                                  # (B, C*H*W)
            nn.Linear(math.prod(input_shape), hidden),     # (B, hidden)
            nn.ReLU(),
            nn.Linear(hidden, hidden),                     # (B, hidden)
            nn.ReLU(),
            nn.Linear(hidden, num_classes),                # (B, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(x)                 # (B, num_classes)
        return logits


def build_model(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return MLP(input_shape, num_classes)
