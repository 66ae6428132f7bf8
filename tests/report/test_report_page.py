"""The report page built from a journal written the way `agentnas run` writes it (no training)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path

import pytest
from report_support import INJECTION, Child, RunBuilder, code, sample_run

from agentnas.journal.tree import ArchNode, HypothesisNode, RunTree
from agentnas.report import build_report, load_run, render_tree
from agentnas.report.data import RunData

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str, Path]:
    """One sample run and its report, read-only for the tests that share it."""
    run_dir = tmp_path_factory.mktemp("report") / "run"
    ids = sample_run(run_dir)
    result = build_report(run_dir)
    return ids, Path(result.html).read_text(encoding="utf-8"), run_dir


def section(page: str, name: str) -> str:
    """One top-level section of the page (model entries nested in the leaderboard are not top level)."""
    start = page.index(f'<section id="{name}">')
    end = page.find('<section id="', start + 1)
    return page[start: end if end != -1 else len(page)]


def table_rows(fragment: str) -> dict[str, list[str]]:
    """Body rows of the tables in `fragment`: first cell -> the other cells, tags stripped."""
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", fragment, re.S):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
        if cells:
            out[cells[0]] = cells[1:]
    return out


def test_leaderboard_ranks_trained_models_with_code_diff_and_lesson(built: tuple[dict[str, str], str, Path]) -> None:
    ids, page, _ = built
    board = section(page, "leaderboard")
    order = [ids[k] for k in ("mutant", "refined", "sample64", "sample32", "seed", "hostile")]
    anchors = [board.index(f'id="m-{i}"') for i in order]
    assert anchors == sorted(anchors)  # best validation first
    for key in ("predicted", "check_failed", "eval_failed", "duplicate", "short"):
        assert f'id="m-{ids[key]}"' not in board  # only trained models are on the board
    mutant = board[anchors[0]: anchors[1]]
    assert "doubling the width gained 5 points" in mutant  # the analyst's lesson
    assert "nn.Linear(64, 128)" in mutant and "<details" in mutant  # its code, collapsible
    # the unified diff against its parent (the 64-wide sample), one removed and one added line each
    assert f"{ids['sample64']}/model.py" in mutant and f"{ids['mutant']}/model.py" in mutant
    assert '<span class="del">-    # width 64</span>' in mutant
    assert '<span class="add">+    # width 128</span>' in mutant
    refined = board[anchors[1]: anchors[2]]
    assert f"diff against its parent {ids['mutant']}" in refined
    assert "nothing to diff against" in board[anchors[2]: anchors[3]]  # a fresh sample has no parent


def test_run_text_is_escaped_everywhere(built: tuple[dict[str, str], str, Path]) -> None:
    _, page, _ = built
    assert INJECTION not in page
    assert "alert(1)</script>" not in page and "<b>tags</b>" not in page
    assert page.count("<script") == 1  # the page's own render check, nothing injected
    escaped = html.escape(INJECTION, quote=True)
    assert f"# {escaped}" in page  # in the code
    assert f"lesson with {escaped} &amp; &lt;b&gt;tags&lt;/b&gt;" in page  # in the lesson
    assert f"hostile {escaped} hypothesis" in page  # in the hypothesis (board and tree tooltip)
    assert f"sampled {escaped}" in page  # in the description


def test_page_loads_nothing_from_outside(built: tuple[dict[str, str], str, Path]) -> None:
    _, page, _ = built
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<link" not in page and "@import" not in page and "url(http" not in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None and "default-src 'none'" in csp.group(1) and "img-src data:" in csp.group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp.group(1)  # the one script is allowed by its hash, no other


def test_tree_svg_has_one_element_per_node_drawn_by_kind(built: tuple[dict[str, str], str, Path]) -> None:
    ids, page, run_dir = built
    tree = section(page, "tree")
    nodes = re.findall(r'<g class="node (\w+)" data-id="([^"]+)"', tree)
    assert sorted(i for _, i in nodes) == sorted(ids.values())  # every node once, nothing else
    kinds = dict((i, k) for k, i in nodes)
    assert kinds[ids["check_failed"]] == "failed" and kinds[ids["eval_failed"]] == "eval_failed"
    assert kinds[ids["predicted"]] == "predicted" and kinds[ids["duplicate"]] == "duplicate"
    assert kinds[ids["short"]] == "short" and kinds[ids["mutant"]] == "trained"
    assert len(re.findall(r'<g class="hyp"', tree)) == 2
    # trained nodes are coloured by validation: the best and the worst get different fills
    fill = {i: re.search(rf'data-id="{i}".*?<circle r="6" fill="(#[0-9a-f]{{6}})"', tree, re.S)
            for i in (ids["mutant"], ids["hostile"])}
    assert all(fill.values()) and fill[ids["mutant"]].group(1) != fill[ids["hostile"]].group(1)  # type: ignore[union-attr]
    assert f'href="#m-{ids["mutant"]}"' in tree  # a trained node links to its leaderboard entry
    assert load_run(run_dir).tree.nodes[ids["refined"]].parent_id == ids["mutant"]


def test_tree_places_children_right_of_their_parent(built: tuple[dict[str, str], str, Path]) -> None:
    ids, page, _ = built
    pos = {i: (float(x), float(y)) for i, x, y in
           re.findall(r'data-id="([^"]+)" data-status="\w+" transform="translate\(([\d.]+),([\d.]+)\)"', page)}
    assert pos[ids["sample64"]][0] < pos[ids["mutant"]][0] < pos[ids["refined"]][0]
    assert pos[ids["mutant"]][0] == pos[ids["duplicate"]][0] == pos[ids["short"]][0]  # siblings share a column
    assert len({y for _, y in pos.values()}) == len(pos) - 2  # one row per leaf; a parent is level with a child


def test_pictures_are_written_beside_the_page_and_embedded(tmp_path: Path) -> None:
    sample_run(tmp_path / "run")
    result = build_report(tmp_path / "run", tmp_path / "out" / "page.html")
    page = Path(result.html).read_text(encoding="utf-8")
    assert Path(result.html) == tmp_path / "out" / "page.html" and len(result.pngs) == 2
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"[^>]*data-file="([^"]+)"', page)
    assert len(embedded) == 2
    for data, name in embedded:
        png = tmp_path / "out" / name
        assert str(png) in result.pngs and png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 10_000
        assert base64.b64decode(data) == png.read_bytes()


def test_cost_and_time_by_role_and_by_failure_kind(built: tuple[dict[str, str], str, Path]) -> None:
    _, page, _ = built
    cost = section(page, "cost")
    rows = table_rows(cost)
    # researcher: 2 live calls, 1900 prompt tokens; the replayed analyst call adds no tokens or cost
    assert rows["researcher"][:4] == ["2", "0", "0", "1,900"]
    assert rows["engineer"][:4] == ["1", "1", "0", "0"]
    assert rows["analyst"][:6] == ["0", "0", "1", "0", "0", "$0.0000"]
    assert "$0.0350" in cost  # 0.02 + 0.015 live; the replayed 0.003 not counted again
    assert rows["timeout"] == ["1", "30.0", "0.0", "0"]  # one evaluation failed in training after 30 s
    assert rows["shape"] == ["0", "0.0", "0.0", "1"]  # one proposal refused at check
    assert rows["ok"][0] == "7"  # six full trainings and one short run


def test_improvement_over_random_search_is_stated(built: tuple[dict[str, str], str, Path]) -> None:
    _, page, _ = built
    curves = section(page, "curves")
    assert "C(k-1, n-1) / C(M, n)" in curves and "M = 4 random architectures" in curves
    assert "1 failed random draws left out" in curves
    # the end of the run (0.93) against the best of all 4 random draws (0.88)
    assert re.search(r"end of run \(8 evaluations\).*?93\.00%.*?88\.00%.*?\+5\.00 pp", curves, re.S)


def test_a_run_without_results_renders_no_results_yet(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path / "run")
    h = b.hypothesis("anything")
    b.expand(h, [Child(code(8), outcome="predicted"), Child(code(9), outcome="check_failed")])
    b.close()
    result = build_report(tmp_path / "run")
    page = Path(result.html).read_text(encoding="utf-8")
    assert result.experiments == 0 and result.best is None and not result.baseline["available"]
    assert page.count("no results yet") >= 3 and "baseline is unavailable" in page
    assert len(re.findall(r'<g class="node ', page)) == 2
    assert all(Path(p).read_bytes().startswith(PNG_MAGIC) for p in result.pngs)


def test_the_same_journal_gives_the_same_files_and_stays_untouched(tmp_path: Path) -> None:
    sample_run(tmp_path / "run")
    journal = tmp_path / "run" / "journal.sqlite"
    before = hashlib.sha256(journal.read_bytes()).hexdigest()
    first = build_report(tmp_path / "run", tmp_path / "a" / "index.html")
    second = build_report(tmp_path / "run", tmp_path / "b" / "index.html")
    for x, y in zip([first.html, *first.pngs], [second.html, *second.pngs], strict=True):
        assert Path(x).read_bytes() == Path(y).read_bytes()
    assert hashlib.sha256(journal.read_bytes()).hexdigest() == before


def test_a_deep_mutation_chain_lays_out_without_recursion(tmp_path: Path) -> None:
    tree = RunTree(hypotheses={"h000": HypothesisNode(id="h000", text="deep", source="researcher")})
    parent = None
    for i in range(1500):  # deeper than Python's recursion limit
        node = ArchNode(id=f"n{i}", hypothesis_id="h000", parent_id=parent, code="", arch=None, status="scored",
                        operator="mutate", description="", iteration=i)
        tree.nodes[node.id] = node
        parent = node.id
    data = RunData(run_dir=tmp_path, config={}, run_id=None, tree=tree, payloads={}, evaluations=[], llm_calls=[],
                   events=[], first_at=0.0, last_at=0.0, entries=1)
    drawn = render_tree(data)
    assert drawn.nodes == 1500 and drawn.svg.count('<g class="node ') == 1500
