"""The leaderboard: each trained model's code, its diff against its parent, and the lesson."""

from __future__ import annotations

import difflib

from agentnas.journal.tree import ArchNode, RunTree
from agentnas.report.view import ReportView, Section, esc, score, table


def ranked(tree: RunTree) -> list[ArchNode]:
    """Trained nodes, best first (the order of `runs show`: the task metric's validation score in
    its direction, then fewer params, earlier)."""
    return tree.ranked()


def diff_lines(parent: ArchNode, child: ArchNode) -> list[str]:
    return list(difflib.unified_diff(parent.code.splitlines(), child.code.splitlines(),
                                     fromfile=f"{parent.id}/model.py", tofile=f"{child.id}/model.py", lineterm=""))


def _diff_html(lines: list[str]) -> str:
    out = []
    for line in lines:
        cls = ("meta" if line.startswith(("---", "+++")) else "hunk" if line.startswith("@@") else
               "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx")
        out.append(f'<span class="{cls}">{esc(line)}</span>')
    return "\n".join(out)


def _diff_block(view: ReportView, node: ArchNode) -> str:
    tree = view.data.tree
    parent = tree.nodes.get(node.parent_id) if node.parent_id else None
    if parent is None:
        return (f'<p class="nodiff">no parent: a fresh {esc(node.operator)} under hypothesis '
                f"{esc(node.hypothesis_id)}, nothing to diff against.</p>")
    lines = diff_lines(parent, node)
    if not lines:
        return f'<p class="nodiff">same code as its parent {esc(parent.id)}.</p>'
    added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    opened = " open" if len(lines) <= 80 else ""  # short diffs are the point of the entry: show them
    return (f'<details class="diff"{opened}><summary>diff against its parent {esc(parent.id)} '
            f"(+{added} −{removed})</summary><pre class=\"diff\">{_diff_html(lines)}</pre></details>")


class LeaderboardSection(Section):
    id = "leaderboard"
    title = "Leaderboard"

    def render(self, view: ReportView) -> str:
        picture = view.pictures["accuracy_params"].img()
        if not view.board:
            return '<p class="empty">no results yet: no model has been trained at full fidelity.</p>' + picture
        tree = view.data.tree
        shown = (f"the top {len(view.board)} of {view.trained_total} trained models"
                 if view.trained_total > len(view.board) else f"all {view.trained_total} trained models")
        rows = []
        for i, n in enumerate(view.board, 1):
            hyp = tree.hypotheses.get(n.hypothesis_id)
            rows.append([str(i), f'<a href="#m-{esc(n.id)}">{esc(n.id)}</a>', score(tree, n.val_score),
                         score(tree, n.test_score), f"{n.params or 0:,}", esc(n.operator),
                         esc(f"{n.hypothesis_id}: {hyp.text}" if hyp else n.hypothesis_id),
                         esc(_short(n.description, 110))])
        parts = [picture,
                 f"<p>Ranked by validation {tree.metric.name} "
                 f"({'higher' if tree.metric.higher_is_better else 'lower'} is better; test is reported, "
                 f"never used to rank); {shown}.</p>",
                 table(["#", "model", "val", "test", "params", "operator", "hypothesis", "what it is"], rows,
                       "num board")]
        for i, n in enumerate(view.board, 1):
            parts.append(self._model(view, i, n))
        return "".join(parts)

    def _model(self, view: ReportView, rank: int, n: ArchNode) -> str:
        lesson = view.data.lesson(n.id)
        hyp = view.data.tree.hypotheses.get(n.hypothesis_id)
        parent = (f'parent <a href="#m-{esc(n.parent_id)}">{esc(n.parent_id)}</a>'
                  if n.parent_id and n.parent_id in {b.id for b in view.board} else
                  f"parent {esc(n.parent_id)}" if n.parent_id else "no parent")
        lines = n.code.count("\n") + 1
        opened = " open" if rank == 1 else ""
        return (f'<section class="model" id="m-{esc(n.id)}">'
                f"<h3>#{rank} {esc(n.id)} · validation {score(view.data.tree, n.val_score)} · "
                f"test {score(view.data.tree, n.test_score)} · "
                f"{n.params or 0:,} parameters</h3>"
                f'<p class="meta">{esc(n.operator)}, {parent}, iteration {n.iteration}; hypothesis '
                f"{esc(n.hypothesis_id)}: {esc(hyp.text if hyp else '?')}</p>"
                f'<p class="desc">{esc(n.description)}</p>'
                f'<blockquote class="lesson"><b>Lesson:</b> {esc(lesson) if lesson else "<i>none recorded</i>"}'
                f"</blockquote>"
                f'<details class="code"{opened}><summary>model code ({lines} lines)</summary>'
                f'<pre class="code"><code>{esc(n.code)}</code></pre></details>'
                f"{_diff_block(view, n)}</section>")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
