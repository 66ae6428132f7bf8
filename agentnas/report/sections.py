"""The page's first parts: what the run is, how it went against random search, and its tree."""

from __future__ import annotations

import time
from collections import Counter

from agentnas.report.baseline import METHOD
from agentnas.report.tree_svg import kind_of, legend_svg, render_tree
from agentnas.report.view import ReportView, Section, esc, pct, pp, score, table
from agentnas.run.settings import describe_changes

NO_RESULTS = "no results yet"
KIND_WORDS = {"failed": "failed their checks", "eval_failed": "failed in training", "predicted": "predicted only",
              "short": "short run only", "duplicate": "duplicates", "other": "not scored"}


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


class SummarySection(Section):
    id = "summary"
    title = "Run"

    def render(self, view: ReportView) -> str:
        d = view.data
        cfg = d.config
        kinds = Counter(kind_of(n, d.low_val.get(n.id)) for n in d.tree.nodes.values())
        nodes = ", ".join(f"{v} {KIND_WORDS.get(k, k)}" for k, v in sorted(kinds.items())) or "none"
        budget = ", ".join(x for x in (f"{cfg['budget_evals']} evaluations" if cfg.get("budget_evals") else "",
                                       f"{cfg['budget_time_s']:.0f} s" if cfg.get("budget_time_s") else "") if x)
        best = d.best()
        rows = [["run directory", esc(d.run_dir)], ["run id", esc(d.run_id or "–")], ["task", esc(d.task)],
                ["proposer", esc(cfg.get("proposer", "–"))], ["seed", esc(cfg.get("seed", "–"))],
                ["budget", esc(budget or "–") + "".join(
                    f"<br>from iteration {esc(c['iteration'])}: {esc(describe_changes(c['changed']))}"
                    for c in d.settings_changes)],
                ["evaluations", str(len(d.evaluations))],
                ["iterations", str(d.tree.iterations)], ["hypotheses", str(len(d.tree.hypotheses))],
                ["architecture nodes", f"{len(d.tree.nodes)} ({esc(nodes)})"],
                ["journal", f"{d.entries} entries, {_when(d.first_at)} → {_when(d.last_at)} "
                            f"({_duration(d.last_at - d.first_at)})"]]
        if best is not None:
            rows.append(["best model", f'<a href="#m-{esc(best.id)}">{esc(best.id)}</a>: validation '
                                       f"{score(d.tree, best.val_score)}, test {score(d.tree, best.test_score)}, "
                                       f"{best.params or 0:,} parameters"])
        else:
            rows.append(["best model", f'<span class="empty">{NO_RESULTS}</span>'])
        for ev in d.events:
            if ev.get("kind") == "stopped":
                rows.append(["stopped", esc(ev.get("reason", ""))])
        return '<dl class="facts">' + "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in rows) + "</dl>"


class CurvesSection(Section):
    id = "curves"
    title = "Best so far against random search"

    def render(self, view: ReportView) -> str:
        parts = [view.pictures["best_so_far"].img()]
        if not view.has_results:
            parts.insert(0, f'<p class="empty">{NO_RESULTS}: no evaluation has finished at full fidelity.</p>')
        b = view.baseline
        if b.available:
            parts.append(f'<p class="method"><b>Random-architecture baseline.</b> {esc(METHOD)} '
                         f"Population: M = {b.population} random architectures"
                         f"{f' ({b.failed_random} failed random draws left out)' if b.failed_random else ''}.</p>")
        else:
            parts.append(f'<p class="method"><b>Random-architecture baseline:</b> {esc(b.reason)}.</p>')
        if view.improvements:
            rows = []
            tree = view.data.tree
            # Δ: how much better the run is (positive is better, whichever the metric's direction)
            gain = pp if tree.metric.name == "accuracy" else (lambda v: f"{v:+.4f}")
            for imp in view.improvements:
                where = (f"same budget: {imp.n} evaluations" if imp.n == imp.baseline_n else
                         f"end of run ({imp.n} evaluations) vs random search's best of all {imp.baseline_n} "
                         f"random draws")
                rows.append([esc(where), score(tree, imp.run_val), score(tree, imp.baseline_val),
                             f"<b>{gain(imp.val)}</b>", score(tree, imp.run_test), score(tree, imp.baseline_test),
                             f"<b>{gain(imp.test)}</b>"])
            parts.append('<h3>Improvement over random search</h3>' + table(
                ["compared at", "run val", "random val", "Δ val", "run test", "random test", "Δ test"], rows,
                "num improvement"))
        parts.append(f"<p>The run's test curve is the test {view.data.tree.metric.name} of the model that is best "
                     "on validation so far (selection never looks at the test split).</p>")
        if view.published:
            items = "; ".join(f"{esc(p.name)} {pct(p.test_accuracy)}" for p in view.published)
            sources = "; ".join(sorted({esc(p.source) for p in view.published}))
            parts.append(f"<p>Published test results for {esc(view.data.task)} (dotted lines on the test panel): "
                         f"{items} ({sources}).</p>")
        else:
            parts.append(f"<p>{esc(view.published_note)}</p>")
        return "".join(parts)


class TreeSection(Section):
    id = "tree"
    title = "Search tree"

    def render(self, view: ReportView) -> str:
        drawn = render_tree(view.data, linked={n.id for n in view.board})
        note = (f"<p>{len(view.data.tree.hypotheses)} hypotheses (column 0) and {drawn.nodes} architectures; "
                "an architecture's children are its mutations, refinements and recombinations. Hover a node "
                "for its details; click a trained one for its leaderboard entry.</p>")
        empty = "" if view.has_results else f'<p class="empty">{NO_RESULTS}</p>'
        return (f"{note}{empty}{legend_svg(drawn.scale)}"
                f'<div class="tree-box" data-nodes="{drawn.nodes}">{drawn.svg}</div>')
