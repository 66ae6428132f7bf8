"""The rules that keep a token model causal: an architecture whose stem is `embed` maps tokens
(T,) to next-token logits (T, V), and its logits at position t may read positions <= t only.

The grammar keeps one vocabulary for both kinds of model; what changes for a token model is
how some operations are written (render_tokens.py: convolutions and pooling padded on the
left, attention masked, squeeze-excitation from a running mean) and what the tree may hold,
which `causal_arch` enforces (space.repair applies it to every token tree, so mutations and
crossover may be careless):

- no downsampling: every stride is 1 (the logits keep one position per token);
- norms act at each position alone (`layer`): batch and group norms pool over positions;
- recurrent layers read left to right only (a bidirectional one reads the future);
- the head is `token` (per position) and the stem is `embed` (kernel and stride unused).
"""

from __future__ import annotations

import agentnas.space.grammar as g


def is_token_arch(arch: g.Arch) -> bool:
    return arch.stem.kind == "embed"


def causal_node(node: g.Node) -> g.Node:
    """The sub-tree with every stride 1 and every norm per position."""
    children = g.kids(node)
    if children:
        return g.with_kids(node, tuple(causal_node(c) for c in children))
    if isinstance(node, g.Conv | g.Pool) and node.stride != 1:
        return node.model_copy(update={"stride": 1})
    if isinstance(node, g.Norm) and node.kind != "layer":
        return g.Norm(kind="layer")
    if isinstance(node, g.Recurrent) and node.bidirectional:
        return node.model_copy(update={"bidirectional": False})  # the backward pass reads the future
    return node


def causal_arch(arch: g.Arch) -> g.Arch:
    """The token model's tree with the rules above applied (unchanged if it follows them)."""
    stem = arch.stem.model_copy(update={"kernel": 1, "stride": 1,
                                        "norm": None if arch.stem.norm is None else "layer"})
    head = arch.head if arch.head.pool == "token" else arch.head.model_copy(update={"pool": "token"})
    return g.Arch(version=arch.version, stem=stem, body=causal_node(arch.body), head=head)
