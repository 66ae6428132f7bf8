"""A small ranking head: features of an architecture -> a score whose ORDER is what matters.

Trained with a pairwise margin-ranking loss (ONNX-Net's choice): for pairs (i, j) with
y_i > y_j the head is pushed to score s_i > s_j + margin. Pairs are sampled at random
each step, which scales to thousands of architectures without materialising all pairs.
Features are standardised with statistics stored in the head, so a saved head is
self-contained.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

SQUASH = 5.0


class RankHead(nn.Module):
    """x (B, d) -> score (B,). Holds its own feature standardisation."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, dim: int, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.dim, self.hidden = dim, hidden
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Squashed (linear near 0, logarithmic beyond ±SQUASH): an architecture far outside the
        # pretraining spaces must not get an extrapolated score of any size from features the
        # head never saw vary, yet two such architectures must not all look the same either
        # (a hard clip made every model of a much smaller space identical in its size features).
        z = SQUASH * torch.asinh((x - self.mean) / self.scale / SQUASH)   # (B, d)
        out: torch.Tensor = self.net(z).squeeze(-1)      # (B,)
        return out

    @torch.no_grad()
    def score(self, x: np.ndarray) -> np.ndarray:
        self.eval()
        scores: np.ndarray = self(torch.as_tensor(np.asarray(x, np.float32))).numpy()
        return scores

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save({"dim": self.dim, "hidden": self.hidden, "state": self.state_dict()}, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> RankHead:
        blob = torch.load(io.BytesIO(data), weights_only=True)
        head = cls(int(blob["dim"]), int(blob["hidden"]))
        head.load_state_dict(blob["state"])
        head.eval()
        return head

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RankHead:
        return cls.from_bytes(path.read_bytes())


@dataclass(frozen=True)
class RankTraining:
    steps: int = 1500
    pairs_per_step: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    margin: float = 0.1
    hidden: int = 128
    dropout: float = 0.1
    seed: int = 0


def train_ranker(x: np.ndarray, y: np.ndarray, cfg: RankTraining | None = None,
                 groups: np.ndarray | None = None) -> RankHead:
    """Fit a RankHead so that its scores order `x` as `y` orders them.

    `groups` (one id per row, e.g. the search space) restricts pairs to the same group:
    accuracies from different spaces or datasets are not comparable, their orders are.
    """
    cfg = cfg or RankTraining()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 128-wide MLP: more threads only add synchronisation
    try:
        return _train(x, y, cfg, groups)
    finally:
        torch.set_num_threads(threads)


def _train(x: np.ndarray, y: np.ndarray, cfg: RankTraining, groups: np.ndarray | None) -> RankHead:
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    xt = torch.as_tensor(np.asarray(x, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.float32))
    head = RankHead(xt.shape[1], cfg.hidden, cfg.dropout)
    head.mean.copy_(xt.mean(0))
    std = xt.std(0)
    # A feature constant in training carries no learnt meaning: give it no weight at all.
    head.scale.copy_(torch.where(std > 1e-4, std, torch.full_like(std, 1e6)))
    group_ids = torch.zeros(len(xt), dtype=torch.long) if groups is None else torch.as_tensor(
        np.unique(np.asarray(groups), return_inverse=True)[1])
    members = [torch.nonzero(group_ids == g).squeeze(1) for g in range(int(group_ids.max()) + 1)]
    members = [m for m in members if len(m) > 1]
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.MarginRankingLoss(margin=cfg.margin)
    head.train()
    for _ in range(cfg.steps):
        pick = members[int(torch.randint(len(members), (1,), generator=gen))]
        i = pick[torch.randint(len(pick), (cfg.pairs_per_step,), generator=gen)]
        j = pick[torch.randint(len(pick), (cfg.pairs_per_step,), generator=gen)]
        keep = yt[i] != yt[j]
        if not bool(keep.any()):
            continue
        i, j = i[keep], j[keep]
        s = head(xt[torch.cat([i, j])])
        target = torch.sign(yt[i] - yt[j])
        loss = loss_fn(s[: len(i)], s[len(i):], target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    head.eval()
    return head
