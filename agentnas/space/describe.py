"""Short human-readable text for grammar trees, for hypotheses, lessons and code headers.

`describe(node)` writes a compact formula: `res[conv3 d2 → bn → relu] ×3` reads "three
residual blocks of a dilated 3-tap convolution, batch norm and ReLU". Runs of identical
consecutive blocks are folded into `×n`.
"""

from __future__ import annotations

import agentnas.space.grammar as g

_NORM = {"batch": "bn", "layer": "ln", "group": "gn"}


def _leaf(node: g.Node) -> str:
    if isinstance(node, g.Conv):
        text = f"{'dwconv' if node.depthwise else 'conv'}{node.kernel}"
        text += f" d{node.dilation}" * (node.dilation > 1) + f" s{node.stride}" * (node.stride > 1)
        text += f" g{node.groups}" * (node.groups > 1 and not node.depthwise)
        return text + (f"→{node.out}" if node.out and not node.depthwise else "")
    if isinstance(node, g.Linear):
        return "linear" + (f"→{node.out}" if node.out else "")
    if isinstance(node, g.Norm):
        return _NORM[node.kind]
    if isinstance(node, g.Act):
        return node.kind
    if isinstance(node, g.Pool):
        return f"{node.kind}pool{node.kernel}" + f" s{node.stride}" * (node.stride > 1)
    if isinstance(node, g.Attention):
        return f"attn h{node.heads}"
    if isinstance(node, g.SE):
        return f"se/{node.reduction}"
    if isinstance(node, g.GLU):
        return f"glu{node.kernel}" + (f"→{node.out}" if node.out else "")
    if isinstance(node, g.Recur):
        return "gru" + (f"→{node.out}" if node.out else "")
    if isinstance(node, g.Recurrent):
        return "bi" * node.bidirectional + node.cell
    if isinstance(node, g.Shuffle):
        return f"shuffle{node.groups}"
    if isinstance(node, g.Identity):
        return "id"
    return node.op


def _fold(parts: list[str]) -> list[str]:
    """Consecutive repeats written once with a count: [a, a, a, b] -> [a ×3, b]."""
    out: list[str] = []
    i = 0
    while i < len(parts):
        j = i
        while j + 1 < len(parts) and parts[j + 1] == parts[i]:
            j += 1
        n = j - i + 1
        out.append(parts[i] + (f" ×{n}" if n > 1 else ""))
        i = j + 1
    return out


def describe(node: g.Node) -> str:
    """A compact formula for a sub-tree."""
    if isinstance(node, g.Seq):
        return " → ".join(_fold([describe(c) for c in node.children]))
    if isinstance(node, g.Residual):
        return f"res[{describe(node.body)}]"
    if isinstance(node, g.Branch):
        return f"{node.merge}[" + " | ".join(describe(b) for b in node.branches) + "]"
    if isinstance(node, g.Split):
        return "split[" + " | ".join(describe(p) for p in node.parts) + "]"
    return _leaf(node)


def describe_arch(arch: g.Arch, limit: int | None = None) -> str:
    """One line for the whole architecture: stem · body · head (cut to `limit` characters)."""
    s = arch.stem
    stem = {"conv": f"conv{s.kernel}", "dense": "dense", "signal": f"signal→conv{s.kernel}", "embed": "embed"}[s.kind]
    stem += f"→{s.out}" + f" s{s.stride}" * (s.stride > 1)
    head = arch.head.pool + (f" → {arch.head.hidden} → {arch.head.act}" if arch.head.hidden else "")
    text = f"stem {stem} · {describe(arch.body)} · head {head}"
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text
