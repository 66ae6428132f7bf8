"""Grammar trees → one readable candidate file defining `build_model(input_shape, num_classes)`.

The file reads like nanoGPT: the few small modules the tree uses (residual, branch,
split, attention, ...), then `build_model` returning one `nn.Sequential` written out
layer by layer with the feature shape after each line as a comment. It imports only
torch and math (it runs in the sandbox, which sees nothing of agentnas), and ends with
an `# agentnas-arch:` line carrying the tree's canonical JSON, so a parent's tree can
be read back from its code (`arch_from_source`). Rendering is deterministic: the same
tree and input shape give the same bytes.
"""

from __future__ import annotations

import math
import textwrap

import agentnas.space.grammar as g
from agentnas.space.causal import is_token_arch
from agentnas.space.describe import describe_arch
from agentnas.space.render_tokens import ACT, TOKEN_HELPERS, attention_class, causal_leaf, token_model
from agentnas.space.shapes import (
    ArchStats,
    Shape,
    analyse,
    body_input,
    head_features,
    input_to_shape,
    needs_projection,
    se_hidden,
    split_sizes,
    stem_groups,
    stride_of,
)

_HELPERS: dict[str, str] = {
    "Residual": '''
        class Residual(nn.Module):
            """x + body(x); `proj` (a strided 1x1 convolution) matches the skip path to the body's shape."""

            def __init__(self, body: nn.Module, proj: nn.Module | None = None) -> None:
                super().__init__()
                self.body = body
                self.proj = proj if proj is not None else nn.Identity()

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.proj(x) + self.body(x)
    ''',
    "Branch": '''
        class Branch(nn.Module):
            """Parallel branches on the same input, summed ("add") or stacked along channels ("concat")."""

            def __init__(self, merge: str, *branches: nn.Module) -> None:
                super().__init__()
                self.merge = merge
                self.branches = nn.ModuleList(branches)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                outs = [branch(x) for branch in self.branches]
                if self.merge == "concat":
                    return torch.cat(outs, dim=1)
                y = outs[0]
                for out in outs[1:]:
                    y = y + out
                return y
    ''',
    "Split": '''
        class Split(nn.Module):
            """Channels cut into groups of `sizes`, one sub-network per group, concatenated back."""

            def __init__(self, sizes: list[int], *parts: nn.Module) -> None:
                super().__init__()
                self.sizes = sizes
                self.parts = nn.ModuleList(parts)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                chunks = torch.split(x, self.sizes, dim=1)
                return torch.cat([part(chunk) for part, chunk in zip(self.parts, chunks)], dim=1)
    ''',
    "ChannelShuffle": '''
        class ChannelShuffle(nn.Module):
            """Interleave channel groups so the next grouped layer mixes information across them."""

            def __init__(self, groups: int) -> None:
                super().__init__()
                self.groups = groups

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                b, c = x.shape[0], x.shape[1]
                y = x.reshape(b, self.groups, c // self.groups, *x.shape[2:])  # (B, g, C/g, *spatial)
                return y.transpose(1, 2).reshape(x.shape)
    ''',
    "ChannelLayerNorm": '''
        class ChannelLayerNorm(nn.Module):
            """LayerNorm over the channels at every position of a (B, C, *spatial) map."""

            def __init__(self, channels: int) -> None:
                super().__init__()
                self.norm = nn.LayerNorm(channels)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.norm(x.movedim(1, -1)).movedim(-1, 1)
    ''',
    "SelfAttention": attention_class(causal=False),
    "Recurrent": '''
        class Recurrent(nn.Module):
            """A GRU or LSTM over the positions of a (B, C, *spatial) map, read in order; C channels out."""

            def __init__(self, channels: int, hidden: int, cell: str, bidirectional: bool) -> None:
                super().__init__()
                rnn = nn.GRU if cell == "gru" else nn.LSTM
                self.rnn = rnn(channels, hidden, batch_first=True, bidirectional=bidirectional)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                t = x.flatten(2).transpose(1, 2)                                 # (B, T, C)
                y, _ = self.rnn(t)                                               # (B, T, C)
                return y.transpose(1, 2).reshape(x.shape)
    ''',
    "SqueezeExcite": '''
        class SqueezeExcite(nn.Module):
            """Re-weight channels by a gate computed from their global mean (squeeze-excitation)."""

            def __init__(self, channels: int, hidden: int) -> None:
                super().__init__()
                self.fc1 = nn.Linear(channels, hidden)
                self.fc2 = nn.Linear(hidden, channels)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                s = x.flatten(2).mean(-1) if x.dim() > 2 else x                  # (B, C)
                gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))          # (B, C)
                return x * gate.reshape(gate.shape[0], gate.shape[1], *([1] * (x.dim() - 2)))
    ''',
    "GlobalPool": '''
        class GlobalPool(nn.Module):
            """Pool every position away: (B, C, *spatial) -> (B, C), or (B, 2C) for "avgmax"."""

            def __init__(self, kind: str) -> None:
                super().__init__()
                self.kind = kind

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                x = x.flatten(2)
                if self.kind == "avg":
                    return x.mean(-1)
                if self.kind == "max":
                    return x.amax(-1)
                return torch.cat([x.mean(-1), x.amax(-1)], dim=1)
    ''',
}
_ACT = ACT
_DIMS = {0: "", 1: "1d", 2: "2d"}
_SPATIAL_NAMES = {1: ("length",), 2: ("height", "width")}


class _Writer:
    """Collects (indent, code, comment) lines and the helper classes they use."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str, str]] = []
        self.helpers: set[str] = set()
        self.causal = False  # a token model: operations that read other positions are written causally

    def add(self, indent: int, code: str, comment: str = "") -> None:
        self.lines.append((indent, code, comment))

    def text(self) -> str:
        width = min(76, max((4 * i + len(c) for i, c, m in self.lines if m), default=0) + 2)
        out = []
        for indent, code, comment in self.lines:
            line = " " * (4 * indent) + code
            if comment:
                line = line.ljust(width) + "  " * (len(line) >= width) + f"# {comment}"
            out.append(line.rstrip())
        return "\n".join(out)


def _conv(rank: int, cin: int | str, cout: int, kernel: int, stride: int = 1, dilation: int = 1,
          groups: int = 1) -> str:
    args = [str(cin), str(cout), f"kernel_size={kernel}"]
    args += [f"stride={stride}"] * (stride > 1)
    if kernel > 1:
        args.append(f"padding={dilation * (kernel - 1) // 2}")
    args += [f"dilation={dilation}"] * (dilation > 1) + [f"groups={groups}"] * (groups > 1)
    return f"nn.Conv{_DIMS[rank]}({', '.join(args)})"


def _norm(w: _Writer, kind: str, x: Shape, groups: int) -> str:
    if kind == "batch":
        return f"nn.BatchNorm{_DIMS[x.rank] or '1d'}({x.channels})"
    if kind == "group":
        return f"nn.GroupNorm({groups}, {x.channels})"
    if x.rank == 0:
        return f"nn.LayerNorm({x.channels})"
    w.helpers.add("ChannelLayerNorm")
    return f"ChannelLayerNorm({x.channels})"


def _leaf(w: _Writer, node: g.Node, x: Shape, y: Shape, ind: int) -> None:
    r, C = x.rank, x.channels
    if (w.causal or isinstance(node, g.Recur)) and causal_leaf(w, node, x, y, ind):
        return
    if isinstance(node, g.Conv):
        groups = C if node.depthwise else node.groups
        note = "depthwise " * node.depthwise + f"dilation {node.dilation}: " * (node.dilation > 1)
        w.add(ind, _conv(r, C, y.channels, node.kernel, node.stride, node.dilation, groups) + ",", f"{note}{y}")
    elif isinstance(node, g.Linear):
        code = f"nn.Linear({C}, {y.channels})" if r == 0 else _conv(r, C, y.channels, 1)
        w.add(ind, code + ",", f"point-wise {y}" if r else str(y))
    elif isinstance(node, g.Norm):
        w.add(ind, _norm(w, node.kind, x, node.groups) + ",")
    elif isinstance(node, g.Act):
        w.add(ind, _ACT[node.kind] + ",")
    elif isinstance(node, g.Pool):
        name = {"max": "MaxPool", "avg": "AvgPool"}[node.kind]
        stride = f", stride={node.stride}" if node.stride > 1 else ", stride=1"
        w.add(ind, f"nn.{name}{_DIMS[r]}({node.kernel}{stride}, padding={node.kernel // 2}),", str(y))
    elif isinstance(node, g.Attention):
        w.helpers.add("SelfAttention")
        w.add(ind, f"SelfAttention({C}, heads={node.heads}),", f"{math.prod(x.spatial)} tokens {y}")
    elif isinstance(node, g.Recurrent):
        w.helpers.add("Recurrent")
        w.add(ind, f'Recurrent({C}, hidden={node.hidden(C)}, cell="{node.cell}", '
              f'bidirectional={node.bidirectional}),', f"{math.prod(x.spatial)} steps {y}")
    elif isinstance(node, g.SE):
        w.helpers.add("SqueezeExcite")
        w.add(ind, f"SqueezeExcite({C}, hidden={se_hidden(C, node.reduction)}),", str(y))
    elif isinstance(node, g.GLU):
        inner = f"nn.Linear({C}, {2 * y.channels})" if r == 0 else _conv(r, C, 2 * y.channels, node.kernel)
        w.add(ind, f"nn.Sequential({inner}, nn.GLU(dim=1)),", f"gated: half gates half {y}")
    elif isinstance(node, g.Shuffle):
        w.helpers.add("ChannelShuffle")
        w.add(ind, f"ChannelShuffle({node.groups}),")
    elif isinstance(node, g.Identity):
        w.add(ind, "nn.Identity(),")
    else:  # pragma: no cover - every leaf op is handled above
        raise ValueError(f"cannot render {node.op}")


def _node(w: _Writer, node: g.Node, x: Shape, shapes: dict[tuple[int, ...], tuple[Shape, Shape]],
          path: tuple[int, ...], ind: int) -> None:
    _, y = shapes[path]
    if isinstance(node, g.Seq):
        w.add(ind, "nn.Sequential(")
        for i, child in enumerate(node.children):
            _node(w, child, shapes[(*path, i)][0], shapes, (*path, i), ind + 1)
        w.add(ind, "),", str(y))
    elif isinstance(node, g.Residual):
        w.helpers.add("Residual")
        w.add(ind, "Residual(", f"{x} -> {y}")
        _node(w, node.body, x, shapes, (*path, 0), ind + 1)
        if needs_projection(node, x, y):
            proj = f"nn.Linear({x.channels}, {y.channels})" if x.rank == 0 else \
                _conv(x.rank, x.channels, y.channels, 1, stride_of(node.body))
            w.add(ind + 1, f"proj={proj},", "skip path")
        w.add(ind, "),")
    elif isinstance(node, g.Branch):
        w.helpers.add("Branch")
        w.add(ind, f'Branch("{node.merge}",', f"{len(node.branches)} branches on {x}")
        for i, b in enumerate(node.branches):
            _node(w, b, x, shapes, (*path, i), ind + 1)
        w.add(ind, "),", str(y))
    elif isinstance(node, g.Split):
        w.helpers.add("Split")
        sizes = split_sizes(x.channels, len(node.parts))
        w.add(ind, f"Split({sizes},", f"channels of {x} in {len(sizes)} groups")
        for i, p in enumerate(node.parts):
            _node(w, p, shapes[(*path, i)][0], shapes, (*path, i), ind + 1)
        w.add(ind, "),", str(y))
    else:
        _leaf(w, node, x, y, ind)


def render(arch: g.Arch, input_shape: tuple[int, ...], num_classes: int = 10, *, title: str = "",
           notes: str = "") -> str:
    """The candidate file for `arch`; raises ShapeError when the tree is invalid for `input_shape`.

    `num_classes` only fills the shape comments: the code reads it from build_model's argument.
    """
    arch = g.canonical_arch(arch)
    stats = analyse(arch, input_shape, num_classes, shapes=True)
    x_in = input_to_shape(input_shape)
    w = _Writer()
    body = arch.body.children if isinstance(arch.body, g.Seq) else (arch.body,)

    def write_body() -> None:
        for i, node in enumerate(body):
            path = (i,) if isinstance(arch.body, g.Seq) else ()
            _node(w, node, stats.shapes[path][0], stats.shapes, path, 2)

    if is_token_arch(arch):
        w.causal = True
        token_model(w, arch, x_in.channels, body_input(arch, input_shape), stats.features, write_body)
        return _file(arch, w, stats, title, notes, "build_model(vocab_size: int, seq_len: int)",
                     f"Shape comments are (channels, positions), then (positions, channels) in the head, "
                     f"for seq_len={x_in.channels}, batch left out.")
    stem, rank = arch.stem, x_in.rank
    names = ("in_features",) if rank == 0 else ("in_channels", *_SPATIAL_NAMES[rank])
    kinds = {0: "(features,)", 1: "(channels, length)", 2: "(channels, height, width)"}[rank]
    w.add(1, f"if len(input_shape) != {len(input_shape)}:")
    w.add(2, f'raise ValueError(f"this model takes {kinds} inputs, got {{input_shape}}")')
    unpack = f"({names[0]},)" if len(names) == 1 else ", ".join(names)
    w.add(1, f"{unpack} = input_shape", str(x_in))
    w.add(1, "return nn.Sequential(")
    w.add(2, "# stem")
    h = body_input(arch, input_shape)
    if stem.kind == "dense":
        w.add(2, f"nn.Linear(in_features, {stem.out}),", str(h))
    else:
        cin = "in_channels"
        if stem.kind == "signal":
            w.add(2, "nn.Unflatten(1, (1, in_features)),", f"as a 1-channel signal (1, {x_in.channels})")
            cin = "1"
        w.add(2, _conv(h.rank, cin, stem.out, stem.kernel, stem.stride) + ",", str(h))
    if stem.norm is not None:
        w.add(2, _norm(w, stem.norm, h, stem_groups(stem.out)) + ",")
    if stem.act is not None:
        w.add(2, _ACT[stem.act] + ",")
    w.add(2, "# body")
    write_body()
    w.add(2, "# head")
    y, head = stats.features, arch.head
    f = head_features(head, y)
    if y.rank == 0:
        features = str(f)
    elif head.pool == "flatten":
        s = stride_of(arch.body) * (stem.stride if stem.kind != "dense" else 1)
        dims = names[1:] if stem.kind != "signal" else ("in_features",)
        sizes = " * ".join(d if s == 1 else f"math.ceil({d} / {s})" for d in dims)
        features = f"{y.channels} * {sizes}"
        w.add(2, "nn.Flatten(),", f"({f},)")
    else:
        w.helpers.add("GlobalPool")
        w.add(2, f'GlobalPool("{head.pool}"),', f"({f},)")
        features = str(f)
    if head.hidden:
        w.add(2, f"nn.Linear({features}, {head.hidden}),", f"({head.hidden},)")
        w.add(2, _ACT[head.act] + ",")
        features = str(head.hidden)
    w.add(2, f"nn.Linear({features}, num_classes),", f"({num_classes},) logits")
    w.add(1, ")")

    return _file(arch, w, stats, title, notes, "build_model(input_shape: tuple[int, ...], num_classes: int)",
                 f"Shape comments are (channels, *positions) for input_shape={tuple(input_shape)}, batch left out.")


def _file(arch: g.Arch, w: _Writer, stats: ArchStats, title: str, notes: str, signature: str, shapes: str) -> str:
    summary = title or describe_arch(arch, limit=100)
    doc = [summary, ""]
    if notes:
        doc += textwrap.wrap(notes, 88) + [""]
    doc += [f"Generated by agentnas's offline proposer: {stats.params:,} parameters,",
            f"about {stats.macs:,} multiply-adds per example.", shapes]
    known = {**_HELPERS, **TOKEN_HELPERS}
    helpers = "\n\n\n".join(textwrap.dedent(known[name]).strip() for name in known if name in w.helpers)
    parts = [
        '"""' + "\n".join(doc).replace('"""', "'''") + '\n"""',
        "import math\n\nimport torch\nfrom torch import nn",
        *([helpers] if helpers else []),
        f"def {signature} -> nn.Module:\n" + w.text(),
        g.ARCH_MARKER + g.arch_json(arch),
    ]
    return "\n\n\n".join(parts) + "\n"
