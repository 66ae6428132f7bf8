"""How a token model's tree is written (an `embed` stem; see causal.py for the rules).

Every operation that reads other positions is written in its causal form, so the logits at
position t depend on tokens <= t only: convolutions and gated units are padded on the left,
pooling reads the current and earlier positions, attention is masked, squeeze-excitation
gates with the running mean of the positions so far, and the recurrence reads left to right.
Norms, activations, point-wise layers and channel routing act at each position alone and
are written as for any other model. The trusted side checks causality anyway
(agentnas/evaluator/causal.py); these forms make the grammar's models pass it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import agentnas.space.grammar as g
from agentnas.space.shapes import Shape, se_hidden


def attention_class(causal: bool) -> str:
    """The self-attention helper, one token per position of a (B, C, *spatial) map; `causal`
    (a token model's, (B, C, T)): masked so that position t attends to positions <= t.

    One text for both, so that a fix to attention reaches token and other models alike. The
    token form reshapes to the traced length `n`, not -1: its exported graph keeps the static
    shapes the encoder reads (with -1 it counted half a token model's multiply-adds)."""
    if causal:
        name = "CausalSelfAttention"
        doc = "Multi-head self-attention over a (B, C, T) sequence; position t attends to positions <= t."
        shape, flat, n, back = "b, c, n = x.shape", "x", "n", ""
        mask = """
                pos = torch.arange(n, device=x.device)
                att = att.masked_fill(pos[None, :] > pos[:, None], float("-inf"))  # no looking ahead"""
    else:
        name = "SelfAttention"
        doc = "Multi-head self-attention with one token per position of a (B, C, *spatial) map."
        shape, flat, n, back, mask = "b, c = x.shape[0], x.shape[1]", "x.flatten(2)", "-1", ".reshape(x.shape)", ""
    return f'''
        class {name}(nn.Module):
            """{doc}"""

            def __init__(self, channels: int, heads: int) -> None:
                super().__init__()
                self.heads, self.head_dim = heads, channels // heads
                self.qkv = nn.Linear(channels, 3 * channels)
                self.proj = nn.Linear(channels, channels)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                {shape}
                {f"t = {flat}.transpose(1, 2)":<65}# (B, T, C)
                q, k, v = self.qkv(t).chunk(3, dim=-1)                           # (B, T, C) each
                q, k, v = (z.reshape(b, {n}, self.heads, self.head_dim).transpose(1, 2) for z in (q, k, v))
                att = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)       # (B, heads, T, T){mask}
                y = att.softmax(dim=-1) @ v                                      # (B, heads, T, C/heads)
                y = self.proj(y.transpose(1, 2).reshape(b, {n}, c))               # (B, T, C)
                return y.transpose(1, 2){back}
    '''


TOKEN_HELPERS: dict[str, str] = {
    "TokenEmbedding": '''
        class TokenEmbedding(nn.Module):
            """Tokens (B, T) -> features (B, C, T): a learned vector per token plus one per position."""

            def __init__(self, vocab_size: int, seq_len: int, width: int) -> None:
                super().__init__()
                self.token = nn.Embedding(vocab_size, width)
                self.position = nn.Embedding(seq_len, width)

            def forward(self, tokens: torch.Tensor) -> torch.Tensor:
                positions = torch.arange(tokens.shape[1], device=tokens.device)
                return (self.token(tokens) + self.position(positions)).transpose(1, 2)
    ''',
    "ChannelsLast": '''
        class ChannelsLast(nn.Module):
            """(B, C, T) -> (B, T, C): the head's linear layers then act at every position alone."""

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x.transpose(1, 2)
    ''',
    "CausalConv1d": '''
        class CausalConv1d(nn.Conv1d):
            """A convolution padded on the left only: position t reads positions <= t."""

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                pad = self.dilation[0] * (self.kernel_size[0] - 1)
                return super().forward(nn.functional.pad(x, (pad, 0)))
    ''',
    "CausalPool1d": '''
        class CausalPool1d(nn.Module):
            """Pooling over the current and the kernel - 1 previous positions (first position repeated)."""

            def __init__(self, kind: str, kernel: int) -> None:
                super().__init__()
                self.kind, self.kernel = kind, kernel

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                x = nn.functional.pad(x, (self.kernel - 1, 0), mode="replicate")
                if self.kind == "max":
                    return nn.functional.max_pool1d(x, self.kernel, stride=1)
                return nn.functional.avg_pool1d(x, self.kernel, stride=1)
    ''',
    "CausalSelfAttention": attention_class(causal=True),
    "CausalSqueezeExcite": '''
        class CausalSqueezeExcite(nn.Module):
            """Re-weight channels at position t by a gate computed from the mean of positions <= t."""

            def __init__(self, channels: int, hidden: int) -> None:
                super().__init__()
                self.fc1 = nn.Linear(channels, hidden)
                self.fc2 = nn.Linear(hidden, channels)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                count = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)
                s = (x.cumsum(-1) / count).transpose(1, 2)                       # (B, T, C) running means
                return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s)))).transpose(1, 2)
    ''',
    "GRUMixer": '''
        class GRUMixer(nn.Module):
            """A GRU over the positions of a (B, C, T) sequence, left to right."""

            def __init__(self, channels: int, hidden: int) -> None:
                super().__init__()
                self.gru = nn.GRU(channels, hidden, batch_first=True)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.gru(x.transpose(1, 2))[0].transpose(1, 2)
    ''',
}


class Lines(Protocol):
    helpers: set[str]

    def add(self, indent: int, code: str, comment: str = "") -> None: ...


def causal_conv(cin: int | str, cout: int, kernel: int, dilation: int = 1, groups: int = 1) -> str:
    args = [str(cin), str(cout), f"kernel_size={kernel}"]
    args += [f"dilation={dilation}"] * (dilation > 1) + [f"groups={groups}"] * (groups > 1)
    return f"CausalConv1d({', '.join(args)})"


def causal_leaf(w: Lines, node: g.Node, x: Shape, y: Shape, ind: int) -> bool:
    """Write the causal form of `node` if it reads other positions; False: it does not (the
    caller writes it as for any model)."""
    C = x.channels
    if isinstance(node, g.Conv) and node.kernel > 1:
        w.helpers.add("CausalConv1d")
        groups = C if node.depthwise else node.groups
        note = "depthwise " * node.depthwise + f"dilation {node.dilation}: " * (node.dilation > 1)
        w.add(ind, causal_conv(C, y.channels, node.kernel, node.dilation, groups) + ",", f"causal {note}{y}")
    elif isinstance(node, g.GLU) and node.kernel > 1:
        w.helpers.add("CausalConv1d")
        w.add(ind, f"nn.Sequential({causal_conv(C, 2 * y.channels, node.kernel)}, nn.GLU(dim=1)),",
              f"causal gated: half gates half {y}")
    elif isinstance(node, g.Pool):
        w.helpers.add("CausalPool1d")
        w.add(ind, f'CausalPool1d("{node.kind}", {node.kernel}),', str(y))
    elif isinstance(node, g.Attention):
        w.helpers.add("CausalSelfAttention")
        w.add(ind, f"CausalSelfAttention({C}, heads={node.heads}),", f"masked {y}")
    elif isinstance(node, g.SE):
        w.helpers.add("CausalSqueezeExcite")
        w.add(ind, f"CausalSqueezeExcite({C}, hidden={se_hidden(C, node.reduction)}),", str(y))
    elif isinstance(node, g.Recur):
        w.helpers.add("GRUMixer")
        w.add(ind, f"GRUMixer({C}, hidden={y.channels}),", f"recurrent {y}")
    else:
        return False
    return True


def token_model(w: Lines, arch: g.Arch, seq_len: int, body: Shape, features: Shape,
                write_body: Callable[[], None]) -> None:
    """`build_model(vocab_size, seq_len)`'s lines: embedding stem, the body (`write_body()`), per-position head."""
    stem, head = arch.stem, arch.head
    w.helpers.update({"TokenEmbedding", "ChannelsLast"})
    w.add(1, "return nn.Sequential(")
    w.add(2, "# stem")
    w.add(2, f"TokenEmbedding(vocab_size, seq_len, {stem.out}),", f"{body} for seq_len={seq_len}")
    if stem.norm is not None:
        w.helpers.add("ChannelLayerNorm")
        w.add(2, f"ChannelLayerNorm({stem.out}),")
    if stem.act is not None:
        w.add(2, ACT[stem.act] + ",")
    w.add(2, "# body")
    write_body()
    w.add(2, "# head: the same layers at every position")
    w.add(2, "ChannelsLast(),", f"({features.spatial[0]}, {features.channels})")
    width = features.channels
    if head.hidden:
        w.add(2, f"nn.Linear({width}, {head.hidden}),", f"({features.spatial[0]}, {head.hidden})")
        w.add(2, ACT[head.act] + ",")
        width = head.hidden
    w.add(2, f"nn.Linear({width}, vocab_size),", f"({features.spatial[0]}, vocab_size) next-token logits")
    w.add(1, ")")


ACT = {"relu": "nn.ReLU()", "gelu": "nn.GELU()", "silu": "nn.SiLU()", "tanh": "nn.Tanh()"}
