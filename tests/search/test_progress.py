"""Text shown in the leaderboard and the live view: cut at a word, never inside one."""

from __future__ import annotations

from agentnas.words import clip


def test_leaderboard_text_is_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    text = "Splitting channels into groups processed by different operations diversifies features"
    short = clip(text, 50)
    assert short.endswith("…") and len(short) <= 50
    kept = short[:-1]
    assert text.startswith(kept) and text[len(kept)] == " "  # the cut falls between two words
    assert clip("short enough", 50) == "short enough"
    assert clip("line\nbreaks   and  runs of spaces", 50) == "line breaks and runs of spaces"
    assert len(clip("x" * 80, 20)) == 20  # one very long word is still bounded
