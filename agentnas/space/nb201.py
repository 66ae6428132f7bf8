"""NAS-Bench-201 architecture strings → candidate source code.

A NAS-Bench-201 cell is a 4-node DAG (node 0 = cell input, node 3 = cell output); every
edge j → i carries one of five ops and a node sums its incoming edges. `nb201_source`
writes the whole benchmark network (the skeleton of the NB201 paper around 15 copies of
the cell) as one readable candidate file, so its ONNX graph can be encoded like any
other candidate's.

The cell's forward is written out edge by edge rather than interpreted from the string,
so the traced graph holds only computation that can change the output:
- a `none` edge adds zero, so it is left out;
- a node whose every input is `none` is the zero tensor; `skip_connect` and
  `avg_pool_3x3` of zeros are zeros, so such edges are left out as well;
- ops feeding a node that never reaches node 3 are not built at all.
A conv edge reading a zero node is kept: ReLU → Conv → BN of zeros is BN's learned
shift, a constant the network can use. Left-out ops have no effect on the output in
the NB201 reference implementation either (its Zero op multiplies by 0), but that
implementation still builds them, so for cells with dead nodes the NB201 API's
parameter count is higher than ours by the weights of those unused convs.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_NUM_NODES = 4  # node 0 is the cell input, node 3 the cell output
_CONVS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
_ZERO_PRESERVING = frozenset({"skip_connect", "avg_pool_3x3"})  # f(0) == 0, so an edge from a zero node adds nothing


@dataclass(frozen=True)
class Nb201Edge:
    op: str
    source: int  # the node the edge reads from


@dataclass(frozen=True)
class Nb201Cell:
    """A parsed NB201 cell: `nodes[i - 1]` holds node i's incoming edges, ordered by source."""

    nodes: tuple[tuple[Nb201Edge, ...], ...]

    @property
    def arch(self) -> str:
        """The canonical architecture string."""
        return "+".join("|" + "|".join(f"{e.op}~{e.source}" for e in edges) + "|" for edges in self.nodes)


def parse_nb201(arch: str) -> Nb201Cell:
    """Parse `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`; raise ValueError saying what is wrong."""
    if not isinstance(arch, str):
        raise ValueError(f"NB201 architecture must be a string, got {type(arch).__name__}")
    expected = "expected the form |op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
    parts = arch.strip().split("+")
    if len(parts) != _NUM_NODES - 1:
        raise ValueError(f"NB201 architecture {arch!r} has {len(parts)} node group(s), not 3; {expected}")
    nodes: list[tuple[Nb201Edge, ...]] = []
    for node, part in enumerate(parts, start=1):
        if len(part) < 2 or not (part.startswith("|") and part.endswith("|")):
            raise ValueError(f"NB201 node {node} group {part!r} in {arch!r} must start and end with '|'; {expected}")
        tokens = part[1:-1].split("|")
        if len(tokens) != node:
            raise ValueError(f"NB201 node {node} needs {node} incoming edge(s), got {len(tokens)} in {part!r}")
        edges = []
        for source, token in enumerate(tokens):
            op, sep, src = token.partition("~")
            if not sep:
                raise ValueError(f"NB201 edge {token!r} in {arch!r} is not of the form op~source")
            if op not in NB201_OPS:
                raise ValueError(f"unknown NB201 op {op!r} in {arch!r}; known ops: {', '.join(NB201_OPS)}")
            if src != str(source):
                raise ValueError(
                    f"NB201 edge {token!r} of node {node} must read from node {source} (edges are listed by source)"
                )
            edges.append(Nb201Edge(op, source))
        nodes.append(tuple(edges))
    return Nb201Cell(tuple(nodes))


@dataclass(frozen=True)
class _Plan:
    """What the generated cell computes: per node, the edges worth computing; which nodes are needed."""

    kept: tuple[tuple[Nb201Edge, ...], ...]  # kept[i - 1]: the edges into node i that can change the output
    zero: tuple[bool, ...]  # zero[i]: node i is identically zero
    live: tuple[bool, ...]  # live[i]: node i is read on the way to node 3


def _plan(cell: Nb201Cell) -> _Plan:
    zero = [False]
    kept: list[tuple[Nb201Edge, ...]] = []
    for edges in cell.nodes:
        useful = tuple(
            e for e in edges if e.op != "none" and not (zero[e.source] and e.op in _ZERO_PRESERVING)
        )
        kept.append(useful)
        zero.append(not useful)
    live = [False] * (_NUM_NODES - 1) + [True]
    for node in range(_NUM_NODES - 1, 0, -1):  # backwards: a node is needed if a needed node reads it
        if live[node]:
            for e in kept[node - 1]:
                live[e.source] = True
    return _Plan(tuple(kept), tuple(zero), tuple(live))


def _edge_call(e: Nb201Edge, node: int) -> str:
    return f"x{e.source}" if e.op == "skip_connect" else f"self.edge_{node}_{e.source}(x{e.source})"


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=88, initial_indent="    ", subsequent_indent="    ")


def _cell_source(cell: Nb201Cell) -> str:
    plan = _plan(cell)
    doc = [f"    node {i} = " + " + ".join(f"{e.op}(x{e.source})" for e in edges) for i, edges in
           enumerate(cell.nodes, start=1)]
    init: list[str] = []
    body: list[str] = []
    for node in range(1, _NUM_NODES):
        if not plan.live[node]:
            body.append(f"        # node {node} never reaches the output: not computed")
            continue
        edges = plan.kept[node - 1]
        if not edges:
            # NB201's own Zero op is x.mul(0.); a Mul keeps the graph free of the traced batch
            # size, where zeros_like would be exported as a constant of that shape.
            body.append(f"        x{node}: torch.Tensor = x0 * 0.0  # every input of node {node} is zero")
            continue
        for e in edges:
            if e.op in _CONVS:
                init.append(f"        self.edge_{node}_{e.source} = relu_conv_bn(channels, channels, {_CONVS[e.op]})")
            elif e.op == "avg_pool_3x3":
                init.append(f"        self.edge_{node}_{e.source} = avg_pool_3x3()")
        body.append(f"        x{node}: torch.Tensor = " + " + ".join(_edge_call(e, node) for e in edges))
    dropped = [f"{e.op}(x{e.source}) into node {i}" for i, edges in enumerate(cell.nodes, start=1)
               for e in edges if e.op != "none" and (e not in plan.kept[i - 1] or not plan.live[i])]
    lines = [
        "class Cell(nn.Module):",
        '    """The searched cell; every node keeps the input shape (B, C, H, W).',
        "",
        *doc,
        "",
        *_wrap("`none` edges add zero and are not written out"
               + (f"; nor are these, which cannot change the output: {', '.join(dropped)}." if dropped else ".")),
        '    """',
        "",
        "    def __init__(self, channels: int) -> None:",
        "        super().__init__()",
        *init,
        "",
        "    def forward(self, x0: torch.Tensor) -> torch.Tensor:",
        *body,
        "        return x3",
    ]
    return "\n".join(lines) + "\n"


_HEADER = '''\
"""NAS-Bench-201 network for the cell

    {arch}

Generated by agentnas.space.nb201. The skeleton is the NB201 paper's: a 3x3 conv stem
with 16 channels and BatchNorm, three stages of 5 cells at 16, 32 and 64 channels with a
residual reduction block between stages, then BatchNorm, ReLU, global average pooling and
a linear classifier.
"""

from __future__ import annotations

import torch
from torch import nn

ARCH = "{arch}"
CHANNELS = 16  # stage 1 width; stages 2 and 3 double it
CELLS_PER_STAGE = 5


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """NB201's ReLUConvBN. The ReLU is not in place: the same node feeds several edges."""
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


def avg_pool_3x3() -> nn.AvgPool2d:
    # As in NB201, border windows average only the pixels inside the image.
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


'''

_SKELETON = '''

class ResidualReduction(nn.Module):
    """Between stages: NB201's ResNet basic block with stride 2 (H, W halve; c_in -> c_out).

    Main path ReLU-Conv3x3(stride 2)-BN then ReLU-Conv3x3-BN; shortcut AvgPool(2) then a
    1x1 conv with no BN; the block returns their sum (no ReLU after the sum).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, 3, stride=2)
        self.conv_b = relu_conv_bn(c_out, c_out, 3)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(c_in, c_out, kernel_size=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.shortcut(x) + self.conv_b(self.conv_a(x))
        return out


class NB201Network(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"NB201 network expects (channels, height, width) inputs, got {input_shape}")
        in_ch, height, width = input_shape
        if height % 4 or width % 4:
            # the two reductions halve H and W twice; the conv and pooling paths disagree on odd sizes
            raise ValueError(f"NB201 network needs height and width divisible by 4, got {input_shape}")
        widths = (CHANNELS, 2 * CHANNELS, 4 * CHANNELS)
        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, CHANNELS, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(CHANNELS),
        )
        layers: list[nn.Module] = []
        for stage, width_ in enumerate(widths):
            if stage > 0:
                layers.append(ResidualReduction(widths[stage - 1], width_))
            layers.extend(Cell(width_) for _ in range(CELLS_PER_STAGE))
        self.cells = nn.Sequential(*layers)
        self.last = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)              # (B, 16, 32, 32)   for x of (B, 3, 32, 32)
        h = self.cells(h)             # (B, 64, 8, 8)     after stages at 32x32, 16x16, 8x8
        h = self.last(h)              # (B, 64, 8, 8)
        h = self.pool(h).flatten(1)   # (B, 64)
        logits: torch.Tensor = self.classifier(h)   # (B, num_classes)
        return logits


def build_model(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return NB201Network(input_shape, num_classes)
'''


def nb201_computed(arch: str) -> str:
    """The architecture string of what the generated network computes: every edge that
    `nb201_source` leaves out (see the module docstring) shown as `none`.

    Two cells with the same computed string get the same model code apart from the
    docstrings and ARCH, hence the same seeded weights, graph and encoding: an encoder can
    build one of them and reuse the result for all (15,625 cells, 10,405 computed networks).
    """
    cell = parse_nb201(arch)
    plan = _plan(cell)
    nodes = tuple(
        tuple(e if plan.live[i] and e in plan.kept[i - 1] else Nb201Edge("none", e.source) for e in edges)
        for i, edges in enumerate(cell.nodes, start=1)
    )
    return Nb201Cell(nodes).arch


def nb201_source(arch: str) -> str:
    """A self-contained candidate file (imports only torch) for the NB201 network of `arch`.

    Deterministic: the same cell gives the same text, whatever spacing `arch` came with.
    """
    cell = parse_nb201(arch)
    header = _HEADER.replace("{arch}", cell.arch)
    return header + _cell_source(cell) + _SKELETON
