"""Novelty verdicts: duplicate keys, and the near-duplicate threshold on real model variants."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from memory_support import make_record, word_embedder

from agentnas.encode.embed import EncodingCache
from agentnas.encode.onnx_load import load_onnx
from agentnas.fingerprint import code_hash
from agentnas.memory import ARCH_DIM, NoveltyIndex, describe_onnx, judge, open_memory
from agentnas.memory.calibration import variants
from agentnas.paths import load_module


def test_code_hash_ignores_comments_docstrings_layout_and_names() -> None:
    code = 'def f(x):\n    """Doc."""\n    y = x + 1  # add\n    return y\n'
    assert code_hash(code) == code_hash("def f(x):\n    '''Other doc.'''\n\n    y = (x + 1)\n    return y\n")
    assert code_hash(code) == code_hash("def f(x):\n    z = x + 1\n    return z\n")  # a name is not a model
    assert code_hash(code) != code_hash("def f(x):\n    z = x + 2\n    return z\n")
    broken = "def f(:\n"
    assert code_hash(broken) == code_hash(broken) and code_hash(broken) != code_hash("def f(:  \n")


def test_verdicts_duplicate_near_duplicate_and_novel_from_the_index_and_the_store(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    stored = [make_record(i, rng) for i in range(6)]
    other_task = make_record(9, task="digits", code_hash="c" * 64)
    with open_memory(tmp_path / "memory", embedder=word_embedder) as store:
        store.add_many([*stored, other_task])
        index = NoveltyIndex.from_store(store, "mnist1d", threshold=0.25)
        target = stored[4]
        near = np.asarray(target.arch_embedding) + 0.05 / np.sqrt(ARCH_DIM)  # distance 0.05
        far = np.asarray(target.arch_embedding) + 1.0
        cases: list[tuple[Any, ...]] = [
            (code_hash(target.code), None, None, "duplicate", "e4"),
            ("x" * 64, target.onnx_text_hash, None, "duplicate", "e4"),
            ("x" * 64, "y" * 64, near, "near_duplicate", "e4"),
            ("x" * 64, "y" * 64, far, "novel", None),
            ("c" * 64, None, None, "novel", None),  # the same code on another task is news for this one
        ]
        for code, graph, vector, verdict, neighbour in cases:
            for got in (index.check(code, graph, vector), judge(store, "mnist1d", code, graph, vector, 0.25)):
                assert got.verdict == verdict, (code[:4], got)
                if neighbour:
                    assert got.neighbour_id == neighbour and neighbour in got.reason
        assert index.check("x" * 64, "y" * 64, near).distance == pytest.approx(0.05, abs=1e-3)
        fresh = make_record(20, rng)
        assert index.check(code_hash(fresh.code), fresh.onnx_text_hash, fresh.arch_embedding).verdict == "novel"
        index.add(fresh)
        assert index.check(code_hash(fresh.code), None, None).verdict == "duplicate"


def test_the_index_learns_what_another_writer_stored_when_refreshed(tmp_path: Path) -> None:
    """Two runs on one embedded store: the index of one catches up with the other's experiments."""
    path = tmp_path / "memory"
    rng = np.random.default_rng(1)
    with open_memory(path, embedder=word_embedder) as mine, open_memory(path, embedder=word_embedder) as other:
        mine.add(make_record(0, rng))
        index = NoveltyIndex.from_store(mine, "mnist1d")
        theirs = make_record(1, rng)
        other.add_many([theirs, make_record(2, rng, task="digits")])
        key, graph, vector = code_hash(theirs.code), theirs.onnx_text_hash, theirs.arch_embedding
        assert index.check(key, graph, vector).verdict == "novel"  # not seen until refreshed
        assert index.refresh(mine) == 1  # only the task's experiment
        got = index.check(key, graph, vector)
        assert got.verdict == "duplicate" and got.neighbour_id == "e1"
        assert index.check("x" * 64, None, vector).neighbour_id == "e1"  # in the architecture index too
        assert index.refresh(mine) == 0


def _export(code: str, folder: Path, name: str) -> Path:
    """A variant of the shipped example (trusted code of this repository) exported like the sandbox does."""
    source = folder / f"{name}.py"
    source.write_text(code)
    torch.manual_seed(0)
    model = load_module(source, f"variant_{name}").build_model((1, 40), 10).eval()
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 40),), str(path), input_names=["input"], output_names=["logits"],
                          external_data=False, dynamo=False, do_constant_folding=False)
    return path


CHECKED = ("rename", "comments", "dropout", "swap_residual", "view", "width_248", "width_264", "depth_plus_1",
           "no_residual", "gelu", "layernorm")


def test_refactors_are_duplicates_and_real_changes_are_novel(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cache = EncodingCache(tmp_path / "encodings")
    original = (Path(__file__).resolve().parents[2] / "examples" / "mnist1d_mlp.py").read_text()
    base = describe_onnx(load_onnx(_export(original, tmp_path, "original")), cache, code=original)
    index = NoveltyIndex("mnist1d")
    index.add(make_record(0, id="original", code=original, code_hash=base.code_hash,
                          onnx_text_hash=base.onnx_text_hash, arch_embedding=base.arch_embedding))
    cases = variants()
    for name in CHECKED:
        expect, code = cases[name]
        d = describe_onnx(load_onnx(_export(code, tmp_path, name)), cache, code=code)
        verdict = index.check(d.code_hash, d.onnx_text_hash, d.arch_embedding)
        if expect == "same":
            assert verdict.verdict in ("duplicate", "near_duplicate"), (name, verdict)
            assert verdict.neighbour_id == "original"
        else:
            assert verdict.verdict == "novel", (name, verdict)
    assert index.check(code_hash(cases["comments"][1]), None, None).verdict == "duplicate"  # before any export


@pytest.mark.slow
def test_sandbox_calibration_separates_every_variant(tmp_path: Path) -> None:
    from agentnas.config import load_config
    from agentnas.memory.calibration import calibrate

    report = calibrate(load_config(None, cache_dir=tmp_path / "cache"))
    assert report["all_as_expected"], report
    assert report["max_same_distance"] < report["threshold"] < report["min_different_distance"]
