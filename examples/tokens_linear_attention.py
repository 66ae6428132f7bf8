"""Causal linear attention (Katharopoulos et al., 2020, "Transformers are RNNs").

Softmax(q k^T) is replaced by the kernel phi(q) phi(k)^T with phi(x) = elu(x) + 1, so the
output at t is phi(q_t) S_t / phi(q_t) z_t with the running sums S_t = sum_{s<=t} phi(k_s) v_s^T
and z_t = sum_{s<=t} phi(k_s): a recurrent state of fixed size, linear in the sequence
length. Written here in its equal masked (quadratic) form, which trains fastest at these
lengths. Same blocks, width and positions as the transformer example.
Contract (causal_lm): build_model(vocab_size, seq_len): tokens (B, T) -> logits (B, T, V).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WIDTH, LAYERS, HEADS = 64, 2, 4


class CausalLinearAttention(nn.Module):
    def __init__(self, width: int, heads: int, seq_len: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        # 1 where key s may serve query t (s <= t), 0 for the future.
        self.register_buffer("past", torch.tril(torch.ones(seq_len, seq_len)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)                             # 3 x (B, T, C)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, D)
        q, k = F.elu(q) + 1, F.elu(k) + 1                                 # positive feature maps
        weights = (q @ k.transpose(-2, -1)) * self.past[:t, :t]           # (B, H, T, T)
        y = (weights @ v) / (weights.sum(-1, keepdim=True) + 1e-6)        # (B, H, T, D)
        return self.out(y.transpose(1, 2).reshape(b, t, c))              # (B, T, C)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, seq_len: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.mix = CausalLinearAttention(width, heads, seq_len)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mix(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class LinearTransformer(nn.Module):
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
    return LinearTransformer(vocab_size, seq_len)
