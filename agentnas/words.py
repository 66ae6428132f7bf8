"""Text cut to fit: one function for every place that shortens words for a person or a prompt."""

from __future__ import annotations


def clip(text: str, width: int) -> str:
    """`text` on one line, at most `width` characters, cut at a word boundary with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    space = cut.rfind(" ")
    if space >= width // 2:  # a very long word is cut inside rather than leaving almost nothing
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"
