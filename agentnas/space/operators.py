"""The mutation operators: one change to a grammar tree, with a one-line account of it.

Every operator returns `(new_arch, description)` or None when it does not apply (no
convolution to dilate, nothing to remove, ...); the caller repairs shapes, checks the
budget and tries another operator (the order: mutate.py). The operators (weights `mut.*`,
steerable like the productions):

- `op`: swap one computation (conv ↔ depthwise-separable ↔ GLU ↔ pooling ↔ point-wise)
- `width`: scale the layers of one width (or all) by 0.5–2
- `kernel`, `dilation`: another kernel size or dilation on one layer; or a dilation
  schedule 1, 2, 4, 8 over consecutive residual blocks
- `insert`, `remove`: a new block (drawn from the grammar) in, or one out
- `residual`: wrap a block in a skip connection; `branch`: add a parallel path to a block
- `gating`: squeeze-excitation after a block, or a point-wise layer made a GLU
- `act`, `norm`: another activation or normalisation (everywhere, or on one layer);
  normalisation after every convolution of a network that has none
- `attention`: insert a self-attention block; `head`: another pooling head

Blocks are counted as segments (segments.py).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import cast

import numpy as np

from agentnas.space.causal import is_token_arch
from agentnas.space.describe import describe
from agentnas.space.draw import Draw
from agentnas.space.grammar import (
    ACTS,
    GLU,
    NORMS,
    SE,
    Act,
    ActKind,
    Arch,
    Attention,
    Branch,
    Conv,
    Linear,
    Node,
    Norm,
    NormKind,
    Path,
    Pool,
    Residual,
    Seq,
    get_at,
    kids,
    map_leaves,
    replace_at,
    walk,
    with_kids,
)
from agentnas.space.segments import blocks, body_from, seg_text, segments
from agentnas.space.shapes import Shape, analyse, body_input
from agentnas.space.weights import SamplerConfig, Weights, round_width


class Mutator:
    """Applies one operator to an architecture for a task's input shape."""

    def __init__(self, arch: Arch, input_shape: tuple[int, ...], num_classes: int, rng: np.random.Generator,
                 weights: Weights, cfg: SamplerConfig) -> None:
        self.arch, self.input_shape, self.rng, self.w, self.cfg = arch, input_shape, rng, weights, cfg
        self.stats = analyse(arch, input_shape, num_classes, shapes=True)
        self.x0 = body_input(arch, input_shape)
        self.draw = Draw(rng, weights, cfg, self.x0.rank, is_token_arch(arch))
        acts = Counter(n.kind for _, n in walk(arch.body) if isinstance(n, Act))
        norms = Counter(n.kind for _, n in walk(arch.body) if isinstance(n, Norm))
        if acts:  # new blocks follow the parent's style
            self.draw.act = acts.most_common(1)[0][0]
        self.draw.norm = norms.most_common(1)[0][0] if norms else "none"

    # helpers ---------------------------------------------------------------------
    def pick(self, items: list[Path]) -> Path | None:
        return items[int(self.rng.integers(len(items)))] if items else None

    def shape_in(self, path: Path) -> Shape:
        return self.stats.shapes[path][0] if path in self.stats.shapes else self.x0

    def with_body(self, body: Node) -> Arch:
        return self.arch.model_copy(update={"body": body})

    def top(self, i: int) -> Path:
        return (i,) if isinstance(self.arch.body, Seq) else ()

    def seg_in(self, i: int) -> Shape:
        return self.shape_in(self.top(i))

    # operators ----------------------------------------------------------------------
    def op(self) -> tuple[Arch, str] | None:
        leaves = [p for p, n in walk(self.arch.body)
                  if isinstance(n, Conv | Linear | GLU | Pool | Attention) and getattr(n, "stride", 1) == 1]
        path = self.pick(leaves)
        if path is None:
            return None
        old = get_at(self.arch.body, path)
        x, y = self.stats.shapes[path]
        kinds = [k for k in self.draw.unit_kinds() if k != _kind_of(old)]
        kind = self.w.pick(self.rng, "unit", kinds)
        new = self.draw.core(x, kind, y.channels if y.channels != x.channels else None)
        node = new[0] if len(new) == 1 else Seq(children=tuple(new))
        return self.with_body(replace_at(self.arch.body, path, node)), f"replaced {describe(old)} with {describe(node)}"

    def width(self) -> tuple[Arch, str] | None:
        values = sorted({self.arch.stem.out} | {n.out for _, n in walk(self.arch.body)
                                                 if isinstance(n, Conv | Linear | GLU) and n.out})
        up = self.w["width"]
        factor = float(self.rng.choice([0.5, 0.75, 1.5, 2.0], p=_norm([1.0, 1.5, 1.5 * up, 1.0 * up])))
        everything = self.rng.random() < 0.3 or len(values) == 1
        target = None if everything else int(self.rng.choice(values))

        def scaled(v: int | None) -> int | None:
            if v is None or (target is not None and v != target):
                return v
            return round_width(v * factor, self.cfg.min_width, self.cfg.max_width * 4)

        def leaf(n: Node) -> Node:
            if isinstance(n, Conv | Linear | GLU) and n.out is not None:
                return n.model_copy(update={"out": scaled(n.out)})
            return n

        stem = self.arch.stem.model_copy(update={"out": scaled(self.arch.stem.out)})
        new = Arch(stem=stem, body=map_leaves(self.arch.body, leaf), head=self.arch.head)
        what = "all layers" if target is None else f"the {target}-channel layers"
        return new, f"{'widened' if factor > 1 else 'narrowed'} {what} ×{factor:g}"

    def kernel(self) -> tuple[Arch, str] | None:
        path = self.pick([p for p, n in walk(self.arch.body)
                          if isinstance(n, Conv | GLU | Pool) and (self.x0.rank or isinstance(n, Pool))])
        if path is None:
            return None
        old = get_at(self.arch.body, path)
        assert isinstance(old, Conv | GLU | Pool)
        x = self.shape_in(path)
        if isinstance(old, Pool):
            options = [k for k in (3, 5) if k != old.kernel]
        else:
            options = [k for k in (1, 3, 5, 7, 9) if k != old.kernel and k <= 2 * min(x.spatial) + 1]
            if x.rank == 2:
                options = [k for k in options if k <= 5]
        if not options:
            return None
        k = int(self.rng.choice(options))
        new = old.model_copy(update={"kernel": k})
        if isinstance(new, Conv) and new.dilation > 1 and k == 1:
            new = new.model_copy(update={"dilation": 1})
        return self.with_body(replace_at(self.arch.body, path, new)), f"kernel {old.kernel} → {k} in {describe(old)}"

    def dilation(self) -> tuple[Arch, str] | None:
        if self.x0.rank == 0:
            return None
        convs = [p for p, n in walk(self.arch.body) if isinstance(n, Conv) and n.kernel > 1]
        items = blocks(self.arch.body)
        res = [i for i, (a, _) in enumerate(segments(self.arch.body)) if isinstance(items[a], Residual)]
        if len(res) >= 2 and self.rng.random() < 0.35 * self.w["stage.dilation_schedule"]:
            return self._schedule(res)
        path = self.pick(convs)
        if path is None:
            return None
        old = get_at(self.arch.body, path)
        assert isinstance(old, Conv)
        span = max(self.shape_in(path).spatial)
        options = [d for d in (1, 2, 4, 8) if d != old.dilation and d * (old.kernel - 1) + 1 <= max(span, 3)]
        if not options:
            return None
        d = int(self.rng.choice(options))
        new = old.model_copy(update={"dilation": d})
        note = f"dilation {old.dilation} → {d} in {describe(old)}"
        return self.with_body(replace_at(self.arch.body, path, new)), note

    def _schedule(self, res: list[int]) -> tuple[Arch, str] | None:
        segs = segments(self.arch.body)
        body = self.arch.body
        for rank_i, i in enumerate(res[:4]):
            path = self.top(segs[i][0])
            span = max(self.shape_in(path).spatial)
            d = 2**rank_i

            def dil(n: Node, d: int = d, span: int = span) -> Node:
                if isinstance(n, Conv) and n.kernel > 1:
                    dd = d
                    while dd > 1 and dd * (n.kernel - 1) + 1 > span:
                        dd //= 2
                    return n.model_copy(update={"dilation": dd})
                return n

            body = replace_at(body, path, map_leaves(get_at(body, path), dil))
        return self.with_body(body), f"dilation schedule 1, 2, 4, 8 over {min(4, len(res))} residual blocks"

    def insert(self, kind: str | None = None) -> tuple[Arch, str] | None:
        segs = segments(self.arch.body)
        if len(segs) >= self.cfg.max_stages * (self.cfg.max_blocks + 2):
            return None
        at = int(self.rng.integers(len(segs) + 1))
        items = blocks(self.arch.body)
        pos = segs[at][0] if at < len(segs) else len(items)
        x = self.seg_in(pos) if pos < len(items) else self.stats.features
        if kind == "attention" and (x.rank == 0 or x.channels < 8):
            return None
        new = self.draw.block(x, 0, kind=kind)
        body = body_from([*items[:pos], new, *items[pos:]])
        where = f"before block {at + 1}" if at < len(segs) else "at the end"
        return self.with_body(body), f"inserted {describe(new)} {where}"

    def remove(self) -> tuple[Arch, str] | None:
        segs = segments(self.arch.body)
        if len(segs) < 2:
            return None
        items = blocks(self.arch.body)
        # Prefer blocks that keep the shape: removing one leaves everything else as it was.
        keep = [i for i, (a, b) in enumerate(segs) if self.seg_in(a) == _out(self, b, items)]
        i = int(self.rng.choice(keep)) if keep and self.rng.random() < 0.8 else int(self.rng.integers(len(segs)))
        a, b = segs[i]
        return self.with_body(body_from(items[:a] + items[b:])), f"removed block {i + 1} ({seg_text(items[a:b])})"

    def residual(self) -> tuple[Arch, str] | None:
        segs = segments(self.arch.body)
        items = blocks(self.arch.body)
        cands = [i for i, (a, _) in enumerate(segs) if not isinstance(items[a], Residual)]
        if not cands:
            return None
        i = int(self.rng.choice(cands))
        a, b = segs[i]
        inner = items[a:b]
        if len(inner) > 1 and isinstance(inner[-1], Act):  # ResNet v1: the activation stays after the sum
            new: list[Node] = [Residual(body=body_from(inner[:-1])), inner[-1]]
        else:
            new = [Residual(body=body_from(inner))]
        return self.with_body(body_from(items[:a] + new + items[b:])), \
            f"added a skip connection around block {i + 1} ({seg_text(inner)})"

    def branch(self) -> tuple[Arch, str] | None:
        segs = segments(self.arch.body)
        items = blocks(self.arch.body)
        cands = [i for i, (a, b) in enumerate(segs) if self.seg_in(a) == _out(self, b, items)]
        if not cands:
            return None
        i = int(self.rng.choice(cands))
        a, b = segs[i]
        x = self.seg_in(a)
        other = self.draw.cell(x, 1)
        new = Branch(merge="add", branches=(body_from(items[a:b]), other))
        return self.with_body(body_from([*items[:a], new, *items[b:]])), \
            f"added a parallel path {describe(other)} beside block {i + 1}"

    def gating(self) -> tuple[Arch, str] | None:
        items = blocks(self.arch.body)
        pointwise = [p for p, n in walk(self.arch.body) if isinstance(n, Linear) or
                     (isinstance(n, Conv) and n.kernel == 1 and not n.depthwise and n.groups == 1)]
        if pointwise and self.rng.random() < 0.4:
            path = self.pick(pointwise)
            assert path is not None
            old = get_at(self.arch.body, path)
            assert isinstance(old, Conv | Linear)
            return self.with_body(replace_at(self.arch.body, path, GLU(out=old.out))), \
                f"made {describe(old)} a gated unit (GLU)"
        segs = segments(self.arch.body)
        i = int(self.rng.integers(len(segs)))
        _, b = segs[i]
        se = SE(reduction=int(self.rng.choice([2, 4, 8])))
        return self.with_body(body_from([*items[:b], se, *items[b:]])), \
            f"added squeeze-excitation gating after block {i + 1}"

    def act(self) -> tuple[Arch, str] | None:
        present = sorted({str(n.kind) for _, n in walk(self.arch.body) if isinstance(n, Act)} |
                         ({str(self.arch.stem.act)} if self.arch.stem.act else set()))
        old = str(self.rng.choice(present)) if present else "relu"
        new = cast(ActKind, self.w.pick(self.rng, "act", [k for k in ACTS if k != old]))
        acts = [p for p, n in walk(self.arch.body) if isinstance(n, Act) and n.kind == old]
        if self.rng.random() < 0.7 or not acts:
            body = map_leaves(self.arch.body, lambda n: Act(kind=new) if isinstance(n, Act) and n.kind == old else n)
            stem = self.arch.stem.model_copy(update={"act": new if self.arch.stem.act == old else self.arch.stem.act})
            head = self.arch.head.model_copy(update={"act": new if self.arch.head.act == old else self.arch.head.act})
            return Arch(stem=stem, body=body, head=head), f"activation {old} → {new} everywhere"
        path = self.pick(acts)
        assert path is not None
        return self.with_body(replace_at(self.arch.body, path, Act(kind=new))), f"one activation {old} → {new}"

    def norm(self) -> tuple[Arch, str] | None:
        norms = [p for p, n in walk(self.arch.body) if isinstance(n, Norm)]
        if not norms or self.rng.random() < 0.15:
            return self._add_norms()
        old_kinds = sorted({str(n.kind) for _, n in walk(self.arch.body) if isinstance(n, Norm)})
        old = str(self.rng.choice(old_kinds))
        new = cast(NormKind, self.w.pick(self.rng, "norm", [k for k in NORMS if k != old]))
        body = map_leaves(self.arch.body, lambda n: Norm(kind=new) if isinstance(n, Norm) and n.kind == old else n)
        return self.with_body(body), f"normalisation {old} → {new} everywhere"

    def _add_norms(self) -> tuple[Arch, str] | None:
        kind = cast(NormKind, self.w.pick(self.rng, "norm", NORMS))
        count = 0

        def go(node: Node) -> Node:
            nonlocal count
            if isinstance(node, Seq):
                out: list[Node] = []
                for i, child in enumerate(node.children):
                    out.append(go(child))
                    nxt = node.children[i + 1] if i + 1 < len(node.children) else None
                    if isinstance(child, Conv | Linear | GLU) and not isinstance(nxt, Norm):
                        out.append(Norm(kind=kind))
                        count += 1
                return Seq(children=tuple(out))
            if isinstance(node, Conv | Linear | GLU):
                return node
            return with_kids(node, tuple(go(c) for c in kids(node)))

        body = go(self.arch.body)
        if not count:
            return None
        return self.with_body(body), f"{kind} norm after every convolution and linear layer ({count} added)"

    def attention(self) -> tuple[Arch, str] | None:
        return self.insert(kind="attention")

    def head(self) -> tuple[Arch, str] | None:
        head = self.arch.head
        if self.stats.features.rank and not self.draw.tokens and self.rng.random() < 0.7:
            pools = [p for p in ("avg", "max", "avgmax", "flatten") if p != head.pool]
            if self.stats.features.channels * math.prod(self.stats.features.spatial) > 2048:
                pools = [p for p in pools if p != "flatten"]
            pool = self.w.pick(self.rng, "head", pools)
            return self.arch.model_copy(update={"head": head.model_copy(update={"pool": pool})}), \
                f"head pooling {head.pool} → {pool}"
        hidden = None if head.hidden else int(self.rng.choice([32, 64, 128]))
        return self.arch.model_copy(update={"head": head.model_copy(update={"hidden": hidden})}), \
            ("removed the head's hidden layer" if hidden is None else f"added a {hidden}-unit hidden layer to the head")


def _kind_of(node: Node) -> str:
    if isinstance(node, Conv):
        return "dwsep" if node.depthwise else "conv"
    return {"glu": "glu", "pool": "pool", "linear": "linear"}.get(node.op, node.op)


def _out(m: Mutator, end: int, items: list[Node]) -> Shape:
    return m.seg_in(end) if end < len(items) else m.stats.features


def _norm(w: list[float]) -> list[float]:
    total = sum(w)
    return [v / total for v in w]

