"""A gated convolution mixer in the spirit of H3 / Hyena (Fu et al., 2023; Poli et al., 2023).

Each block projects the input to a value and a gate; the value goes through a short causal
convolution (local shifts) and a long causal depthwise convolution spanning the whole
sequence (explicit filters, one per channel), and the gate multiplies the result. Causal
padding: a convolution's input is padded on the left only, by kernel - 1, so the output at
t mixes positions t - kernel + 1 .. t. No attention, no recurrence.
Contract (causal_lm): build_model(vocab_size, seq_len): tokens (B, T) -> logits (B, T, V).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WIDTH, LAYERS, SHORT = 64, 2, 3


class CausalDepthwiseConv(nn.Module):
    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(channels, channels, kernel, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:                  # (B, C, T)
        return self.conv(F.pad(x, (self.kernel - 1, 0)))                  # (B, C, T): left padding only


class GatedConvMixer(nn.Module):
    def __init__(self, width: int, seq_len: int) -> None:
        super().__init__()
        self.proj = nn.Linear(width, 2 * width)
        self.short = CausalDepthwiseConv(width, SHORT)
        self.long = CausalDepthwiseConv(width, seq_len)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)                       # 2 x (B, T, C)
        value = self.long(self.short(value.transpose(1, 2))).transpose(1, 2)   # (B, T, C)
        return self.out(value * F.silu(gate))                             # (B, T, C)


class Block(nn.Module):
    def __init__(self, width: int, seq_len: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.mix = GatedConvMixer(width, seq_len)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mix(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ConvLM(nn.Module):
    def __init__(self, vocab_size: int, seq_len: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, WIDTH)
        self.blocks = nn.Sequential(*[Block(WIDTH, seq_len) for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.tokens(tokens))))     # (B, T, V)


def build_model(vocab_size: int, seq_len: int) -> nn.Module:
    return ConvLM(vocab_size, seq_len)
