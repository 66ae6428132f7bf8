"""The run's tree as inline SVG: hypotheses -> architectures along parent links, left to right.

Layout (a layered "tidy" tree): the column is the depth (hypotheses in column 0, a fresh
sample in column 1, its mutations further right); every leaf gets its own row, in journal
order, and a parent sits level with its first child. One row per leaf keeps ~200
nodes readable in a scrolling box with each node's label beside it; no crossing edges.

Every architecture node is one `<g class="node ...">` element (hypotheses are
`<g class="hyp">`), with a `<title>` tooltip and a link to its leaderboard entry when it has one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from matplotlib import colormaps
from matplotlib.colors import to_hex

from agentnas.journal.tree import ArchNode, HypothesisNode
from agentnas.report.data import RunData
from agentnas.report.view import esc

ROW = 16  # px per leaf row
COL0 = 300  # the hypothesis column (room for its label)
COL = 170  # px per architecture column
PAD = 12
LABEL = 32  # max characters of a hypothesis label (the full text is in the tooltip)
UNKNOWN = "?"  # nodes whose hypothesis row is missing hang under this one


@dataclass(frozen=True)
class Scale:
    """Validation accuracy -> colour (viridis over the run's own range)."""

    lo: float
    hi: float

    def colour(self, value: float) -> str:
        t = 0.5 if self.hi <= self.lo else (value - self.lo) / (self.hi - self.lo)
        return str(to_hex(colormaps["viridis"](min(max(t, 0.0), 1.0))))


@dataclass(frozen=True)
class TreeSvg:
    svg: str
    nodes: int
    hypotheses: int
    scale: Scale | None


def kind_of(node: ArchNode, low: float | None) -> str:
    """The drawing class: trained | short | predicted | failed | eval_failed | duplicate | other."""
    if node.trained:
        return "trained"
    if node.status == "eval_failed" or (node.experiment is not None and node.experiment.get("status") != "ok"):
        return "eval_failed"
    if low is not None:
        return "short"
    if node.status == "failed":
        return "failed"
    if node.status == "duplicate":
        return "duplicate"
    if node.predicted_only:
        return "predicted"
    return "other"


def _children(data: RunData) -> tuple[list[str], dict[str, list[str]]]:
    """Roots (hypothesis ids, in order) and each key's children, by parent link, in journal order.
    A parent link counts only to a node written earlier, so a damaged journal cannot make a cycle."""
    tree = data.tree
    roots = list(tree.hypotheses)
    kids: dict[str, list[str]] = {h: [] for h in roots}
    seen: set[str] = set()
    for node in tree.nodes.values():
        kids.setdefault(node.id, [])
        if node.parent_id is not None and node.parent_id in seen:
            kids[node.parent_id].append(node.id)
        else:
            hyp = node.hypothesis_id if node.hypothesis_id in tree.hypotheses else UNKNOWN
            if hyp == UNKNOWN and UNKNOWN not in kids:
                roots.append(UNKNOWN)
                kids[UNKNOWN] = []
            kids[hyp].append(node.id)
        seen.add(node.id)
    return roots, kids


def _layout(roots: list[str], kids: dict[str, list[str]]) -> dict[str, tuple[int, float]]:
    """key -> (depth, row): leaves take the next row, a parent its first child's row.
    Iterative post-order, so a long chain of mutations cannot hit Python's recursion limit."""
    pos: dict[str, tuple[int, float]] = {}
    next_row = 0
    for root in roots:
        stack: list[tuple[str, int, bool]] = [(root, 0, False)]
        while stack:
            key, depth, expanded = stack.pop()
            children = kids.get(key, [])
            if not expanded and children:
                stack.append((key, depth, True))
                stack.extend((c, depth + 1, False) for c in reversed(children))
                continue
            if children:  # level with its first child: a tall subtree's root stays in view at its top
                row = pos[children[0]][1]
            else:
                row, next_row = float(next_row), next_row + 1
            pos[key] = (depth, row)
        next_row += 1  # a blank row between hypotheses keeps their trunks apart
    return pos


def _xy(depth: int, row: float) -> tuple[float, float]:
    x = PAD + 8 if depth == 0 else PAD + COL0 + (depth - 1) * COL
    return x, PAD + ROW / 2 + row * ROW


def _shape(kind: str, colour: str | None) -> str:
    if kind == "trained":
        return f'<circle r="6" fill="{colour}" stroke="#222" stroke-width="0.8"/>'
    if kind == "short":
        return f'<circle r="5" fill="#fff" stroke="{colour}" stroke-width="2.5"/>'
    if kind == "predicted":
        return '<circle r="5" fill="#fff" stroke="#888" stroke-width="1.2" stroke-dasharray="2 2"/>'
    if kind == "failed":
        return '<path d="M-5 -5 L5 5 M-5 5 L5 -5" stroke="#c62828" stroke-width="2.2"/>'
    if kind == "eval_failed":
        return ('<rect x="-6" y="-6" width="12" height="12" fill="#c62828"/>'
                '<path d="M-3.5 -3.5 L3.5 3.5 M-3.5 3.5 L3.5 -3.5" stroke="#fff" stroke-width="1.6"/>')
    if kind == "duplicate":
        return '<circle r="3" fill="#bbb"/>'
    return '<circle r="4" fill="#ddd" stroke="#999"/>'


def _title(node: ArchNode, kind: str, data: RunData) -> str:
    p = data.payloads.get(node.id, {})
    bits = [f"{node.id} ({kind}, {node.operator})"]
    if node.trained:
        name = "" if data.tree.metric.name == "accuracy" else f" {data.tree.metric.name}"
        bits.append(f"val{name} {node.val_score or 0.0:.4f} · test {node.test_score or 0.0:.4f}")
    if node.id in data.low_val:
        bits.append(f"short run val {data.low_val[node.id]:.4f}")
    if node.predicted_only and node.mean is not None:
        bits.append(f"predicted {node.mean:.3f} ± {node.std or 0.0:.3f}")
    if node.params:
        bits.append(f"{node.params:,} params")
    failure = p.get("failure_kind") or (node.experiment or {}).get("failure_kind")
    if failure:
        bits.append(f"failure: {failure}")
    if node.description:
        bits.append(node.description[:300])
    return esc("\n".join(bits))


def _label(node: ArchNode, kind: str, data: RunData) -> str:
    def shown(v: float) -> str:  # accuracy as a percentage, another metric (a loss) as it is
        return f"{100 * v:.1f}%" if data.tree.metric.name == "accuracy" else f"{v:.3f}"

    if node.trained:
        return f"{node.id} {shown(node.val_score or 0.0)}"
    if kind == "short":
        return f"{node.id} ({shown(data.low_val[node.id])} short)"
    return node.id


def _hyp_label(h: HypothesisNode | None, key: str) -> tuple[str, str, int]:
    """(full text, shown text, box width in px) of a hypothesis box."""
    text = h.text if h is not None else "(nodes whose hypothesis is not in the journal)"
    short = text if len(text) <= LABEL else text[: LABEL - 1] + "…"
    return text, short, min(COL0 - 40, int((len(key) + 1 + len(short)) * 6.6) + 10)


def render_tree(data: RunData, linked: Collection[str] = ()) -> TreeSvg:
    """The SVG of the run's tree; nodes in `linked` link to `#m-<id>` (their leaderboard entry)."""
    tree = data.tree
    roots, kids = _children(data)
    pos = _layout(roots, kids)
    # colours by utility (the score itself when higher is better): the best is always the same end
    vals = [tree.metric.utility(n.val_score) for n in tree.nodes.values() if n.val_score is not None]
    vals += [tree.metric.utility(v) for v in data.low_val.values()]
    scale = Scale(min(vals), max(vals)) if vals else None
    best = tree.best()
    rows = max((r for _, r in pos.values()), default=0.0) + 1.5
    depth = max((d for d, _ in pos.values()), default=0)
    width = PAD * 2 + COL0 + max(depth, 1) * COL + 30
    height = int(PAD * 2 + rows * ROW)
    edges: list[str] = []
    parts: list[str] = []
    labels = {key: _hyp_label(tree.hypotheses.get(key), key) for key in roots}
    texts = {n.id: _label(n, kind_of(n, data.low_val.get(n.id)), data) for n in tree.nodes.values()}
    ends = {k: 10 + len(t) * 6.2 + 4 for k, t in texts.items()}
    for parent, children in kids.items():
        placed = [pos[c] for c in children if c in pos]
        if parent not in pos or not placed:
            continue
        # elbows: from the end of the parent's label along its row to a trunk just left of the
        # children's column, down the trunk, and across to each child; subtrees hold contiguous
        # rows, so no two edges cross and no edge crosses text
        px, py = _xy(*pos[parent])
        trunk = _xy(pos[parent][0] + 1, 0)[0] - 16
        start = px + (labels[parent][2] - 4 if parent in labels else ends.get(parent, 7.0))
        path = [f"M{min(start, trunk - 2):.0f} {py:.1f} H{trunk:.0f}",
                f"M{trunk:.0f} {py:.1f} V{_xy(*placed[-1])[1]:.1f}"]
        path += [f"M{trunk:.0f} {_xy(*p)[1]:.1f} H{_xy(*p)[0] - 7:.0f}" for p in placed]
        edges.append(f'<path class="edge" d="{" ".join(path)}"/>')
    for key in roots:
        if key not in pos:
            continue
        x, y = _xy(*pos[key])
        text, short, w = labels[key]
        parts.append(f'<g class="hyp" data-id="{esc(key)}" transform="translate({x:.0f},{y:.1f})">'
                     f'<title>{esc(key)}: {esc(text)}</title>'
                     f'<rect x="-4" y="-8" width="{w}" height="16" rx="4" fill="#eef2f8" stroke="#8aa0c0"/>'
                     f'<text x="2" y="4" class="hl">{esc(key)} {esc(short)}</text></g>')
    for node in tree.nodes.values():
        if node.id not in pos:
            continue
        x, y = _xy(*pos[node.id])
        kind = kind_of(node, data.low_val.get(node.id))
        score = node.val_score if node.trained else data.low_val.get(node.id)
        value = None if score is None else tree.metric.utility(score)
        colour = scale.colour(value) if scale is not None and value is not None else None
        ring = '<circle r="9.5" fill="none" stroke="#d4a017" stroke-width="2.5"/>' if best is node else ""
        body = (f'<title>{_title(node, kind, data)}</title>{ring}{_shape(kind, colour)}'
                f'<text x="10" y="4">{esc(texts[node.id])}</text>')
        if node.id in linked:
            body = f'<a href="#m-{esc(node.id)}">{body}</a>'
        parts.append(f'<g class="node {kind}" data-id="{esc(node.id)}" data-status="{esc(node.status)}" '
                     f'transform="translate({x:.0f},{y:.1f})">{body}</g>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" class="tree" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="search tree">'
           f'<style>.edge{{fill:none;stroke:#b0b8c4;stroke-width:1}} text{{font:11px sans-serif;fill:#222}} '
           f'.hl{{font-weight:600}}</style>'
           f'<g class="edges">{"".join(edges)}</g>{"".join(parts)}</svg>')
    return TreeSvg(svg=svg, nodes=sum(1 for n in tree.nodes if n in pos), hypotheses=len(roots), scale=scale)


def legend_svg(scale: Scale | None) -> str:
    """Shapes and the colour ramp, as a small SVG."""
    items = [("trained", "trained (colour: validation accuracy)"), ("short", "short run only (low fidelity)"),
             ("predicted", "predicted only (value model, never trained)"), ("failed", "failed its checks"),
             ("eval_failed", "failed in training"), ("duplicate", "duplicate")]
    parts = []
    mid = scale.colour((scale.lo + scale.hi) / 2) if scale is not None else "#888"
    for i, (kind, text) in enumerate(items):
        x = 10 + (i % 3) * 250
        y = 14 + (i // 3) * 22
        parts.append(f'<g transform="translate({x},{y})">{_shape(kind, mid)}<text x="12" y="4">{esc(text)}</text></g>')
    parts.append('<g transform="translate(10,58)"><circle r="9.5" fill="none" stroke="#d4a017" stroke-width="2.5"/>'
                 '<text x="14" y="4">best by validation</text></g>')
    if scale is not None:
        ramp = [scale.colour(scale.lo + (scale.hi - scale.lo) * t / 10) for t in range(11)]
        stops = "".join(f'<stop offset="{t / 10:.1f}" stop-color="{c}"/>' for t, c in enumerate(ramp))
        parts.append(f'<defs><linearGradient id="ramp">{stops}</linearGradient></defs>'
                     f'<text x="260" y="62">{100 * scale.lo:.1f}%</text>'
                     f'<rect x="305" y="52" width="200" height="12" fill="url(#ramp)"/>'
                     f'<text x="512" y="62">{100 * scale.hi:.1f}%</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="legend" width="780" height="76" viewBox="0 0 780 76">'
            f'<style>text{{font:12px sans-serif;fill:#222}}</style>{"".join(parts)}</svg>')
