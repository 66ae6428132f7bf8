"""Benchmark architectures become labelled encodings, exported like candidates and cached."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

from agentnas.encode.features import FEATURE_NAMES, FEATURES_VERSION
from agentnas.evaluator.proxies import PROXY_NAMES
from agentnas.space import nb201_source
from agentnas.space.nb201 import nb201_computed
from agentnas.value.spaces import EncodeProgress, SpaceEncoder, sample_keys, space_labels

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


# Node 1 of both cells is read by no edge, so its op never reaches the output: one network.
SAME_NETWORK = ("|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
                "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")


def _encoded_alone(key: str) -> np.ndarray:
    """One cell as encoded before encodings were shared or parallel: built, exported and
    measured in this process, with torch on its default threads."""
    import torch

    from agentnas.encode.embed import encode_graph
    from agentnas.evaluator.proxies import compute_proxies
    from agentnas.value.spaces import INPUT_SHAPE, NUM_CLASSES, build_trusted_source, export_trusted_model

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = build_trusted_source(nb201_source(key))
        graph = export_trusted_model(model)
        encoding = encode_graph(graph, "features", None,
                                proxies=compute_proxies(model, INPUT_SHAPE, NUM_CLASSES))
    finally:
        torch.set_num_threads(threads)
    return encoding.array()


def test_parallel_and_shared_encodings_equal_each_cell_encoded_alone(tmp_path: Path) -> None:
    assert nb201_computed(SAME_NETWORK[0]) == nb201_computed(SAME_NETWORK[1])
    keys = [*SAME_NETWORK, sample_keys("nb201", 1, seed=3)[0]]
    alone = np.stack([_encoded_alone(k) for k in keys])
    np.testing.assert_array_equal(alone[0], alone[1])  # the two cells are one network
    for workers in (2, 1):
        encoder = SpaceEncoder(tmp_path / f"w{workers}", mode="features", workers=workers)
        data = encoder.encode("nb201", keys)
        np.testing.assert_array_equal(data.x, alone)
        assert encoder.computed == 2  # the two cells of one network were built once
        # every key has its own line in the cache, and a fresh encoder reads back the same rows
        again = SpaceEncoder(tmp_path / f"w{workers}", mode="features", workers=workers)
        np.testing.assert_array_equal(again.encode("nb201", keys).x, alone)
        assert again.computed == 0


def test_encode_progress_says_done_total_rate_and_time_left() -> None:
    lines: list[str] = []
    now = [0.0]
    progress = EncodeProgress("nb201", lines.append, every=10.0, before=5, clock=lambda: now[0])
    for done, t in [(1, 4.0), (2, 12.0), (3, 15.0), (4, 24.0)]:
        now[0] = t
        progress(done, 4)
    assert lines == ["nb201: encoded 2/4 networks (0.17/s, about 12 s left)",
                     "nb201: encoded 4 network(s) in 24 s (0.17/s; 9 so far)"]


def test_encoding_workers_leave_the_cli_signal_handlers_to_the_parent() -> None:
    # The CLI makes TERM raise (agentnas.signals); a pool ends its workers with TERM, which
    # then printed a traceback per worker and once hung a search (a worker killed holding the
    # queue's lock). A worker starts with the default handlers: TERM kills it at once.
    import torch

    from agentnas import signals
    from agentnas.value.spaces import _worker_start

    before = {s: signal.getsignal(s) for s in (*signals.STOP_SIGNALS, signal.SIGINT)}
    threads = torch.get_num_threads()
    try:
        signals.install()
        _worker_start()
        assert all(signal.getsignal(s) is signal.SIG_DFL for s in signals.STOP_SIGNALS)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # Ctrl-C: the parent ends the pool
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        torch.set_num_threads(threads)
