"""Keyword bias of a hypothesis text: keywords multiply the grammar's production weights.

`keyword_bias(text)` finds the keywords below in a hypothesis (case-insensitive) and returns
the product of their factors per production; a keyword preceded within three words by
"no", "not", "without", "avoid", "remove", "drop", "less" or "fewer" in the same clause counts inverted
(factor 1/f). The sampler and the mutation operators read the same weights, so "dilated"
makes dilated convolutions likelier both in fresh samples and among mutations.

| keyword (patterns)                                          | shifts                                               |
|-------------------------------------------------------------|------------------------------------------------------|
| dilated (dilat*, atrous, receptive field)                   | dilation ×6, dilation schedules ×8, mutate-dilation ×8 |
| attention (attention, transformer, token)                   | attention blocks ×10, insert-attention ×6            |
| depthwise (depthwise, separable, mobilenet)                 | depthwise-separable units ×8                         |
| residual (residual, skip, shortcut, resnet)                 | residual blocks ×4, add-residual ×5                  |
| gating (gate/gating/gated, glu, squeeze, excitation, SE)    | gated blocks ×6, GLU units ×5, add-gating ×5         |
| branching (branch, inception, multi-scale, parallel)        | branch blocks ×6                                     |
| grouped (grouped, group conv, shuffle)                      | grouped convs ×8, split blocks ×3                    |
| routing (split, routing, route)                             | split blocks ×6                                      |
| wider (wider, wide, more channels, width)                   | widths ×1.6, mutate-width ×3                         |
| deeper (deeper, more layers/blocks, depth)                  | depth ×1.6, insert-block ×3                          |
| smaller (smaller, fewer parameters, compact, lightweight,   | widths ×0.6, depth ×0.7, depthwise ×2,               |
|   tiny, cheap/cheaper, efficient)                           |   remove-block ×3                                    |
| normalisation (normalis/zation, batch/layer/group norm)     | no-norm ×0.15; naming batch/layer/group norm: ×5 it |
| activations (gelu, silu/swish, tanh, relu)                  | that activation ×6, change-activation ×3             |
| pooling (pooling, downsampl*, subsampl*)                    | pooling units and pooled downsampling ×4             |
| large kernels (large/long/wide kernel, kernel size)         | kernels 5–9 ×4, mutate-kernel ×3                     |
| mlp (mlp, dense, fully connected, feed-forward)             | MLP blocks ×5, point-wise units ×3                   |
| invariance (translation, shift, invariant, global pool)    | global-average head ×3, flatten head ×0.3            |
| position (position, flatten, where)                         | flatten head ×4                                      |

A recurrence named in a hypothesis steers the token models' GRU block (`block.recur`). The
grammar's other recurrent layers (GRU/LSTM over any positions, `block.recurrent`) are off in
the default weights (weights.py), so naming them steers nothing there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NEGATIONS = frozenset({"no", "not", "without", "avoid", "remove", "drop", "less", "fewer", "never"})


@dataclass(frozen=True)
class Keyword:
    name: str
    patterns: tuple[str, ...]
    boosts: dict[str, float]
    # Hypothesis templates; {input} is "1-D signals", "images" or "feature vectors".
    templates: tuple[str, ...] = ()
    ranks: tuple[int, ...] = (0, 1, 2)  # input ranks the direction makes sense for
    # whether it makes sense for causal token models (a sequence mixed left to right, no pooling head)
    tokens: bool = True


KEYWORDS: tuple[Keyword, ...] = (
    Keyword("dilated", (r"dilat\w*", r"atrous", r"receptive field"),
            {"conv.dilated": 6.0, "stage.dilation_schedule": 8.0, "mut.dilation": 8.0},
            ("Dilated convolutions widen the receptive field of {input} cheaply",
             "Residual stacks of dilated convolutions with batch normalisation capture long-range structure "
             "in {input}"),
            (1, 2)),
    Keyword("attention", (r"attention", r"transformer", r"\btokens?\b"),
            {"block.attention": 10.0, "mut.attention": 6.0},
            ("Self-attention over positions lets {input} relate distant features",
             "A small attention block after convolutional feature extraction helps on {input}"),
            (1, 2)),
    Keyword("depthwise", (r"depthwise", r"separable", r"mobile\s?net"),
            {"unit.dwsep": 8.0, "mut.op": 2.0},
            ("Depthwise-separable convolutions keep accuracy on {input} at a fraction of the parameters",),
            (1, 2)),
    Keyword("residual", (r"residual", r"\bskip", r"shortcut", r"resnet"),
            {"block.residual": 4.0, "mut.residual": 5.0},
            ("Residual connections let deeper networks on {input} train stably",
             "Skip connections around every block make depth cheap to optimise on {input}")),
    Keyword("gating", (r"\bgat(e|es|ed|ing)\b", r"\bglu\b", r"squeeze", r"excitation", r"\bse\b"),
            {"block.gated": 6.0, "unit.glu": 5.0, "mut.gating": 5.0},
            ("Gating (GLU or squeeze-excitation) lets the network select informative channels of {input}",)),
    Keyword("branching", (r"branch", r"inception", r"multi-?scale", r"parallel"),
            {"block.branch": 6.0},
            ("Parallel branches with different kernel sizes see {input} at several scales at once",),
            (1, 2)),
    Keyword("grouped", (r"grouped", r"group conv", r"shuffle"),
            {"conv.grouped": 8.0, "block.split": 3.0},
            ("Grouped convolutions with channel shuffles spend parameters on more channels for {input}",),
            (1, 2)),
    Keyword("routing", (r"\bsplit", r"routing", r"\broute"),
            {"block.split": 6.0},
            ("Splitting channels into groups processed by different operations diversifies features of {input}",)),
    Keyword("wider", (r"\bwider\b", r"\bwide\b", r"more channels", r"\bwidth\b"),
            {"width": 1.6, "mut.width": 3.0},
            ("Wider layers give {input} more features per position",)),
    Keyword("deeper", (r"deeper", r"more layers", r"more blocks", r"\bdepth\b"),
            {"depth": 1.6, "mut.insert": 3.0},
            ("A deeper stack of blocks builds more abstract features of {input}",)),
    Keyword("smaller", (r"smaller", r"fewer param\w*", r"compact", r"lightweight", r"\btiny\b", r"\bcheap(er)?\b",
                        r"efficien\w*"),
            {"width": 0.6, "depth": 0.7, "unit.dwsep": 2.0, "mut.remove": 3.0},
            ("A smaller network with fewer parameters generalises better on few examples of {input}",)),
    Keyword("normalisation", (r"normali[sz]\w*", r"batch\s?norm", r"layer\s?norm", r"group\s?norm"),
            {"norm.none": 0.15, "mut.norm": 3.0},
            ("Normalisation after every convolution stabilises training of deeper networks on {input}",)),
    Keyword("batchnorm", (r"batch\s?norm",), {"norm.batch": 5.0}),
    Keyword("layernorm", (r"layer\s?norm",), {"norm.layer": 5.0}),
    Keyword("groupnorm", (r"group\s?norm",), {"norm.group": 5.0}),
    Keyword("gelu", (r"\bgelu\b",), {"act.gelu": 6.0, "mut.act": 3.0},
            ("Smooth GELU activations train more smoothly than ReLU on {input}",)),
    Keyword("silu", (r"\bsilu\b", r"swish"), {"act.silu": 6.0, "mut.act": 3.0},
            ("SiLU (swish) activations keep small negative signals of {input} alive",)),
    Keyword("tanh", (r"\btanh\b",), {"act.tanh": 6.0, "mut.act": 3.0}),
    Keyword("relu", (r"\brelu\b",), {"act.relu": 6.0, "mut.act": 3.0}),
    Keyword("pooling", (r"pooling", r"downsampl\w*", r"subsampl\w*"),
            {"unit.pool": 4.0, "down.pool": 4.0},
            ("Pooling between stages builds invariance to small shifts of {input}",),
            (1, 2), tokens=False),
    Keyword("large_kernel", (r"(large|long|wide|big)(r|er)? kernel", r"kernel size"),
            {"kernel.large": 4.0, "mut.kernel": 3.0},
            ("Larger convolution kernels see more context of {input} per layer",),
            (1, 2)),
    Keyword("mlp", (r"\bmlp\b", r"\bdense\b", r"fully[- ]connected", r"feed-?forward"),
            {"block.mlp": 5.0, "unit.linear": 3.0},
            ("Point-wise MLP blocks between convolutions mix channels of {input} cheaply",)),
    Keyword("invariance", (r"translation", r"\bshift", r"invarian\w*", r"global pool\w*"),
            {"head.avg": 3.0, "head.flatten": 0.3},
            ("Global average pooling makes the classifier of {input} invariant to translations",),
            (1, 2), tokens=False),
    Keyword("position", (r"position", r"flatten", r"\bwhere\b"),
            {"head.flatten": 4.0},
            ("Keeping positional information (a flatten head) helps classify {input} by where features occur",),
            (1, 2), tokens=False),
    # Token models only: a recurrence over the positions (the grammar's GRU block).
    Keyword("recurrence", (r"recurren\w*", r"\bgru\b", r"\brnn\b", r"state[- ]space"),
            {"block.recur": 10.0},
            ("A gated recurrence carries a running state over {input} at a cost linear in their length",
             "Recurrent blocks between attention blocks keep recall on {input} while cutting multiply-adds"),
            ()),
)


@dataclass(frozen=True)
class KeywordBias:
    """The keywords found in a text and the production-weight factors they imply."""

    text: str = ""
    matched: tuple[str, ...] = ()
    negated: tuple[str, ...] = ()
    factors: dict[str, float] = field(default_factory=dict)

    def factor(self, key: str) -> float:
        return self.factors.get(key, 1.0)


def _negated(text: str, start: int) -> bool:
    clause = re.split(r"[,;.:!?()]", text[:start])[-1]  # a negation does not reach past punctuation
    before = re.findall(r"[a-z']+", clause)[-3:]
    return any(w in _NEGATIONS for w in before)


def keyword_bias(text: str) -> KeywordBias:
    """Parse a hypothesis: which keywords it names (or negates) and the resulting weight factors."""
    low = (text or "").lower()
    matched: list[str] = []
    negated: list[str] = []
    factors: dict[str, float] = {}
    for kw in KEYWORDS:
        hits = [m for p in kw.patterns for m in re.finditer(p, low)]
        if not hits:
            continue
        neg = all(_negated(low, m.start()) for m in hits)
        (negated if neg else matched).append(kw.name)
        for key, f in kw.boosts.items():
            factors[key] = factors.get(key, 1.0) * (1.0 / f if neg else f)
    return KeywordBias(text=text or "", matched=tuple(matched), negated=tuple(negated), factors=factors)


def input_words(rank: int) -> str:
    return {0: "feature vectors", 1: "1-D signals", 2: "images"}[rank]
