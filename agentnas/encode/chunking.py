"""Split a graph's text into token-budgeted chunks, losing nothing.

The text encoder reads at most 256 tokens and silently drops the rest, so a graph's text
is cut into chunks that each fit: whole lines where possible, a line longer than the
budget split at its ` --> ` arrows, then at `, ` and spaces, and as a last resort inside
a word. The chunks concatenate back to the text exactly, and every chunk's token count
is checked with the real tokenizer, not estimated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

CountTokens = Callable[[Sequence[str]], list[int]]
_SEPARATORS = (" --> ", ", ", " ")


def _split_keep(text: str, sep: str) -> list[str]:
    """Split after each `sep`, keeping it on the left part: the parts join back to `text`."""
    parts = text.split(sep)
    return [p + sep for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _split_long(piece: str, count: CountTokens, budget: int, level: int = 0) -> list[str]:
    """Pieces of `piece`, each within `budget` tokens, joining back to `piece`."""
    if count([piece])[0] <= budget:
        return [piece]
    for depth in range(level, len(_SEPARATORS)):
        parts = _split_keep(piece, _SEPARATORS[depth])
        if len(parts) > 1:
            return [p for part in parts for p in _split_long(part, count, budget, depth)]
    return _split_chars(piece, count, budget)


def _split_chars(piece: str, count: CountTokens, budget: int) -> list[str]:
    """Longest prefixes within budget (binary search), for a run of text with no spaces."""
    out = []
    while piece:
        lo, hi = 1, len(piece)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count([piece[:mid]])[0] <= budget:
                lo = mid
            else:
                hi = mid - 1
        out.append(piece[:lo])
        piece = piece[lo:]
    return out


def _pack(segments: list[str], sizes: list[int], count: CountTokens, budget: int) -> list[str]:
    """Greedy runs of consecutive segments within budget, each run's real count checked
    (tokens add up across whitespace, not across a split inside a word)."""
    chunks: list[list[str]] = [[]]
    used = 0
    for segment, size in zip(segments, sizes, strict=True):
        if chunks[-1] and used + size > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(segment)
        used += size
    out: list[str] = []
    for run in chunks:
        text = "".join(run)
        if len(run) > 1 and count([text])[0] > budget:
            half = len(run) // 2
            out += _pack(run[:half], count(run[:half]), count, budget)
            out += _pack(run[half:], count(run[half:]), count, budget)
        elif run:
            out.append(text)
    return out


def chunk_text(text: str, count: CountTokens, budget: int) -> list[str]:
    """Chunks of `text`, each at most `budget` tokens by `count`, that join back to `text`.

    `count` maps texts to token counts (without special tokens); it is called with batches.
    """
    if budget < 1:
        raise ValueError(f"token budget must be positive, got {budget}")
    if not text:
        return []
    lines = text.splitlines(keepends=True)
    segments: list[str] = []
    for line, size in zip(lines, count(lines), strict=True):
        segments += [line] if size <= budget else _split_long(line, count, budget)
    return _pack(segments, count(segments), count, budget)
