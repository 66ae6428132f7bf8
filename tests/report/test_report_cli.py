"""`agentnas report DIR [--out PATH] [--json]` as a user calls it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_support import sample_run
from typer.testing import CliRunner

from agentnas.cli import app
from agentnas.journal import open_journal


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "run"
    sample_run(path)
    return path


def test_json_names_the_page_the_pictures_and_the_headline(run_dir: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["html"] == str(run_dir / "report" / "index.html") and Path(doc["html"]).is_file()
    assert sorted(Path(p).name for p in doc["pngs"]) == ["accuracy_params.png", "best_so_far.png"]
    assert all(Path(p).parent == run_dir / "report" for p in doc["pngs"])
    assert (doc["experiments"], doc["nodes"], doc["hypotheses"], doc["trained"]) == (8, 11, 2, 6)
    assert doc["best"]["val_accuracy"] == pytest.approx(0.93)
    assert doc["baseline"]["available"] and doc["baseline"]["population"] == 4
    assert doc["improvement"][-1]["val"] == pytest.approx(0.05)


def test_out_takes_a_file_or_a_folder(run_dir: Path, tmp_path: Path) -> None:
    as_file = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "a" / "r.html")])
    assert as_file.exit_code == 0, as_file.output
    assert (tmp_path / "a" / "r.html").is_file() and (tmp_path / "a" / "r-best_so_far.png").is_file()
    assert 'data-file="r-best_so_far.png"' in (tmp_path / "a" / "r.html").read_text(encoding="utf-8")
    (tmp_path / "b").mkdir()
    as_dir = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "b"), "--top", "2"])
    assert as_dir.exit_code == 0, as_dir.output
    page = (tmp_path / "b" / "index.html").read_text(encoding="utf-8")
    assert (tmp_path / "b" / "best_so_far.png").is_file()
    assert page.count('<section class="model"') == 2 and "the top 2 of 6 trained models" in page


@pytest.mark.parametrize("case", ["missing", "no_journal", "not_sqlite", "empty_journal"])
def test_bad_input_is_a_clear_error_with_exit_2(tmp_path: Path, case: str) -> None:
    target = tmp_path / "run"
    if case != "missing":
        target.mkdir()
    if case == "not_sqlite":
        (target / "journal.sqlite").write_text("not a database")
    if case == "empty_journal":
        open_journal(target).close()
    result = CliRunner().invoke(app, ["report", str(target)])
    assert result.exit_code == 2
    expected = {"missing": "is not a directory", "no_journal": "not a run directory",
                "not_sqlite": "not an agentnas journal", "empty_journal": "the run is empty"}[case]
    assert expected in result.stderr
    assert not (target / "report").exists()


def test_top_must_be_positive(run_dir: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(run_dir), "--top", "0"])
    assert result.exit_code == 2 and "--top must be positive" in result.stderr
