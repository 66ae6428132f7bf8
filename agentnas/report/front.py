"""The report's trade-offs section: the run's Pareto front over its score and a cost, as a
plot and a table, and how to pick a model by constraint."""

from __future__ import annotations

from agentnas.report.view import ReportView, Section, esc, table
from agentnas.run.front import figure_text


class FrontSection(Section):
    id = "front"
    title = "Trade-offs: the Pareto front"

    def render(self, view: ReportView) -> str:
        if view.front is None:
            return ('<p class="empty">No model has both a score and a measured cost: the front needs the costs '
                    "measured at the check (<code>[costs] enabled</code>).</p>")
        names, models, members = view.front
        score, cost = names
        measured = sum(all(n in m.values for n in names) for m in models)
        rows = [[esc(m.node.id), figure_text(score, m.values.get(score)), figure_text(cost, m.values.get(cost)),
                 figure_text("test", m.node.test_score)] for m in members]
        return (view.pictures["front"].img()
                + f"<p>{len(members)} of {measured} trained models are on the front of {esc(score)} against "
                  f"{esc(cost)}: no other model is better on both. Pick one by constraint with "
                  f"<code>agentnas runs pick RUN --max-latency-ms 3</code> (also <code>--max-params</code>, "
                  f"<code>--max-macs</code>, <code>--max-size-mb</code>); <code>agentnas runs front RUN "
                  f"--objectives …</code> lists the front over any objectives.</p>"
                + _published_note(view, score)
                + table(["id", esc(score), esc(cost), "test score"], rows, "num front"))


def _published_note(view: ReportView, score: str) -> str:
    if not view.published or not score.endswith("accuracy"):
        return ""
    named = ", ".join(f"{esc(b.name)} {b.test_accuracy:.0%}" for b in view.published)
    return (f"<p>Dotted lines: the task's published test accuracies ({named}). The papers give no cost measured "
            "on this machine, so they are lines, not points: a model above a line beats that result at any "
            "cost.</p>")
