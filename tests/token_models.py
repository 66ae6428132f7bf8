"""Token models shared by the token tests (candidate sources, run in the sandbox)."""

# Embedding, one causal convolution (left padding), a head: honest and fast.
HONEST = '''
import torch
import torch.nn.functional as F
from torch import nn


class Causal(nn.Module):
    def __init__(self, vocab, width=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.conv = nn.Conv1d(width, width, 3)
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens):
        h = self.emb(tokens).transpose(1, 2)                      # (B, C, T)
        h = torch.relu(self.conv(F.pad(h, (2, 0)))).transpose(1, 2)  # causal: left padding only
        return self.head(h)                                       # (B, T, V)


def build_model(vocab_size, seq_len):
    return Causal(vocab_size)
'''

# Honest while training (so it learns normally), looks ahead only when evaluated.
EVAL_ONLY = HONEST + '''

class EvalOnly(Causal):
    def forward(self, tokens):
        out = super().forward(tokens)
        if not self.training:
            out = out + 8.0 * F.one_hot(torch.roll(tokens, -1, dims=1), self.head.out_features)
        return out


def build_model(vocab_size, seq_len):
    return EvalOnly(vocab_size)
'''
