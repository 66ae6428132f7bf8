"""The run report: `agentnas report DIR` turns a run's journal into one self-contained HTML page
(best-so-far curves against a random-search baseline, the search tree, the leaderboard with code,
diffs and lessons, cost and time) plus the page's pictures as PNG files."""

from agentnas.report.baseline import Baseline, Curve, Improvement, best_so_far, expected_best, random_baseline
from agentnas.report.build import DEFAULT_TOP, ReportResult, build_report, make_view
from agentnas.report.data import Evaluation, ReportError, RunData, load_run
from agentnas.report.tree_svg import render_tree
from agentnas.report.view import ReportView, Section

__all__ = [
    "DEFAULT_TOP",
    "Baseline",
    "Curve",
    "Evaluation",
    "Improvement",
    "ReportError",
    "ReportResult",
    "ReportView",
    "RunData",
    "Section",
    "best_so_far",
    "build_report",
    "expected_best",
    "load_run",
    "make_view",
    "random_baseline",
    "render_tree",
]
