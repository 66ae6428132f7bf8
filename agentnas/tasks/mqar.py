"""Multi-query associative recall (MQAR), as in Zoology (Arora et al., 2023, arXiv:2312.04927).

Each sequence opens with `pairs` key-value pairs (k1 v1 k2 v2 ...; keys from the lower
half of the vocabulary, values from the upper half, no key repeated within a sequence),
then a query region where every key appears once more, in random order, at even offsets
drawn with Zoology's power law (queries tend to come early); every other position of the
region holds a random token. The model must output, at each query's position, the value
bound to that key earlier in the sequence. Only those answer positions are scored (loss
and accuracy), as in the literature: every other target is IGNORE. The answer is not
given after its query (the next input is noise), so the inputs do not hold the targets.

It is the standard synthetic probe that separates attention from weaker token mixers:
recall needs content-based lookup over the whole context, which a fixed-size recurrent
state or a short convolution cannot hold for many pairs.

Difficulty settings (sequence length, pairs, vocabulary) are the built-in names
`mqar-easy`, `mqar` and `mqar-hard`. Data are generated offline from fixed seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agentnas.tasks.base import IGNORE, Recipe, Task, TaskData
from agentnas.tasks.tokens import token_recipe, token_spec

POWER_A = 0.01  # Zoology's default: the chance of a query at gap g falls as g ** (a - 1)
SEEDS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class MqarSetting:
    seq_len: int
    pairs: int
    vocab: int
    train: int = 20_000
    val: int = 1_000
    test: int = 1_000
    epochs: int = 4
    batch_size: int = 64
    lr: float = 3e-3


SETTINGS: dict[str, MqarSetting] = {
    "mqar-easy": MqarSetting(seq_len=32, pairs=4, vocab=64, train=10_000, epochs=4),
    "mqar": MqarSetting(seq_len=64, pairs=8, vocab=128),
    "mqar-hard": MqarSetting(seq_len=128, pairs=16, vocab=256, epochs=6),
}


def generate(n: int, setting: MqarSetting, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` sequences: inputs (n, T) int64 and targets (n, T), IGNORE except at the answers."""
    t, k, v = setting.seq_len, setting.pairs, setting.vocab
    context = 2 * k
    space = (t - context) // 2
    half = v // 2
    if space < k or half - 1 < k:
        raise ValueError(f"mqar: {k} pairs do not fit {t} tokens and a vocabulary of {v}")
    rng = np.random.default_rng(seed)
    rows = np.arange(n)[:, None]
    # k distinct keys from [1, half) and k distinct values from [half, v), per row.
    keys = 1 + np.argsort(rng.random((n, half - 1)), axis=1)[:, :k]          # (n, k)
    values = half + np.argsort(rng.random((n, v - half)), axis=1)[:, :k]     # (n, k)
    kvs = np.empty((n, context), np.int64)
    kvs[:, 0::2], kvs[:, 1::2] = keys, values
    # k distinct query slots by the power law, without replacement (Gumbel top-k).
    p = POWER_A * np.arange(1, space + 1, dtype=np.float64) ** (POWER_A - 1)
    scores = np.log(p / p.sum())[None, :] + rng.gumbel(size=(n, space))
    gaps = np.argsort(-scores, axis=1)[:, :k]                                # (n, k)
    queries = np.zeros((n, t - context + 1), np.int64)
    queries[rows, 2 * gaps] = keys
    examples = np.concatenate([kvs, queries], axis=1)                        # (n, T + 1)
    labels = np.full((n, t + 1), IGNORE, np.int64)
    labels[rows, 2 * gaps + context + 1] = values
    x, y = examples[:, :-1].copy(), labels[:, 1:].copy()                     # (n, T) each
    # Zoology's random_non_queries: the gaps of the query region hold random tokens.
    gap = x == 0
    x[gap] = rng.integers(0, v, size=int(gap.sum()))
    return x, y


class MqarTask(Task):
    """One MQAR difficulty setting (module docstring)."""

    def __init__(self, name: str = "mqar", recipe: Recipe | None = None,
                 setting: MqarSetting | None = None) -> None:
        self.setting = s = setting or SETTINGS[name]
        self.spec = token_spec(
            name, s.seq_len, s.vocab,
            recipe or token_recipe(s.seq_len, s.vocab, epochs=s.epochs, batch_size=s.batch_size, lr=s.lr),
            f"Multi-query associative recall (Zoology): {s.pairs} key-value pairs then {s.pairs} queries in "
            f"{s.seq_len} tokens, vocabulary {s.vocab}; {s.train} train / {s.val} val / {s.test} test sequences. "
            "Scored on the answer positions only: loss per answer (lower is better) and recall accuracy.")

    def load(self, cache_dir: Path) -> TaskData:
        # A few hundred milliseconds to generate: nothing worth caching.
        s = self.setting
        x_train, y_train = generate(s.train, s, SEEDS["train"])
        x_val, y_val = generate(s.val, s, SEEDS["val"])
        x_test, y_test = generate(s.test, s, SEEDS["test"])
        return TaskData(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test)
