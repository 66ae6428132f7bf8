"""Directions a new hypothesis can take, and which of them a run has not tried yet.

A small model asked for "a new hypothesis" names the same familiar change again and again (a
1.5B one proposed batch normalisation in all seven hypotheses of a run, each reworded). The prompt
therefore lists a few directions no earlier hypothesis of the run mentions, rotating with the
number of hypotheses, so the model picks among untried ones; it may still propose anything."""

from __future__ import annotations

from collections.abc import Iterable

# (the direction as the prompt words it, words whose presence in a hypothesis means it was tried)
IDEAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dilated convolutions (dilation 2, 4, ...)", ("dilat",)),
    ("a residual (skip) connection around a block", ("residual", "skip")),
    ("depthwise separable convolutions", ("depthwise", "separable")),
    ("wider layers (more channels or units)", ("wider", "width", "more channels", "more units")),
    ("one more layer", ("deeper", "more layers", "one more layer", "additional layer", "extra layer")),
    ("larger or smaller kernels", ("kernel",)),
    ("GELU or SiLU activations", ("gelu", "silu", "swish", "activation")),
    ("max or average pooling between layers", ("pool",)),
    ("dropout before the head", ("dropout",)),
    ("batch normalisation after convolutions", ("batch norm", "batchnorm", "batch-norm", "bn ")),
    ("layer or group normalisation", ("layer norm", "layernorm", "group norm", "groupnorm")),
    ("a small GRU over the sequence of features", ("gru", "lstm", "recurrent", "rnn")),
    ("self-attention over positions", ("attention", "transformer")),
    ("squeeze-and-excitation channel gating", ("squeeze", "excitation", "gating", "gate")),
    ("fewer parameters with the same accuracy", ("fewer parameters", "smaller model", "compact", "prune")),
)


def untried(hypotheses: Iterable[str], n: int = 6) -> tuple[str, ...]:
    """Up to `n` directions none of `hypotheses` mentions, starting further down the list as the run's
    hypotheses accumulate (so the same few are not offered first every time)."""
    texts = [h.lower() for h in hypotheses]
    left = [idea for idea, words in IDEAS if not any(w in t for w in words for t in texts)]
    if not left:
        return ()
    start = len(texts) % len(left)
    return tuple((left[start:] + left[:start])[:n])


def directions(text: str) -> frozenset[str]:
    """The directions of `IDEAS` that `text` names."""
    low = text.lower()
    return frozenset(idea for idea, words in IDEAS if any(w in low for w in words))


def only_tried(text: str, earlier: Iterable[str]) -> bool:
    """Whether `text` names directions and every one of them was named by an earlier hypothesis: a
    repeat in other words ("Batch Normalization on CNN" after "Improved CNN with Batch Normalization")."""
    named = directions(text)
    tried = frozenset().union(*(directions(e) for e in earlier))
    return bool(named) and named <= tried

