"""A recurrent baseline: a 2-layer GRU (Cho et al., 2014) reading the tokens left to right.

Causal by construction: the state at t has seen tokens 0..t only. Its fixed-size state must
hold every key-value pair it may be asked about, which is what recall tasks stress.
Width 96 (about the parameters of the attention examples).
Contract (causal_lm): build_model(vocab_size, seq_len): tokens (B, T) -> logits (B, T, V).
"""

from __future__ import annotations

import torch
from torch import nn

WIDTH, LAYERS = 96, 2


class GRULM(nn.Module):
    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, WIDTH)
        self.gru = nn.GRU(WIDTH, WIDTH, num_layers=LAYERS, batch_first=True)
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tokens(tokens)                                           # (B, T, C)
        # An explicit zero state sized from the batch keeps an ONNX export valid for any batch size.
        h0 = x.new_zeros(LAYERS, x.shape[0], WIDTH)                       # (layers, B, C)
        h, _ = self.gru(x, h0)                                            # (B, T, C)
        return self.head(self.norm(h))                                    # (B, T, V)


def build_model(vocab_size: int, seq_len: int) -> nn.Module:
    return GRULM(vocab_size)
