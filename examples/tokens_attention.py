"""A small causal transformer: softmax attention with a causal mask (Vaswani et al., 2017).

The reference token mixer: every position looks up every earlier one by content, which is
what multi-query associative recall needs. Pre-norm blocks, learned positions, 2 layers of
width 64 with 4 heads. Contract (causal_lm): build_model(vocab_size, seq_len) maps int64
tokens (B, T) to logits (B, T, vocab_size), position t seeing tokens 0..t only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

WIDTH, LAYERS, HEADS = 64, 2, 4


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, seq_len: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        # True above the diagonal: the future positions a query must not see.
        self.register_buffer("future", torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), 1),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)                             # 3 x (B, T, C)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, D)
        scores = q @ k.transpose(-2, -1) / math.sqrt(c // self.heads)     # (B, H, T, T)
        scores = scores.masked_fill(self.future[:t, :t], float("-inf"))
        y = F.softmax(scores, dim=-1) @ v                                 # (B, H, T, D)
        return self.out(y.transpose(1, 2).reshape(b, t, c))              # (B, T, C)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, seq_len: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads, seq_len)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, vocab_size: int, seq_len: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, WIDTH)
        self.positions = nn.Parameter(torch.zeros(seq_len, WIDTH))
        self.blocks = nn.Sequential(*[Block(WIDTH, HEADS, seq_len) for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tokens(tokens) + self.positions[: tokens.shape[1]]       # (B, T, C)
        return self.head(self.norm(self.blocks(x)))                        # (B, T, V)


def build_model(vocab_size: int, seq_len: int) -> nn.Module:
    return Transformer(vocab_size, seq_len)
