"""`agentnas memory ...` and `agentnas bench memory`, through the real command line (in process)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from memory_support import EXAMPLES, make_record, word_embedder
from typer.testing import CliRunner

from agentnas.cli import app
from agentnas.encode.embed import EncodingCache
from agentnas.encode.onnx_load import load_onnx
from agentnas.memory import describe_onnx, export_jsonl, open_memory
from agentnas.paths import load_module

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "cache").mkdir()
    return {"AGENTNAS_MEMORY": str(tmp_path / "memory"), "AGENTNAS_CACHE_DIR": str(tmp_path / "cache")}


def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    """A memory of 10 experiments exported by the library, with the real text vectors made by the
    word embedder (import keeps the vectors it is given)."""
    path = tmp_path / "seed.jsonl"
    with open_memory(tmp_path / "source", embedder=word_embedder) as store:
        store.add_many([make_record(i, task="mnist1d" if i < 7 else "digits") for i in range(10)])
        assert export_jsonl(store, path) == 10
    return path


def test_import_list_show_stats_export_round_trip(env: dict[str, str], jsonl: Path, tmp_path: Path) -> None:
    code, out, err = cli(env, "memory", "import", str(jsonl), "--json")
    assert code == 0, err
    assert json.loads(out) == {"path": str(jsonl), "imported": 10, "experiments": 10}
    assert cli(env, "memory", "import", str(jsonl))[0] == 0  # twice: still 10 (upsert by id)

    code, out, _ = cli(env, "memory", "ls", "--json", "--task", "mnist1d", "--min-score", "0.52")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == ["e6", "e4", "e3"]  # newest first, failures have no score
    assert {"id", "status", "val_accuracy", "test_accuracy", "code_hash", "hypothesis_id", "parent_id"} <= set(rows[0])

    code, out, _ = cli(env, "memory", "show", "e4", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["lesson"] == "lesson 4" and "arch_embedding" not in shown
    assert len(json.loads(cli(env, "memory", "show", "e4", "--json", "--vectors")[1])["arch_embedding"]) > 0
    code, out, _ = cli(env, "memory", "show", "e4")
    assert code == 0 and "lesson 4" in out and "def build_model" in out

    code, out, _ = cli(env, "memory", "stats", "--json")
    stats = json.loads(out)
    assert code == 0 and stats["experiments"] == 10 and stats["tasks"]["mnist1d"]["experiments"] == 7
    assert stats["tasks"]["digits"]["best"]["id"] == "e9" and stats["failures"] == {"shape": 3}
    assert stats["backend"] == "embedded" and stats["writer"] is None

    again = tmp_path / "again.jsonl"
    code, out, _ = cli(env, "memory", "export", str(again), "--json")
    assert code == 0 and json.loads(out)["experiments"] == 10
    before = {r["id"]: r for r in map(json.loads, jsonl.read_text().splitlines())}
    after = {r["id"]: r for r in map(json.loads, again.read_text().splitlines())}
    assert before.keys() == after.keys()
    for key, record in before.items():
        # Chroma renormalises cosine vectors in float32: the text vector may move in its last bits.
        assert np.allclose(record.pop("text_embedding"), after[key].pop("text_embedding"), atol=1e-6)
        assert record == after[key]
    code, out, _ = cli(env, "memory", "export", str(tmp_path / "digits.jsonl"), "--task", "digits")
    assert code == 0 and len((tmp_path / "digits.jsonl").read_text().splitlines()) == 3


def test_bad_input_exits_2_and_stores_nothing(env: dict[str, str], jsonl: Path, tmp_path: Path) -> None:
    lines = jsonl.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], lines[1], '{"id": "x", "task": ""}', lines[2]]) + "\n")
    code, _, err = cli(env, "memory", "import", str(bad))
    assert code == 2 and "line 3" in err
    short = tmp_path / "short.jsonl"
    record = json.loads(lines[0])
    record["arch_embedding"] = [1.0, 2.0]
    short.write_text(json.dumps(record) + "\n")
    code, _, err = cli(env, "memory", "import", str(short))
    assert code == 2 and "arch_embedding has 2 dimensions" in err
    code, out, _ = cli(env, "memory", "ls", "--json")
    assert code == 0 and json.loads(out) == []  # nothing stored; a store that does not exist lists empty
    assert cli(env, "memory", "import", str(tmp_path / "missing.jsonl"))[0] == 2
    assert cli(env, "memory", "show", "nope")[0] == 2
    assert cli(env, "memory", "ls", "--status", "bogus")[0] == 2
    code, _, err = cli(env, "memory", "ls", "--memory", "ftp://x")
    assert code == 2 and "expected a folder or http://HOST:PORT" in err
    code, _, err = cli(env, "memory", "ls", "--memory", "http://127.0.0.1:9")
    assert code == 1 and "cannot reach the Chroma server" in err
    assert cli(env, "bench", "memory", "--backends", "gpu")[0] == 2


def _onnx(name: str, folder: Path) -> Path:
    torch.manual_seed(0)
    model = load_module(EXAMPLES / f"{name}.py", f"cli_{name}").build_model((1, 40), 10).eval()
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 40),), str(path), external_data=False, dynamo=False,
                          do_constant_folding=False)
    return path


def test_similar_names_the_duplicate_and_search_finds_words_and_insights(env: dict[str, str], tmp_path: Path) -> None:
    torch.set_num_threads(1)
    mlp, cnn = _onnx("mnist1d_mlp", tmp_path), _onnx("mnist1d_cnn", tmp_path)
    cache = EncodingCache(tmp_path / "cache" / "encodings")
    with open_memory(env["AGENTNAS_MEMORY"], cache_dir=tmp_path / "cache") as store:  # the real MiniLM
        for i, path in enumerate((mlp, cnn)):
            d = describe_onnx(load_onnx(path), cache)
            store.add(make_record(i, hypothesis=["a residual MLP", "a small convolutional network"][i],
                                  onnx_text_hash=d.onnx_text_hash, arch_embedding=d.arch_embedding,
                                  params=d.params))
    code, out, err = cli(env, "memory", "similar", str(mlp), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["novelty"]["verdict"] == "duplicate" and report["novelty"]["neighbour_id"] == "e0"
    assert [r["id"] for r in report["similar"]] == ["e0", "e1"] and report["similar"][0]["distance"] < 1e-3
    code, out, _ = cli(env, "memory", "similar", str(cnn), "--task", "digits", "--json")
    other = json.loads(out)  # experiments of another task are not compared
    assert code == 0 and other["similar"] == [] and other["novelty"]["verdict"] == "novel"
    code, out, _ = cli(env, "memory", "search", "convolution layers", "--json", "--k", "1", "--insights", "2")
    found = json.loads(out)
    assert code == 0 and found["experiments"][0]["id"] == "e1" and len(found["insights"]) == 2
    assert all({"id", "insight", "source"} <= set(i) for i in found["insights"])


def test_bench_memory_reports_the_keys_for_scripts(env: dict[str, str]) -> None:
    code, out, err = cli(env, "bench", "memory", "--n", "3000", "--queries", "50", "--json")
    assert code == 0, err
    report = json.loads(out)
    for key in ("recall_at_10", "query_p50_ms", "query_p99_ms", "insert_per_s"):
        assert isinstance(report[key], float) and report[key] > 0
    assert report["recall_at_10"] >= 0.95 and report["hot"]["exact_mode"] is False
    assert report["embedded"]["recall_at_10"] >= 0.9 and report["exact"]["query_p50_ms"] > 0
