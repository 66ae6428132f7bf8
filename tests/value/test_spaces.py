"""Benchmark architectures become labelled encodings, exported like candidates and cached."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agentnas.encode.features import FEATURE_NAMES, FEATURES_VERSION
from agentnas.evaluator.proxies import PROXY_NAMES
from agentnas.value.spaces import SpaceEncoder, sample_keys, space_labels

pytestmark = pytest.mark.usefixtures("bench_data")


@pytest.mark.parametrize("space", ["nb201", "macro"])
def test_sampled_architectures_are_encoded_with_their_labels(space: str, tmp_path: Path) -> None:
    keys = sample_keys(space, 3, seed=0)  # type: ignore[arg-type]
    assert keys == sample_keys(space, 3, seed=0)  # type: ignore[arg-type]
    data = SpaceEncoder(tmp_path, mode="features").encode(space, keys)  # type: ignore[arg-type]
    labels = space_labels(space)  # type: ignore[arg-type]
    assert data.x.shape[0] == 3 and np.isfinite(data.x).all()
    assert list(data.y) == [labels[k] for k in keys]
    assert (data.params > 1e4).all() and (data.flops > data.params).all()
    known = [FEATURE_NAMES.index(f"proxy_{p}_missing") for p in PROXY_NAMES]
    assert data.x.shape[1] == len(FEATURE_NAMES) and (data.x[:, known] == 0).all()  # every proxy measured


def test_encodings_are_cached_and_a_cut_line_is_recomputed(tmp_path: Path) -> None:
    keys = sample_keys("macro", 2, seed=1)
    first = SpaceEncoder(tmp_path, mode="features").encode("macro", keys)
    path = tmp_path / "value-spaces" / f"macro-features-f{FEATURES_VERSION}.jsonl"
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2] + "\n")  # as if killed mid-write
    again = SpaceEncoder(tmp_path, mode="features").encode("macro", keys)
    np.testing.assert_array_equal(first.x, again.x)
    assert len(path.read_text().splitlines()) == 3  # the whole line was appended again


def test_encodings_without_proxies_live_apart_and_say_so(tmp_path: Path) -> None:
    keys = sample_keys("macro", 1, seed=3)
    bare = SpaceEncoder(tmp_path, mode="features", proxies=False).encode("macro", keys)
    missing = [FEATURE_NAMES.index(f"proxy_{p}_missing") for p in PROXY_NAMES]
    assert (bare.x[:, missing] == 1).all()
    files = sorted(p.name for p in (tmp_path / "value-spaces").iterdir())
    assert files == [f"macro-features-f{FEATURES_VERSION}-noproxy.jsonl"]
    full = SpaceEncoder(tmp_path, mode="features").encode("macro", keys)
    assert (full.x[:, missing] == 0).all()  # not served from the other file


def test_a_cached_line_of_an_older_vector_layout_is_laid_out_again(tmp_path: Path) -> None:
    keys = sample_keys("macro", 1, seed=4)
    first = SpaceEncoder(tmp_path, mode="features").encode("macro", keys)
    path = tmp_path / "value-spaces" / f"macro-features-f{FEATURES_VERSION}.jsonl"
    row = json.loads(path.read_text())
    row["encoding"]["vector"] = row["encoding"]["feature_vector"] = row["encoding"]["vector"][:10]
    path.write_text(json.dumps(row) + "\n")
    again = SpaceEncoder(tmp_path, mode="features").encode("macro", keys)
    np.testing.assert_allclose(again.x, first.x, rtol=1e-6)
    assert len(path.read_text().splitlines()) == 1  # nothing was re-encoded
