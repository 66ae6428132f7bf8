"""Token budgets of a prompt: each section has one, and the whole prompt a cap.

Small local models read ~30 prompt tokens a second and lose the thread in long prompts,
and every token is paid for on a hosted model. So each section of a `PromptContext` is
trimmed to its budget before rendering (the last siblings, the first retrieved items, each
note cut at a word), and when the rendered prompt still exceeds the cap, whole optional
sections are dropped, least useful first. Required sections (the task, the parent's code,
the failure to repair) are never cut: a model cannot edit a file it was shown half of.
Token counts are estimates (~4 characters a token), deterministic for the same context.
"""

from __future__ import annotations

from typing import Any

from agentnas.llm.context import PromptContext

DEFAULT_PROMPT_CAP = 2500  # estimated tokens of system + user message

# section -> (items kept, characters per item's text)
ITEM_BUDGETS: dict[str, tuple[int, int]] = {
    "siblings": (4, 200),
    "similar": (3, 240),
    "knowledge": (3, 240),
    "steering": (8, 300),
    "previous_repairs": (3, 200),
}
LESSON_CHARS = 240
LOG_TAIL_CHARS = 1200
# dropped in this order while the prompt is over its cap
DROP_ORDER = ("knowledge", "similar", "blocks", "siblings", "previous_repairs", "log_tail")


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split()) if "\n" not in text.strip() else text.strip()
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip() + "…"


def trim(context: PromptContext) -> PromptContext:
    """`context` with every section within its item budget."""
    update: dict[str, Any] = {}
    n, chars = ITEM_BUDGETS["siblings"]
    if context.siblings:
        update["siblings"] = tuple(b.model_copy(update={"lesson": _cut(b.lesson, chars) if b.lesson else b.lesson,
                                                        "hypothesis": _cut(b.hypothesis, chars)})
                                   for b in context.siblings[-n:])
    for name in ("similar", "knowledge"):
        n, chars = ITEM_BUDGETS[name]
        items = getattr(context, name)
        if items:
            update[name] = tuple(m.model_copy(update={"text": _cut(m.text, chars)}) for m in items[:n])
    for name in ("steering", "previous_repairs"):
        n, chars = ITEM_BUDGETS[name]
        texts = getattr(context, name)
        if texts:
            update[name] = tuple(_cut(t, chars) for t in texts[-n:])
    for name in ("parent", "candidate"):
        brief = getattr(context, name)
        if brief is not None and brief.lesson:
            update[name] = brief.model_copy(update={"lesson": _cut(brief.lesson, LESSON_CHARS)})
    if context.log_tail:
        update["log_tail"] = context.log_tail[-LOG_TAIL_CHARS:]
    return context.model_copy(update=update) if update else context


def without(context: PromptContext, section: str) -> PromptContext:
    """`context` with one optional section emptied."""
    empty: Any = "" if section == "log_tail" else ()
    return context.model_copy(update={section: empty})
