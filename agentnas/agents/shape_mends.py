"""Mends of a shape failure that need no call: the trusted side's answer to the sandbox's "shape"
failure, applied before the engineer is asked (see agents.graph's repair step)."""

from __future__ import annotations

import ast

from agentnas.agents.source_edits import TextEdits, nn_calls, parsed

SHAPE_MEND = "input sizes inferred"  # how a candidate's autofix note says `infer_input_sizes` mended it
PAD_MEND = "padding keeps lengths"  # ... and `same_padding`
ORDER_MEND = "layers after the logits moved before the head"  # ... and `layers_before_head`
MENDS = (SHAPE_MEND, PAD_MEND, ORDER_MEND)  # any of them makes a candidate `mended`, never valid first try

# Layers whose first argument is the size of their input, and their twins that infer it at the first
# forward pass. A small model's most common shape failure is exactly that size hard-coded wrong (a
# channel count kept after the layer before it changed, a flattened length computed for other strides).
_LAZY = {
    **{f"Conv{d}d": (f"LazyConv{d}d", "in_channels") for d in (1, 2, 3)},
    **{f"ConvTranspose{d}d": (f"LazyConvTranspose{d}d", "in_channels") for d in (1, 2, 3)},
    **{f"BatchNorm{d}d": (f"LazyBatchNorm{d}d", "num_features") for d in (1, 2, 3)},
    **{f"InstanceNorm{d}d": (f"LazyInstanceNorm{d}d", "num_features") for d in (1, 2, 3)},
    "Linear": ("LazyLinear", "in_features"),
}


def infer_input_sizes(code: str) -> tuple[str, list[str]]:
    """`code` with each `nn.Conv*d`, `nn.Linear`, `nn.BatchNorm*d` and `nn.InstanceNorm*d` replaced by its
    lazy twin without the input-size argument, and the names of the layers changed ([] when none).

    The trusted side's mend for a shape failure: the architecture stays the model's (every output
    width, kernel, stride and group count as written); only the input sizes it got wrong are taken
    from the tensors instead. The sandbox's first forward pass materialises them before parameters
    are counted, so limits and the ONNX graph see the real layers. A file already lazy gives [].
    Edits are made in the text (comments and layout stay); code that does not parse is returned as is."""
    tree = parsed(code)
    if tree is None:
        return code, []
    text = TextEdits(code)
    changed: list[str] = []
    for node in nn_calls(tree, _LAZY):
        assert isinstance(node.func, ast.Attribute)
        lazy, size_name = _LAZY[node.func.attr]
        size_kw = next((k for k in node.keywords if k.arg == size_name), None)
        if size_kw is None and not node.args:
            continue
        func_end = text.end(node.func)
        text.edit(func_end - len(node.func.attr), func_end, lazy)
        # the size argument and the separator after it (or before it, when it is the last argument)
        items: list[ast.expr | ast.keyword] = sorted([*node.args, *node.keywords],
                                                      key=lambda a: (a.lineno, a.col_offset))
        target: ast.expr | ast.keyword = size_kw if size_kw is not None else node.args[0]
        i = items.index(target)
        start = text.pos(target.lineno, target.col_offset)
        if i + 1 < len(items):
            end = text.pos(items[i + 1].lineno, items[i + 1].col_offset)
        else:
            end = text.end(target)
            if i > 0:
                start = text.end(items[i - 1])
        text.edit(start, end, "")
        changed.append(lazy)
    if not changed:
        return code, []
    return text.result(), sorted(set(changed))


# Where a convolution's arguments sit when given by position, after the input size (lazy twins have none).
_CONV_ARGS = ("out_channels", "kernel_size", "stride", "padding", "dilation")
_CONVS = {f"{lazy}Conv{d}d": 0 if lazy else 1 for d in (1, 2, 3) for lazy in ("", "Lazy")}


def _argument(call: ast.Call, name: str) -> ast.expr | None:
    at = _CONVS[call.func.attr] + _CONV_ARGS.index(name)  # type: ignore[attr-defined]
    kw = next((k.value for k in call.keywords if k.arg == name), None)
    return kw if kw is not None else call.args[at] if at < len(call.args) else None


def _int(node: ast.expr | None, default: int | None = None) -> int | None:
    if node is None:
        return default
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def same_padding(code: str) -> tuple[str, list[str]]:
    """`code` with the padding of each stride-1 `nn.Conv*d` (or lazy twin) of an odd literal kernel set to
    keep its input's length (dilation · (kernel − 1) / 2), where the file pads it otherwise, and one
    note per convolution changed ("padding 8 -> 2"). The trusted side's mend for two tensors that
    must match but do not (a residual sum, a concatenation): a small model copies a padding from
    another line, or leaves it out, far more often than it means a convolution to shorten its input.
    Kernels, strides and widths stay as written; a padding given as a name or "same" is left."""
    tree = parsed(code)
    if tree is None:
        return code, []
    text = TextEdits(code)
    notes: list[str] = []
    for node in nn_calls(tree, _CONVS):
        kernel, stride = _int(_argument(node, "kernel_size")), _int(_argument(node, "stride"), 1)
        dilation, given = _int(_argument(node, "dilation"), 1), _argument(node, "padding")
        padding = _int(given, 0)
        if kernel is None or kernel % 2 == 0 or stride != 1 or dilation is None or padding is None:
            continue
        want = dilation * (kernel - 1) // 2
        if padding == want:
            continue
        if given is not None:
            text.edit(text.pos(given.lineno, given.col_offset), text.end(given), str(want))
        else:  # no padding given: add it as a keyword after the last argument
            items: list[ast.expr | ast.keyword] = [*node.args, *node.keywords]
            last = max(items, key=lambda a: (a.end_lineno or 0, a.end_col_offset or 0))
            at = text.end(last)
            text.edit(at, at, f", padding={want}")
        notes.append(f"padding {padding} -> {want}")
    if not notes:
        return code, []
    return text.result(), notes


_HEAD_STARTS = ("Flatten", "GlobalPool", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d",
                "AdaptiveMaxPool2d")


def _name(node: ast.expr) -> str | None:
    """The called name of `nn.X(...)`, `torch.nn.X(...)` or `X(...)`."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return node.func.id if isinstance(node.func, ast.Name) else None


def _logits(node: ast.expr) -> bool:
    """A Linear (or LazyLinear) whose output size is `num_classes`."""
    if _name(node) not in ("Linear", "LazyLinear") or not isinstance(node, ast.Call):
        return False
    at = 1 if _name(node) == "Linear" else 0  # LazyLinear has no input size
    out = next((k.value for k in node.keywords if k.arg == "out_features"), None)
    if out is None and len(node.args) > at:
        out = node.args[at]
    return isinstance(out, ast.Name) and out.id == "num_classes"


def layers_before_head(code: str) -> tuple[str, int]:
    """`code` with the layers that build_model's returned `nn.Sequential` lists after its logits layer (a
    Linear to `num_classes`) moved to just before its head (the first Flatten or global pool, else the
    logits layer), and how many moved. A small model adds its new block at the end of the list, after
    the classifier, where it receives (B, num_classes) logits; the block was meant for the features."""
    tree = parsed(code)
    if tree is None:
        return code, 0
    build = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build_model"), None)
    if build is None:
        return code, 0
    for ret in (n for n in ast.walk(build) if isinstance(n, ast.Return)):
        if ret.value is None or _name(ret.value) != "Sequential" or not isinstance(ret.value, ast.Call):
            continue
        items = ret.value.args
        at = next((i for i, x in enumerate(items) if _logits(x)), None)
        if at is None or at == len(items) - 1 or any(isinstance(x, ast.Starred) for x in items):
            continue
        head = next((i for i, x in enumerate(items[: at + 1]) if _name(x) in _HEAD_STARTS), at)
        text = TextEdits(code)
        first, last = items[at + 1], items[-1]
        moved = code[text.pos(first.lineno, first.col_offset): text.end(last)]
        start = text.pos(items[head].lineno, items[head].col_offset)
        line = text.lines[items[head].lineno - 1]
        before = line.encode()[: items[head].col_offset].decode(errors="ignore")
        sep = f",\n{before}" if not before.strip() else ", "  # one item a line, or all on one
        text.edit(start, start, moved.rstrip().rstrip(",") + sep)
        text.edit(text.end(items[at]), text.end(last), "")
        return text.result(), len(items) - at - 1
    return code, 0


_MISMATCH = ("must match", "sizes of tensors")  # a sum or concatenation of tensors of different shapes


def mend_shapes(code: str, message: str) -> tuple[str, str | None]:
    """`code` mended for the shape failure `message` without a call, and the autofix note (None: no mend
    applies): layers listed after the logits moved before the head, layer input sizes inferred, and,
    when two tensors did not match, paddings that keep lengths. Each mend changes a file at most once
    (a mended file has nothing left to mend), so a failure that persists goes to the engineer."""
    code, moved = layers_before_head(code)
    code, lazy = infer_input_sizes(code)
    pads: list[str] = []
    if any(words in message.lower() for words in _MISMATCH):
        code, pads = same_padding(code)
    notes = ([f"{ORDER_MEND} ({moved})"] if moved else []) + (
        [f"{SHAPE_MEND} ({', '.join(lazy)})"] if lazy else []) + (
        [f"{PAD_MEND} ({len(pads)} conv{'s' if len(pads) > 1 else ''}: {', '.join(pads)})"] if pads else [])
    return code, "; ".join(notes) or None
