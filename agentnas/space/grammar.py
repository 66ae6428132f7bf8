"""The architecture grammar: trees of fundamental operations, in the spirit of einspace.

An architecture (`Arch`) is a stem that adapts the task's input, a body tree, and a head
(global pooling or flatten, then linear layers to the classes). The body is built from

- sequential composition: `Seq(children)`;
- branching: `Branch(merge, branches)`: every branch reads the same input, outputs are
  added (`add`) or concatenated along channels (`concat`);
- routing: `Residual(body)` (a skip path, projected when the body changes the shape),
  `Split(parts)` (channels chunked into groups, one sub-tree each, concatenated back),
  `Shuffle(groups)` (channel permutation, as after grouped convolutions), `Identity`;
- computation: `Conv` (kernel, stride, dilation, groups, depthwise), `Linear`
  (point-wise: a 1x1 convolution on feature maps), `Norm` (batch, layer, group), `Act`
  (relu, gelu, silu, tanh), `Pool` (avg, max; global pooling lives in the head),
  `Attention` (multi-head self-attention over the positions), `SE` (squeeze-excitation
  gating), `GLU` (gated linear unit), `Recur` (the token models' GRU over a sequence) and
  `Recurrent` (a GRU or LSTM, optionally bidirectional, reading the positions of any map in
  order; off in the sampler's default weights).

Nodes store only what they decide: a convolution's input channels come from the shape
inference (`agentnas.space.shapes`), so any sequence of nodes is channel-consistent by
construction and crossover needs little repair. `out=None` keeps the channel count.

Trees are frozen pydantic records. `canonical` normalises equivalent spellings (nested
sequences, single-child containers, order of added branches), so the same architecture
always gives the same JSON (`arch_json`) and the same hash (`arch_hash`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

GRAMMAR_VERSION = 1

ActKind = Literal["relu", "gelu", "silu", "tanh"]
NormKind = Literal["batch", "layer", "group"]
PoolKind = Literal["avg", "max"]
MergeKind = Literal["add", "concat"]
HeadPool = Literal["avg", "max", "avgmax", "flatten", "token"]

ACTS: tuple[ActKind, ...] = ("relu", "gelu", "silu", "tanh")
NORMS: tuple[NormKind, ...] = ("batch", "layer", "group")
KERNELS: tuple[int, ...] = (1, 3, 5, 7, 9)

Width = Annotated[int, Field(ge=1, le=4096)]


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _odd_kernel(k: int) -> int:
    # Odd kernels with "same" padding map a length L to ceil(L / stride) for every dilation,
    # which keeps every spatial rule of the grammar one formula (see shapes.py).
    if k % 2 == 0:
        raise ValueError(f"kernel sizes must be odd, got {k}")
    return k


class Conv(_Node):
    """A convolution with 'same' padding; `stride` 2 halves each spatial size (rounded up)."""

    op: Literal["conv"] = "conv"
    out: Width | None = None
    kernel: int = Field(default=3, ge=1, le=15)
    stride: int = Field(default=1, ge=1, le=2)
    dilation: int = Field(default=1, ge=1, le=32)
    groups: int = Field(default=1, ge=1, le=256)
    depthwise: bool = False  # one filter per channel: keeps the channel count, `out` unused

    _kernel = field_validator("kernel")(_odd_kernel)


class Linear(_Node):
    """A point-wise linear map of the channels (a 1x1 convolution on feature maps)."""

    op: Literal["linear"] = "linear"
    out: Width | None = None


class Norm(_Node):
    op: Literal["norm"] = "norm"
    kind: NormKind = "batch"
    groups: int = Field(default=8, ge=1, le=256)  # group norm only


class Act(_Node):
    op: Literal["act"] = "act"
    kind: ActKind = "relu"


class Pool(_Node):
    """Local pooling with 'same' padding; stride 2 halves each spatial size (rounded up)."""

    op: Literal["pool"] = "pool"
    kind: PoolKind = "max"
    kernel: int = Field(default=3, ge=3, le=7)
    stride: int = Field(default=2, ge=1, le=2)

    _kernel = field_validator("kernel")(_odd_kernel)


class Attention(_Node):
    """Multi-head self-attention over the positions (tokens = spatial positions)."""

    op: Literal["attention"] = "attention"
    heads: int = Field(default=4, ge=1, le=16)


class SE(_Node):
    """Squeeze-excitation: channels re-weighted by a gate computed from their global mean."""

    op: Literal["se"] = "se"
    reduction: int = Field(default=4, ge=1, le=64)


class GLU(_Node):
    """Gated linear unit: a convolution to 2*out channels, one half gating the other."""

    op: Literal["glu"] = "glu"
    out: Width | None = None
    kernel: int = Field(default=1, ge=1, le=15)

    _kernel = field_validator("kernel")(_odd_kernel)


class Recur(_Node):
    """A gated recurrence (GRU) over the positions of a (C, L) sequence: position t reads only
    positions <= t, so token models may use it freely."""

    op: Literal["recur"] = "recur"
    out: Width | None = None


class Recurrent(_Node):
    """A GRU or LSTM over the positions (row-major for images); keeps the channel count, a
    bidirectional one with half the channels per direction. Apart from `Recur` so that adding
    it left every stored tree's canonical JSON, hence its hash, as it was."""

    op: Literal["recurrent"] = "recurrent"
    cell: Literal["gru", "lstm"] = "gru"
    bidirectional: bool = False

    def hidden(self, channels: int) -> int:
        """Hidden units per direction: the directions' outputs are concatenated back to `channels`."""
        return channels // 2 if self.bidirectional else channels


class Shuffle(_Node):
    op: Literal["shuffle"] = "shuffle"
    groups: int = Field(default=2, ge=2, le=64)


class Identity(_Node):
    op: Literal["identity"] = "identity"


class Seq(_Node):
    op: Literal["seq"] = "seq"
    children: tuple[Node, ...] = Field(min_length=1, max_length=512)


class Branch(_Node):
    op: Literal["branch"] = "branch"
    merge: MergeKind = "add"
    branches: tuple[Node, ...] = Field(min_length=1, max_length=8)


class Residual(_Node):
    op: Literal["residual"] = "residual"
    body: Node


class Split(_Node):
    op: Literal["split"] = "split"
    parts: tuple[Node, ...] = Field(min_length=1, max_length=8)


Node = Annotated[
    Conv | Linear | Norm | Act | Pool | Attention | SE | GLU | Recur | Recurrent | Shuffle | Identity | Seq | Branch
    | Residual | Split,
    Field(discriminator="op"),
]
LEAF_OPS = frozenset({"conv", "linear", "norm", "act", "pool", "attention", "se", "glu", "recur", "recurrent",
                      "shuffle", "identity"})
# the ones worth swapping
COMPUTE_OPS = frozenset({"conv", "linear", "pool", "attention", "se", "glu", "recur", "recurrent"})

for _model in (Seq, Branch, Residual, Split):
    _model.model_rebuild()


class Stem(_Node):
    """Adapts the input: `conv` for (C, L) and (C, H, W) inputs; `dense` (a linear layer) or
    `signal` (the vector read as a 1-channel signal, then a convolution) for (D,) inputs;
    `embed` for token models (tokens (T,) -> a learned vector per token and per position, (C, T)).
    An `embed` stem makes the whole tree a causal token model (see `agentnas.space.causal`)."""

    kind: Literal["conv", "dense", "signal", "embed"] = "conv"
    out: Width = 32
    kernel: int = Field(default=3, ge=1, le=15)
    stride: int = Field(default=1, ge=1, le=2)
    norm: NormKind | None = "batch"
    act: ActKind | None = "relu"

    _kernel = field_validator("kernel")(_odd_kernel)


class Head(_Node):
    """Global pooling (or flatten) of the features, an optional hidden layer, then the classes;
    `token`: no pooling, the layers act at every position alone (a token model's next-token logits)."""

    pool: HeadPool = "avg"
    hidden: Width | None = None
    act: ActKind = "relu"


class Arch(_Node):
    """One architecture: stem, body tree, head. Canonical JSON and hash via `arch_json` / `arch_hash`."""

    version: int = GRAMMAR_VERSION
    stem: Stem = Stem()
    body: Node = Identity()
    head: Head = Head()


# --------------------------------------------------------------------------- traversal

Path = tuple[int, ...]


def kids(node: Node) -> tuple[Node, ...]:
    """The direct sub-trees of a node, in order (empty for leaves)."""
    if isinstance(node, Seq):
        return node.children
    if isinstance(node, Branch):
        return node.branches
    if isinstance(node, Split):
        return node.parts
    if isinstance(node, Residual):
        return (node.body,)
    return ()


def with_kids(node: Node, new: tuple[Node, ...]) -> Node:
    """The same node with its sub-trees replaced (validated: an empty container is refused)."""
    if isinstance(node, Seq):
        return Seq(children=new)
    if isinstance(node, Branch):
        return Branch(merge=node.merge, branches=new)
    if isinstance(node, Split):
        return Split(parts=new)
    if isinstance(node, Residual):
        if len(new) != 1:
            raise ValueError("a residual has exactly one body")
        return Residual(body=new[0])
    if new:
        raise ValueError(f"{node.op} is a leaf")
    return node


def walk(node: Node, path: Path = ()) -> Iterator[tuple[Path, Node]]:
    """Every node of the tree with its path, parents before children (pre-order)."""
    yield path, node
    for i, child in enumerate(kids(node)):
        yield from walk(child, (*path, i))


def get_at(node: Node, path: Path) -> Node:
    for i in path:
        node = kids(node)[i]
    return node


def replace_at(node: Node, path: Path, new: Node) -> Node:
    """A copy of the tree with the sub-tree at `path` replaced by `new`."""
    if not path:
        return new
    children = list(kids(node))
    children[path[0]] = replace_at(children[path[0]], path[1:], new)
    return with_kids(node, tuple(children))


def map_leaves(node: Node, fn: Callable[[Node], Node]) -> Node:
    """A copy of the tree with every leaf replaced by `fn(leaf)`."""
    children = kids(node)
    if not children and node.op in LEAF_OPS:
        return fn(node)
    return with_kids(node, tuple(map_leaves(c, fn) for c in children))


def depth(node: Node) -> int:
    """Nesting depth: 1 for a leaf."""
    return 1 + max((depth(c) for c in kids(node)), default=0)


def count_leaves(node: Node) -> int:
    return sum(1 for _, n in walk(node) if not kids(n))


# --------------------------------------------------------------------------- canonical form


def _key(node: Node) -> str:
    return json.dumps(node.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def canonical(node: Node) -> Node:
    """Normal form: nested sequences flattened, identities dropped from sequences,
    single-child sequences/branches/splits unwrapped, added branches sorted."""
    if isinstance(node, Seq):
        flat: list[Node] = []
        for child in (canonical(c) for c in node.children):
            if isinstance(child, Seq):
                flat.extend(child.children)
            elif not isinstance(child, Identity):
                flat.append(child)
        if not flat:
            return Identity()
        return flat[0] if len(flat) == 1 else Seq(children=tuple(flat))
    if isinstance(node, Branch):
        branches = [canonical(b) for b in node.branches]
        if len(branches) == 1:
            return branches[0]
        if node.merge == "add":  # a sum does not depend on the order of its terms
            branches.sort(key=_key)
        return Branch(merge=node.merge, branches=tuple(branches))
    if isinstance(node, Split):
        parts = tuple(canonical(p) for p in node.parts)
        return parts[0] if len(parts) == 1 else Split(parts=parts)
    if isinstance(node, Residual):
        return Residual(body=canonical(node.body))
    # Fields a node ignores are reset, so they cannot make two equal networks hash apart.
    if isinstance(node, Norm) and node.kind != "group" and node.groups != 8:
        return Norm(kind=node.kind)
    if isinstance(node, Conv) and node.depthwise and (node.out is not None or node.groups != 1):
        return node.model_copy(update={"out": None, "groups": 1})
    return node


def canonical_arch(arch: Arch) -> Arch:
    head = arch.head
    return Arch(version=arch.version, stem=arch.stem, body=canonical(arch.body), head=head)


def arch_json(arch: Arch) -> str:
    """Canonical JSON: the same architecture always gives the same string."""
    data = canonical_arch(arch).model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def arch_hash(arch: Arch) -> str:
    """A short stable id of the architecture (16 hex digits of the canonical JSON's SHA-256)."""
    return hashlib.sha256(arch_json(arch).encode()).hexdigest()[:16]


def arch_from_json(text: str | bytes | dict[str, Any]) -> Arch:
    """Parse an architecture from JSON text or a dict; raises pydantic.ValidationError."""
    if isinstance(text, dict):
        return Arch.model_validate(text)
    return Arch.model_validate_json(text)


ARCH_MARKER = "# agentnas-arch: "


def arch_from_source(source: str) -> Arch | None:
    """The architecture a rendered candidate file carries in its `# agentnas-arch:` line, if any."""
    for line in reversed(source.splitlines()):
        if line.startswith(ARCH_MARKER):
            try:
                return arch_from_json(line[len(ARCH_MARKER):])
            except ValueError:
                return None
    return None
