"""Benchmark architectures become labelled encodings, exported like candidates and cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


def test_encodings_are_cached_and_a_cut_line_is_recomputed(tmp_path: Path) -> None:
    keys = sample_keys("macro", 2, seed=1)
    first = SpaceEncoder(tmp_path, mode="features").encode("macro", keys)
    path = tmp_path / "value-spaces" / "macro-features.jsonl"
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2] + "\n")  # as if killed mid-write
    again = SpaceEncoder(tmp_path, mode="features").encode("macro", keys)
    np.testing.assert_array_equal(first.x, again.x)
    assert len(path.read_text().splitlines()) == 3  # the whole line was appended again
