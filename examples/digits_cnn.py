"""A small 2-D CNN for tiny images: two 3x3 convs, a 2x2 pool, one more conv, global pool.

Global average pooling keeps the head independent of the image size, so the same
model serves 8x8 digits and larger inputs.
"""

from __future__ import annotations

import torch
from torch import nn


class CNN(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, width: int = 32) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"CNN expects (channels, height, width) inputs, got {input_shape}")
        in_ch, height, wid = input_shape
        if min(height, wid) < 2:
            raise ValueError(f"image {height}x{wid} is too small for a 2x2 pool")
        self.conv1 = nn.Conv2d(in_ch, width // 2, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(width // 2, width, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(width, width, kernel_size=3, padding=1)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))               # (B, 16, 8, 8)   for x of (B, 1, 8, 8)
        h = torch.relu(self.conv2(h))               # (B, 32, 8, 8)
        h = nn.functional.max_pool2d(h, 2)          # (B, 32, 4, 4)
        h = torch.relu(self.conv3(h))               # (B, 32, 4, 4)
        h = h.mean(dim=(2, 3))                      # (B, 32), global average pool
        logits: torch.Tensor = self.head(h)         # (B, num_classes)
        return logits


def build_model(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return CNN(input_shape, num_classes)
