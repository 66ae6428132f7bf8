"""The MNIST-1D paper's small 1-D CNN: three strided convolutions and a linear head.

About 94 % test accuracy in the paper with only ~5k parameters: weight sharing
across positions is what the shifted, padded signals reward.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_out_len(length: int, kernel: int, stride: int, padding: int) -> int:
    """Length of a Conv1d output (dilation 1)."""
    return (length + 2 * padding - kernel) // stride + 1


class CNN(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, channels: int = 25) -> None:
        super().__init__()
        if len(input_shape) != 2:
            raise ValueError(f"CNN expects (channels, length) inputs, got {input_shape}")
        in_ch, length = input_shape
        self.conv1 = nn.Conv1d(in_ch, channels, kernel_size=5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, kernel_size=3, stride=2, padding=1)
        for k in (5, 3, 3):
            length = conv_out_len(length, k, stride=2, padding=1)   # 40 -> 19 -> 10 -> 5
        if length < 1:
            raise ValueError(f"input length {input_shape[1]} is too short for three stride-2 convs")
        self.head = nn.Linear(channels * length, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))     # (B, 25, 19)   for x of (B, 1, 40)
        h = torch.relu(self.conv2(h))     # (B, 25, 10)
        h = torch.relu(self.conv3(h))     # (B, 25, 5)
        logits: torch.Tensor = self.head(h.flatten(1))   # (B, num_classes)
        return logits


def build_model(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return CNN(input_shape, num_classes)
