"""What every section of the page reads: the run plus what was computed from it once.

A `Section` is one part of the page. Contract: `render(view)` returns an HTML fragment in
which every piece of text from the run (code, lessons, descriptions, hypotheses, failure
messages) has gone through `esc`; it reads the view and writes nothing. The page is the
sections' fragments in order, so a new part of the report is one new Section.
"""

from __future__ import annotations

import base64
import html
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentnas.journal.tree import ArchNode, RunTree
from agentnas.report.baseline import Baseline, Curve, Improvement
from agentnas.report.data import RunData
from agentnas.tasks.base import Baseline as Published

if TYPE_CHECKING:
    from agentnas.run.front import Trained

# (the two objectives, every trained model with its figures, the front's members best score first)
Front = tuple[tuple[str, ...], list["Trained"], list["Trained"]]


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def pp(x: float) -> str:
    return f"{100 * x:+.2f} pp"


def score(tree: RunTree, value: float | None) -> str:
    """A score in the task metric's words: accuracy as a percentage, any other metric as it is."""
    if tree.metric.name == "accuracy":
        return pct(value)
    return "–" if value is None else f"{tree.metric.name} {value:.4f}"


@dataclass(frozen=True)
class Picture:
    """One PNG: written beside the page under `name` and embedded in it as a data URI."""

    name: str
    png: bytes
    alt: str

    def img(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        return (f'<img class="plot" src="data:image/png;base64,{data}" alt="{esc(self.alt)}" '
                f'data-file="{esc(self.name)}">')


@dataclass(frozen=True)
class ReportView:
    data: RunData
    curve: Curve
    baseline: Baseline
    improvements: list[Improvement]
    published: tuple[Published, ...]
    published_note: str  # why there are none, when there are none
    pictures: dict[str, Picture]
    board: list[ArchNode]  # the leaderboard shown, best first
    trained_total: int
    front: Front | None = None  # (objectives, trained models, Pareto front), agentnas.run.front

    @property
    def has_results(self) -> bool:
        return any(v is not None for v in self.curve.val)


class Section(ABC):
    """One part of the report page (see the module docstring for the contract)."""

    id: str = ""
    title: str = ""

    @abstractmethod
    def render(self, view: ReportView) -> str:
        """The section's HTML fragment, with all run text escaped."""


def table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table; cells are HTML already (callers escape run text)."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'
