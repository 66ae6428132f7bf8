"""A selective state-space layer, Mamba-style, in plain torch (Gu & Dao, 2023; Dao & Gu, 2024).

Per head, a state h_t = a_t * h_{t-1} + B_t x_t^T read out as y_t = h_t^T C_t, where the decay
a_t = exp(-dt_t * exp(A_log)), the step dt_t and the projections B_t, C_t all depend on the
input at t: the layer chooses what to keep and what to forget (selectivity). As in Mamba-2
the decay is one scalar per head, so the recurrence unrolls into its equal masked form
y = ((C B^T) * L) x with L[t, s] = a_{s+1} ... a_t for s <= t and 0 above the diagonal, computed
here in log space. Around it, the Mamba block: an input projection to x and a gate z, a
short causal depthwise convolution, SiLU, the skip D x, and the gate.
Contract (causal_lm): build_model(vocab_size, seq_len): tokens (B, T) -> logits (B, T, V).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

WIDTH, LAYERS, HEADS, STATE, CONV = 64, 2, 4, 16, 4
EXPAND = 2


class SelectiveSSM(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        inner = EXPAND * width
        self.inner, self.heads = inner, HEADS
        self.in_proj = nn.Linear(width, 2 * inner)                        # x and the gate z
        self.conv = nn.Conv1d(inner, inner, CONV, groups=inner)
        self.bc_dt = nn.Linear(inner, 2 * STATE * HEADS + HEADS)          # B_t, C_t per head, dt_t per head
        # Mamba-2's initialisation: decay rates A in [1, 16], steps dt from 0.001 to 0.1 (log-spaced),
        # so some heads forget within a few tokens and others remember across the whole sequence.
        self.A_log = nn.Parameter(torch.log(torch.linspace(1.0, 16.0, HEADS)))
        dt = torch.exp(torch.linspace(math.log(1e-3), math.log(1e-1), HEADS))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))     # softplus(dt_bias) == dt
        self.D = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, width)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        b, t, _ = u.shape
        h, p = self.heads, self.inner // self.heads
        x, z = self.in_proj(u).chunk(2, dim=-1)                           # 2 x (B, T, E)
        x = self.conv(F.pad(x.transpose(1, 2), (CONV - 1, 0))).transpose(1, 2)  # causal: left padding
        x = F.silu(x)                                                     # (B, T, E)
        bc, dt = self.bc_dt(x).split([2 * STATE * h, h], dim=-1)
        B, C = bc.view(b, t, h, 2 * STATE).transpose(1, 2).chunk(2, dim=-1)  # 2 x (B, H, T, N)
        dt = F.softplus(dt + self.dt_bias).transpose(1, 2)               # (B, H, T), > 0
        log_a = -dt * torch.exp(self.A_log)[None, :, None]                # (B, H, T), log decay <= 0
        cum = torch.cumsum(log_a, dim=-1)                                 # (B, H, T)
        # log L[t, s] = cum[t] - cum[s] for s <= t; above the diagonal the state has not arrived yet.
        seg = cum[..., :, None] - cum[..., None, :]                       # (B, H, T, T)
        future = torch.triu(torch.ones(t, t, dtype=torch.bool, device=u.device), 1)
        decay = torch.exp(seg.masked_fill(future, float("-inf")))         # (B, H, T, T)
        xh = x.view(b, t, h, p).transpose(1, 2)                           # (B, H, T, P)
        scores = (C @ B.transpose(-2, -1)) * decay                        # (B, H, T, T)
        y = scores @ (xh * dt[..., None])                                 # (B, H, T, P): dt scales the input
        y = y.transpose(1, 2).reshape(b, t, self.inner) + self.D * x      # (B, T, E)
        return self.out_proj(y * F.silu(z))                               # (B, T, C)


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.mix = SelectiveSSM(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(self.norm(x))


class MambaLM(nn.Module):
    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, WIDTH)
        self.blocks = nn.Sequential(*[Block(WIDTH) for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.tokens(tokens))))     # (B, T, V)


def build_model(vocab_size: int, seq_len: int) -> nn.Module:
    return MambaLM(vocab_size)
