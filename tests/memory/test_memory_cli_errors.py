"""`agentnas memory ...` on stores it cannot write, cannot read, or that do not exist yet, and a
malformed `--memory` URL for every command that takes one: one line, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from memory_support import make_record, word_embedder

from agentnas.encode.embed import EncodingCache, TextEmbedding, text_sha256
from agentnas.memory import open_memory

AGENTNAS = str(Path(sys.executable).parent / "agentnas")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AGENTNAS_MEMORY"}
    env["AGENTNAS_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def _as_user(args: list[str]) -> list[str]:
    """Root ignores file modes; in a user namespace of its own it does not (its capabilities
    end at the namespace), so a read-only folder stays read-only for the command."""
    if os.geteuid() != 0:
        return args
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--user", "true"]).returncode != 0:
        pytest.skip("running as root without `unshare --user`: a read-only folder cannot be made read-only")
    return ["unshare", "--user", *args]


def _cli(tmp_path: Path, *args: str, as_user: bool = False) -> subprocess.CompletedProcess[str]:
    command = [AGENTNAS, *args]
    return subprocess.run(_as_user(command) if as_user else command, capture_output=True, text=True,
                          timeout=180, cwd=tmp_path, env=_env(tmp_path))


def _one_line_error(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    return lines[0]


def _modes(path: Path, writable: bool) -> None:
    for p in [path, *path.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "memory"
    with open_memory(path, embedder=word_embedder) as store:
        store.add_many([make_record(i) for i in range(4)])
    (path / "writer.lock").unlink()  # as after a copy: not even the lock file is there to open
    _modes(path, writable=False)
    try:
        yield path
    finally:
        _modes(path, writable=True)


def test_reading_commands_work_on_a_read_only_store_and_write_nothing(read_only_store: Path,
                                                                       tmp_path: Path) -> None:
    before = sorted((p.relative_to(read_only_store), p.stat().st_mtime_ns) for p in read_only_store.rglob("*"))
    done = _cli(tmp_path, "memory", "ls", "--memory", str(read_only_store), "--json", as_user=True)
    assert done.returncode == 0, done.stderr
    assert sorted(r["id"] for r in json.loads(done.stdout)) == ["e0", "e1", "e2", "e3"]
    done = _cli(tmp_path, "memory", "stats", "--memory", str(read_only_store), "--json", as_user=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["experiments"] == 4
    # The query's vector, cached as MiniLM's would be: the search then need not load the model.
    query = "dilated convolutions"
    EncodingCache(tmp_path / "cache" / "encodings").put(TextEmbedding(
        text_sha256=text_sha256(query), chunks=1, tokens=2, vector=[float(v) for v in word_embedder([query])[0]]))
    done = _cli(tmp_path, "memory", "search", query, "--k", "2", "--insights", "0",
                "--memory", str(read_only_store), "--json", as_user=True)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["experiments"]) == 2
    after = sorted((p.relative_to(read_only_store), p.stat().st_mtime_ns) for p in read_only_store.rglob("*"))
    assert after == before
    # Writing to it is refused in one line.
    exported = tmp_path / "e.jsonl"
    exported.write_text(make_record(9).model_copy(update={"text_embedding": [0.1] * 384}).model_dump_json() + "\n")
    line = _one_line_error(_cli(tmp_path, "memory", "import", str(exported), "--memory", str(read_only_store),
                                as_user=True))
    assert "cannot write the memory store" in line


def test_a_store_that_cannot_be_read_is_one_line_and_exit_2(read_only_store: Path, tmp_path: Path) -> None:
    read_only_store.chmod(0)
    try:
        for command in (["ls"], ["stats"]):
            line = _one_line_error(_cli(tmp_path, "memory", *command, "--memory", str(read_only_store),
                                        as_user=True))
            assert "cannot read the memory store" in line and str(read_only_store) in line
    finally:
        read_only_store.chmod(0o755)


def test_a_store_not_created_yet_is_named_plainly(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agentnas.cli import app

    missing = tmp_path / "not-yet"
    runner = CliRunner()
    note = f"note: no memory store at {missing} yet (it is created by the first run that uses it)"
    for command in (["ls"], ["stats"]):
        done = runner.invoke(app, ["memory", *command, "--memory", str(missing)], env=_env(tmp_path))
        assert done.exit_code == 0, done.stderr
        assert done.stderr.strip() == note
        assert "none memory" not in done.stdout
    done = runner.invoke(app, ["memory", "show", "e1", "--memory", str(missing)], env=_env(tmp_path))
    assert done.exit_code == 2
    assert done.stderr.strip() == f"error: no experiment 'e1': {note.removeprefix('note: ')}"
    assert not missing.exists()


@pytest.mark.parametrize("command", [
    ["memory", "ls"], ["memory", "stats"], ["memory", "show", "e1"], ["memory", "search", "x"],
    ["memory", "similar", "examples/digits_cnn.py"], ["memory", "export", "out.jsonl"],
    ["memory", "import", "in.jsonl"],
    ["run", "--task", "digits", "--budget-evals", "1", "--epochs", "1"],
    ["chat", "--offline"],
])
def test_a_malformed_memory_url_is_one_line_and_exit_2(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(make_record(1).model_copy(update={"text_embedding": [0.1] * 384})
                                       .model_dump_json() + "\n")
    examples = Path(__file__).resolve().parents[2] / "examples"
    command = [str(examples / a.removeprefix("examples/")) if a.startswith("examples/") else a for a in command]
    if command[0] in ("run", "chat"):
        command += ["--run-dir", str(tmp_path / "run")]
    done = _cli(tmp_path, *command, "--memory", "http://[::1")
    line = _one_line_error(done)
    assert "http://[::1" in line and "Invalid IPv6 URL" in line
