"""Causal token tasks: mqar, stdlib-chars, the user's token files, the registry, the contract and
the records' scores. No sandbox here (tests/evaluator/test_causality.py runs candidates)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from agentnas.records import LOSS, Metrics
from agentnas.tasks import (
    CONTRACTS,
    IGNORE,
    MqarTask,
    NpzTask,
    StdlibCharsTask,
    TaskError,
    TokenFileTask,
    get_task,
)
from agentnas.tasks.mqar import MqarSetting, generate
from agentnas.tasks.stdlib_chars import PACKAGES, corpus_files, library_dir, split_of

SMALL = MqarSetting(seq_len=32, pairs=4, vocab=32, train=200, val=50, test=50)


# --------------------------------------------------------------------------- mqar


def test_mqar_answers_are_the_values_bound_to_the_queried_keys() -> None:
    x, y = generate(200, SMALL, seed=5)
    k = SMALL.pairs
    for row, target in zip(x, y, strict=True):
        bound = dict(zip(row[0:2 * k:2].tolist(), row[1:2 * k:2].tolist(), strict=True))
        scored = np.flatnonzero(target != IGNORE)
        assert len(scored) == k and (scored >= 2 * k).all()           # one answer per pair, after the pairs
        assert sorted(row[scored].tolist()) == sorted(bound)          # every key is queried once
        for p in scored:
            assert target[p] == bound[int(row[p])]                     # the answer: its value
        keys, values = np.array(list(bound)), np.array(list(bound.values()))
        assert (keys >= 1).all() and (keys < SMALL.vocab // 2).all() and (values >= SMALL.vocab // 2).all()


def test_mqar_is_deterministic_and_its_splits_differ() -> None:
    a, b = MqarTask("mqar-easy").load(Path("unused")), MqarTask("mqar-easy").load(Path("unused"))
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.x_val[:50], a.x_test[:50])
    assert a.x_train.dtype == np.int64 and a.x_train.shape[1] == 32


def test_mqar_refuses_more_pairs_than_fit_its_sequence() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        generate(4, MqarSetting(seq_len=16, pairs=8, vocab=64), seed=0)


def test_every_mqar_setting_is_a_registered_token_task_ranked_by_loss() -> None:
    for name in ("mqar-easy", "mqar", "mqar-hard"):
        spec = get_task(name).spec
        assert spec.kind == "causal_lm" and spec.metric == LOSS
        assert not spec.metric.better(1.0, 0.5)                         # lower loss is better
        assert spec.build_args() == (spec.vocab_size, spec.seq_len)


# --------------------------------------------------------------------------- stdlib-chars


@pytest.fixture(scope="module")
def chars() -> StdlibCharsTask:
    return StdlibCharsTask()


def test_stdlib_chars_splits_by_file_and_keeps_ascii_tokens(chars: StdlibCharsTask) -> None:
    root = library_dir()
    splits = {split_of(p.relative_to(root).as_posix()) for p in chars.files}
    assert splits == {"train", "val", "test"}
    d = chars.load(Path("unused"))
    for x, y in ((d.x_train, d.y_train), (d.x_val, d.y_val)):
        assert x.dtype == np.int64 and x.shape[1] == 128 and x.min() >= 0 and x.max() < 128
        assert np.array_equal(x[:, 1:], y[:, :-1])                      # y is x shifted by one
    train = {r.tobytes() for r in d.x_train}
    assert not any(r.tobytes() in train for r in d.x_val)


def test_stdlib_chars_hides_its_corpus_in_every_library_the_sandbox_sees(chars: StdlibCharsTask) -> None:
    hidden = set(chars.hidden_paths())
    mine = {str((library_dir() / p).resolve()) for p in PACKAGES if (library_dir() / p).is_dir()}
    assert mine and mine <= hidden
    assert all(Path(h).name in PACKAGES for h in hidden)
    assert corpus_files() == chars.files


# --------------------------------------------------------------------------- user token files


def test_a_token_npz_stream_becomes_windows_with_every_position_scored(tmp_path: Path) -> None:
    path = tmp_path / "stream.npz"
    rng = np.random.default_rng(0)
    np.savez(path, tokens_train=rng.integers(0, 50, 1000), tokens_val=rng.integers(0, 50, 200),
             tokens_test=rng.integers(0, 50, 200), seq_len=np.int64(16))
    task = get_task(str(path))
    assert isinstance(task, TokenFileTask)
    assert task.spec.kind == "causal_lm" and task.spec.seq_len == 16 and task.spec.vocab_size <= 50
    d = task.load(tmp_path)
    assert d.x_train.shape == ((1000 - 1) // 16, 16) and (d.y_val != IGNORE).all()


def test_token_rows_with_a_loss_mask_score_only_the_masked_positions(tmp_path: Path) -> None:
    rows = np.arange(5 * 9).reshape(5, 9) % 7
    mask = np.zeros((5, 8), bool)
    mask[:, -1] = True
    path = tmp_path / "rows.npz"
    np.savez(path, tokens_train=rows, tokens_test=rows, loss_mask_train=mask, loss_mask_test=mask,
             seq_len=np.int64(8), vocab_size=np.int64(7))
    d = TokenFileTask(path).load(tmp_path)
    assert ((d.y_test != IGNORE) == mask).all()
    assert len(d.x_val) >= 1 and len(d.x_train) + len(d.x_val) == 5  # val carved from the train rows


def test_a_bin_stream_reads_its_dtype_and_sizes_from_meta_json(tmp_path: Path) -> None:
    (np.arange(3000) % 300).astype(np.uint32).tofile(tmp_path / "train.bin")
    (np.arange(500) % 300).astype(np.uint32).tofile(tmp_path / "val.bin")
    (tmp_path / "meta.json").write_text(json.dumps({"dtype": "uint32", "vocab_size": 300, "seq_len": 32}))
    task = get_task(str(tmp_path / "train.bin"))
    assert task.spec.vocab_size == 300 and task.spec.seq_len == 32
    d = task.load(tmp_path)
    assert len(d.x_val) == (500 - 1) // 32 and len(d.x_test) >= 1


@pytest.mark.parametrize(("arrays", "message"), [
    ({"tokens_train": np.arange(100)}, "missing tokens_test"),
    ({"tokens_train": -np.arange(100), "tokens_test": np.arange(100)}, "negative tokens"),
    ({"tokens_train": np.arange(100.0), "tokens_test": np.arange(100)}, "dtype float64"),
    ({"tokens_train": np.arange(100), "tokens_test": np.arange(100), "vocab_size": np.int64(50)},
     "outside the vocabulary"),
    ({"tokens_train": np.arange(100), "tokens_test": np.arange(100), "x_train": np.zeros(3)}, "unexpected keys"),
])
def test_a_malformed_token_file_is_refused_with_the_reason(tmp_path: Path, arrays: dict[str, np.ndarray],
                                                          message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(TaskError, match=message):
        TokenFileTask(path)


def test_a_classification_npz_is_still_read_as_classification(tmp_path: Path) -> None:
    path = tmp_path / "cls.npz"
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = np.arange(40) % 2
    np.savez(path, x_train=x, y_train=y, x_test=x, y_test=y)
    task = get_task(str(path))
    assert isinstance(task, NpzTask) and task.spec.kind == "classification"
    assert task.spec.contract == CONTRACTS["classification"]


# --------------------------------------------------------------------------- records


def test_metrics_written_before_scores_existed_read_with_accuracy_as_score() -> None:
    old = Metrics.model_validate({"val_accuracy": 0.9, "test_accuracy": 0.8, "val_loss": 0.3})
    assert (old.metric, old.val_score, old.test_score) == ("accuracy", 0.9, 0.8)


def test_token_metrics_score_by_loss_and_report_bits() -> None:
    m = Metrics(val_accuracy=0.5, test_accuracy=0.4, val_loss=math.log(2), test_loss=2.0, metric="loss")
    assert m.val_score == math.log(2) and m.test_score == 2.0
    assert m.val_bits == pytest.approx(1.0)
    assert Metrics.model_validate(m.model_dump()) == m


def test_metrics_of_an_unknown_metric_must_say_their_scores() -> None:
    with pytest.raises(ValueError, match="must give val_score"):
        Metrics(val_accuracy=0.5, test_accuracy=0.5, metric="perplexity")
