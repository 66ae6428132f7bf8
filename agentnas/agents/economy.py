"""What keeps the LLM agents cheap and their notes clean.

`CallBudget` bounds LLM calls per evaluated candidate over a whole run: a role may call
while the calls answered so far, plus this one, stay within `per_eval` times the
evaluations done plus those the current expansion can still add (its grants, within the
evaluation budget). A role that may not call falls back to its offline twin (the grammar,
the offline lesson) or gives up (the engineer), so the bound holds whatever the model does.

`clean_note` keeps rationales and lessons from quoting earlier lessons: small models copy
what the prompt showed them ("Lesson: The previous attempt failed with: 'Lesson: …"), and a
note that carries its ancestors grows with every generation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from agentnas.llm import Ledger
from agentnas.words import clip

_BOILERPLATE = re.compile(
    r"(?i)\b(?:lesson|rationale|diagnosis|the previous attempt failed with|previous lesson|earlier lesson)\s*:\s*")
_QUOTES = "'\"`“”‘’"
_MIN_QUOTED = 24  # shorter shown texts are too generic to call a copy


class CallBudget:
    """`allow(n)`: may the run make n more LLM calls now? (None per_eval: always.)"""

    def __init__(self, ledger: Ledger, per_eval: float | None, evaluations: Callable[[], int],
                 lookahead: Callable[[], int]) -> None:
        self.ledger, self.per_eval = ledger, per_eval
        self.evaluations, self.lookahead = evaluations, lookahead

    def allow(self, n: int = 1) -> bool:
        if self.per_eval is None:
            return True
        expected = self.evaluations() + self.lookahead()
        return self.ledger.answered_calls() + n <= self.per_eval * max(expected, 1)


def clean_note(text: str, shown: Iterable[str] = (), limit: int = 400) -> str:
    """`text` without copies of the texts in `shown` (earlier lessons and notes the prompt held),
    without 'Lesson:'-style labels, on one line, at most `limit` characters (cut at a word)."""
    out = text
    for s in sorted({s.strip() for s in shown if len(s.strip()) >= _MIN_QUOTED}, key=len, reverse=True):
        out = out.replace(s, " ")
    out = _BOILERPLATE.sub(" ", out)
    out = re.sub(r"\s+", " ", out)
    # quotes left empty by a removed copy ("failed with: '' ")
    out = re.sub(rf"[{_QUOTES}]\s*[{_QUOTES}]", " ", out)
    out = re.sub(r"\s+", " ", out).strip(" ;:,-" + _QUOTES)
    return clip(out, limit)
