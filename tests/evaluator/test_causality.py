"""Token models that look ahead are caught before their score counts; an honest one is scored.

For causal token modelling the inputs hold the targets, so a model that reads later tokens
would score near perfectly. The evaluator trains in one sandbox child, scores halves of the
evaluation sequences mixed with perturbed twins of the other half in two fresh children,
and compares each sequence with its twin on the trusted side (agentnas/evaluator/causal.py).
Every hostile model below is a real candidate run through the real sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from token_models import EVAL_ONLY, HONEST

from agentnas.evaluator import EvalOptions, Evaluator, sandbox_data_file
from agentnas.records import FailureKind
from agentnas.tasks import TokenFileTask

from .conftest import write_candidate

VOCAB, SEQ = 12, 16


# Each hostile model adds a look-ahead to the honest one, in its own way.
PEEK_NEXT = HONEST + '''

class PeekNext(Causal):
    def forward(self, tokens):
        nxt = torch.roll(tokens, -1, dims=1)                      # token t + 1 at position t
        return super().forward(tokens) + 8.0 * F.one_hot(nxt, self.head.out_features)


def build_model(vocab_size, seq_len):
    return PeekNext(vocab_size)
'''

NONCAUSAL_CONV = HONEST + '''

class Centered(Causal):
    def forward(self, tokens):
        h = self.emb(tokens).transpose(1, 2)
        h = torch.relu(self.conv(F.pad(h, (1, 1)))).transpose(1, 2)  # sees t - 1, t and t + 1
        return self.head(h)


def build_model(vocab_size, seq_len):
    return Centered(vocab_size)
'''

# Honest on the batch shapes it meets before scoring (the shape check's 2 rows, the recipe's
# batch of 32, the export's 1), so it trains normally; looks ahead on any other shape.
SHAPE_DEPENDENT = HONEST + '''

class SomeShapes(Causal):
    def forward(self, tokens):
        out = super().forward(tokens)
        if tokens.shape[0] not in (1, 2, 32):
            out = out + 8.0 * F.one_hot(torch.roll(tokens, -1, dims=1), self.head.out_features)
        return out


def build_model(vocab_size, seq_len):
    return SomeShapes(vocab_size)
'''

# Hunts for the probes: remembers every prefix it has answered in this process and gives the
# remembered (look-ahead) logits again for any row that repeats it, within a batch or across
# batches; honest on nothing else.
PROBE_HUNTER = HONEST + '''
memory = {}


class Hunter(Causal):
    def forward(self, tokens):
        out = super().forward(tokens)
        if self.training:
            return out
        out = out + 8.0 * F.one_hot(torch.roll(tokens, -1, dims=1), self.head.out_features)
        rows = tokens.tolist()
        for b, row in enumerate(rows):
            for t in range(len(row)):
                key = tuple(row[:t + 1])
                if key in memory:
                    out[b, t] = memory[key]
                else:
                    memory[key] = out[b, t].clone()
        return out


def build_model(vocab_size, seq_len):
    return Hunter(vocab_size)
'''

HOSTILE = {
    "peeks_at_the_next_token": PEEK_NEXT,
    "non_causal_convolution": NONCAUSAL_CONV,
    "looks_ahead_on_some_batch_shapes": SHAPE_DEPENDENT,
    "looks_ahead_only_when_evaluated": EVAL_ONLY,
    "replays_remembered_prefixes_to_fool_the_probes": PROBE_HUNTER,
}


def markov_stream(n: int, seed: int) -> np.ndarray:
    """Tokens of a fixed random Markov chain: learnable, so an honest model beats chance."""
    table = np.random.default_rng(0).dirichlet(np.full(VOCAB, 0.3), size=VOCAB)
    rng = np.random.default_rng(seed)
    out = np.zeros(n, np.int64)
    for i in range(1, n):
        out[i] = rng.choice(VOCAB, p=table[out[i - 1]])
    return out


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "markov.npz"
    np.savez(path, tokens_train=markov_stream(SEQ * 400 + 1, 1), tokens_val=markov_stream(SEQ * 40 + 1, 2),
             tokens_test=markov_stream(SEQ * 40 + 1, 3), seq_len=np.int64(SEQ), vocab_size=np.int64(VOCAB))
    return path


@pytest.fixture(scope="module")
def evaluator(backend: str, cache_dir: Path, token_file: Path) -> Iterator[Evaluator]:
    task = TokenFileTask(token_file)
    options = EvalOptions(isolation=backend, slots=1, timeout_s=60.0, memory_limit_gb=1.0, device="cpu")
    ev = Evaluator(task, options, cache_dir=cache_dir)
    try:
        ev.warm_up()
        yield ev
    finally:
        ev.close()


def test_an_honest_causal_model_is_scored_by_loss_with_accuracy_beside(evaluator: Evaluator,
                                                                       tmp_path: Path) -> None:
    result = evaluator.evaluate_one(write_candidate(tmp_path, HONEST))

    assert result.ok, (result.failure, result.log_tail)
    m = result.metrics
    assert m is not None and m.metric == "loss"
    assert m.val_score == m.val_loss and m.test_score == m.test_loss
    assert m.val_loss is not None and m.val_loss < np.log(VOCAB) - 0.1   # learned the chain
    assert m.val_bits == pytest.approx(m.val_loss / np.log(2))
    assert 1 / VOCAB < m.val_accuracy <= 1
    assert m.scored_tokens == 40 * SEQ                         # every position of every val sequence


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_model_that_looks_ahead_fails_as_non_causal(evaluator: Evaluator, tmp_path: Path, case: str) -> None:
    result = evaluator.evaluate_one(write_candidate(tmp_path, HOSTILE[case]))

    assert result.failure is not None and result.failure.kind == FailureKind.NON_CAUSAL, (
        result.failure, result.metrics)
    assert result.metrics is None
    assert "changed by up to" in result.failure.message


def test_the_sandbox_holds_no_evaluation_sequence_while_training(evaluator: Evaluator, tmp_path: Path) -> None:
    # The candidate carries some validation rows and looks for them in every file the training
    # step can read (the data mount and its own folder); finding one fails its build.
    rows = [bytes(np.ascontiguousarray(r).tobytes()) for r in evaluator.data.x_val[:5]]
    spy = HONEST + '''
import glob
import os
import numpy as np

_build = build_model


def build_model(vocab_size, seq_len):
    if not os.path.exists("eval.npz"):  # the scoring steps hold their own half, by design
        for path in glob.glob("/data/**", recursive=True) + glob.glob("**", recursive=True):
            if not os.path.isfile(path) or not path.endswith(".npz"):
                continue
            with np.load(path) as f:
                for key in f.files:
                    blob = np.ascontiguousarray(f[key].astype(np.int64)).tobytes()
                    if any(r in blob for r in __ROWS__):
                        raise RuntimeError(f"found a validation sequence in {path}:{key}")
    return _build(vocab_size, seq_len)
'''
    result = evaluator.evaluate_one(write_candidate(tmp_path, spy, ROWS=rows))

    assert result.ok, (result.failure, result.log_tail)
    files = np.load(sandbox_data_file(evaluator.task, evaluator.data, evaluator.data_dir))
    assert sorted(files.files) == ["x_train", "y_train"]


def test_each_scoring_child_gets_fresh_weights_and_only_its_own_half(evaluator: Evaluator,
                                                                      tmp_path: Path) -> None:
    # A model that counts how many sequences it has scored in this process and writes the count
    # into its weights file: the second child must start from the training step's weights.
    counter = HONEST + '''
import os
import torch

_build = build_model


class Counting(Causal):
    def __init__(self, vocab):
        super().__init__(vocab)
        self.register_buffer("seen", torch.zeros(()))

    def forward(self, tokens):
        if not self.training:
            self.seen += tokens.shape[0]
            torch.save(self.state_dict(), "weights.pt")
            if os.path.exists("../seen_by") and open("../seen_by").read() != str(os.getpid()):
                raise RuntimeError("a file of an earlier step survived")
            with open("../seen_by", "w") as f:
                f.write(str(os.getpid()))
            assert self.seen <= __LIMIT__, f"scored {int(self.seen)} sequences in one child"
        return super().forward(tokens)


def build_model(vocab_size, seq_len):
    return Counting(vocab_size)
'''
    # Each child scores its half and the other half's twins: as many rows as there are sequences
    # (plus the few the ONNX export traces in the training step); two children's worth is far more.
    total = len(evaluator.data.x_val) + len(evaluator.data.x_test)
    result = evaluator.evaluate_one(write_candidate(tmp_path, counter, LIMIT=total + 8))

    assert result.ok, (result.failure, result.log_tail)


def test_the_probe_plan_is_drawn_fresh_for_every_evaluation(token_file: Path) -> None:
    from agentnas.evaluator.causal import make_plan

    data = TokenFileTask(token_file).load(Path(os.devnull))
    a = make_plan(data.x_val, data.y_val, VOCAB, 16)
    b = make_plan(data.x_val, data.y_val, VOCAB, 16)
    assert not np.array_equal(a.cut, b.cut) or not np.array_equal(a.part_of, b.part_of)
    # seeded plans too: a donor sharing a row's prefix once made a twin that copied another row
    seeded = [make_plan(data.x_val, data.y_val, VOCAB, 16, rng=np.random.default_rng(s)) for s in range(40)]
    for plan in (a, b, *seeded):
        # No part holds a sequence together with its own twin.
        tokens = {name: {row.tobytes() for row in part.tokens} for name, part in plan.parts.items()}
        for i, row in enumerate(data.x_val):
            other = "b" if plan.part_of[i] == 0 else "a"
            assert row.tobytes() not in tokens[other]


def test_scoring_reports_why_when_a_child_fails(evaluator: Evaluator, tmp_path: Path) -> None:
    broken = HONEST + '''
_build = build_model


class Breaks(Causal):
    def forward(self, tokens):
        if not self.training and tokens.shape[0] > 2:
            raise ValueError("refusing to be scored")
        return super().forward(tokens)


def build_model(vocab_size, seq_len):
    return Breaks(vocab_size)
'''
    result = evaluator.evaluate_one(write_candidate(tmp_path, broken))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH
    assert "scoring the trained model" in result.failure.message
    assert "refusing to be scored" in result.failure.message


# Token models whose output is not the logits the task scores, and the shape check's verdict.
WRONG_SHAPES = {
    "logits_over_another_vocabulary": (
        HONEST.replace("nn.Linear(width, vocab)", "nn.Linear(width, vocab + 1)"),
        f"forward on tokens (2, {SEQ}) returned (2, {SEQ}, {VOCAB + 1}) torch.float32; "
        f"expected float logits (2, {SEQ}, {VOCAB})"),
    "integer_logits": (
        HONEST.replace("return self.head(h)", "return self.head(h).round().long()"),
        f"forward on tokens (2, {SEQ}) returned (2, {SEQ}, {VOCAB}) torch.int64; "
        f"expected float logits (2, {SEQ}, {VOCAB})"),
    "an_embedding_table_smaller_than_the_vocabulary": (
        HONEST.replace("nn.Embedding(vocab, width)", "nn.Embedding(1, width)"),
        f"forward on tokens (2, {SEQ}) failed: IndexError: index out of range"),
}


@pytest.mark.parametrize("case", sorted(WRONG_SHAPES))
def test_a_token_model_without_float_logits_at_every_position_fails_its_shape_check(
        evaluator: Evaluator, tmp_path: Path, case: str) -> None:
    source, message = WRONG_SHAPES[case]
    assert source != HONEST
    result = evaluator.evaluate_one(write_candidate(tmp_path, source))

    assert result.failure is not None and result.failure.kind == FailureKind.SHAPE, result.failure
    assert result.failure.message.startswith(message), result.failure.message
    assert result.metrics is None
