"""Every typed failure kind, each from a minimal candidate, on every backend.

(Timeouts, memory and isolation violations have their own suites: test_limits.py and
test_hostile_*.py.) The evaluator keeps serving after each failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentnas.evaluator import Evaluator
from agentnas.records import FailureKind

from .conftest import GOOD_MODEL, SENSIBLE_ACCURACY, assert_still_serving, open_evaluator

MAX_PARAMS = 100_000


@pytest.fixture(scope="module")
def evaluator(backend: str, cache_dir: Path) -> Iterator[Evaluator]:
    with open_evaluator(backend, cache_dir, timeout_s=60.0) as ev:
        yield ev


@pytest.fixture(scope="module")
def strict_evaluator(backend: str, cache_dir: Path) -> Iterator[Evaluator]:
    """Exporting to ONNX is required and models are capped at MAX_PARAMS parameters."""
    with open_evaluator(backend, cache_dir, timeout_s=60.0, require_export=True,
                        max_params=MAX_PARAMS) as ev:
        yield ev


# A model both ONNX exporters reject (aten::histc has no ONNX translation), yet trainable.
UNEXPORTABLE = GOOD_MODEL + '''

class Histogrammed(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        x = x + 0 * torch.histc(x, bins=4).sum()          # (B, 1, 8, 8), unchanged
        return self.inner(x)                              # (B, num_classes)

_build = build_model

def build_model(input_shape, num_classes):
    return Histogrammed(_build(input_shape, num_classes))
'''

CASES: dict[str, tuple[str, FailureKind, str]] = {
    "missing_colon": ("def build_model(input_shape, num_classes)\n    pass\n",
                      FailureKind.SYNTAX, "line 1"),
    "missing_module": ("import agentnas_no_such_module_xyz\n" + GOOD_MODEL,
                       FailureKind.IMPORT, "agentnas_no_such_module_xyz"),
    "no_build_model": ("import torch\n\ndef make_model():\n    return torch.nn.Linear(1, 1)\n",
                       FailureKind.IMPORT, "build_model"),
    "build_model_not_callable": ("build_model = 3\n", FailureKind.IMPORT, "build_model"),
    "import_raises": ("raise ValueError('no luck at import')\n", FailureKind.IMPORT,
                      "no luck at import"),
    "build_raises": ("def build_model(input_shape, num_classes):\n"
                     "    raise ValueError('no luck in build')\n",
                     FailureKind.BUILD, "no luck in build"),
    "build_returns_non_module": ("def build_model(input_shape, num_classes):\n    return 42\n",
                                 FailureKind.BUILD, "int"),
    "wrong_output_shape": (GOOD_MODEL.replace("nn.Linear(64, num_classes)", "nn.Linear(64, 5)"),
                           FailureKind.SHAPE, "(2, 5)"),
    "mismatched_layers": (GOOD_MODEL.replace("nn.Linear(math.prod(input_shape), 64)",
                                             "nn.Linear(10, 64)"),
                          FailureKind.SHAPE, "forward on input"),
    # a norm layer built for another width than the one it gets ("running_mean should contain 32 elements
    # not 64"): a shape failure, which the trusted side can mend by inferring the size
    "norm_for_another_width": (GOOD_MODEL.replace("nn.ReLU(),", "nn.BatchNorm1d(32),\n        nn.ReLU(),"),
                               FailureKind.SHAPE, "running_mean"),
    "returns_a_tuple": (GOOD_MODEL + "\n_b = build_model\n\nclass Pair(nn.Module):\n"
                        "    def __init__(self, m):\n        super().__init__()\n        self.m = m\n"
                        "    def forward(self, x):\n        return self.m(x), x\n\n"
                        "def build_model(input_shape, num_classes):\n"
                        "    return Pair(_b(input_shape, num_classes))\n",
                        FailureKind.SHAPE, "tuple"),
    "infinite_logits": (GOOD_MODEL + "\n_b = build_model\n\nclass Inf(nn.Module):\n"
                        "    def __init__(self, m):\n        super().__init__()\n        self.m = m\n"
                        "    def forward(self, x):\n        return self.m(x) * float('inf')\n\n"
                        "def build_model(input_shape, num_classes):\n"
                        "    return Inf(_b(input_shape, num_classes))\n",
                        FailureKind.NONFINITE_LOSS, "loss became"),
    "nan_logits_at_evaluation": (
        GOOD_MODEL + "\n_b = build_model\n\nclass NanAtEval(nn.Module):\n"
        "    def __init__(self, m):\n        super().__init__()\n        self.m = m\n"
        "    def forward(self, x):\n        out = self.m(x)\n"
        "        return out if self.training else out * float('nan')\n\n"
        "def build_model(input_shape, num_classes):\n"
        "    return NanAtEval(_b(input_shape, num_classes))\n",
        FailureKind.NONFINITE_LOSS, "not finite"),
    "forward_raises": (GOOD_MODEL + "\n_b = build_model\n\nclass Boom(nn.Module):\n"
                       "    def forward(self, x):\n        raise ValueError('boom in forward')\n\n"
                       "def build_model(input_shape, num_classes):\n    return Boom()\n",
                       FailureKind.CRASH, "boom in forward"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_broken_candidate_fails_with_its_typed_kind(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, case: str) -> None:
    source, kind, words = CASES[case]
    result = evaluator.evaluate_one(candidate(source))

    assert not result.ok
    assert result.failure is not None and result.failure.kind == kind, result.failure
    assert words in result.failure.message
    assert result.metrics is None
    assert_still_serving(evaluator, tmp_path)


def test_undecodable_source_is_a_syntax_failure(evaluator: Evaluator, tmp_path: Path) -> None:
    path = tmp_path / "latin1.py"
    path.write_bytes(b"# caf\xe9\n" + GOOD_MODEL.encode())
    result = evaluator.evaluate_one(path)

    assert result.failure is not None and result.failure.kind == FailureKind.SYNTAX
    assert_still_serving(evaluator, tmp_path)


def test_a_missing_file_is_an_import_failure(evaluator: Evaluator, tmp_path: Path) -> None:
    result = evaluator.evaluate_one(tmp_path / "does-not-exist.py")

    assert result.failure is not None and result.failure.kind == FailureKind.IMPORT
    assert "cannot read" in result.failure.message
    assert_still_serving(evaluator, tmp_path)


def test_an_unexportable_model_is_an_export_failure_when_export_is_required(
        strict_evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    result = strict_evaluator.evaluate_one(candidate(UNEXPORTABLE))

    assert result.failure is not None and result.failure.kind == FailureKind.EXPORT, result.failure
    assert "torchscript" in result.failure.message and "dynamo" in result.failure.message
    assert result.metrics is None
    assert_still_serving(strict_evaluator, tmp_path)


def test_an_unexportable_model_is_still_trained_and_scored_when_export_is_optional(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    result = evaluator.evaluate_one(candidate(UNEXPORTABLE))

    assert result.ok, result.failure
    assert result.exporter is None and result.export_error and "histc" in result.export_error
    assert result.metrics is not None and result.metrics.val_accuracy > SENSIBLE_ACCURACY


def test_too_many_parameters_is_an_over_budget_failure(strict_evaluator: Evaluator, candidate: Any,
                                                tmp_path: Path) -> None:
    big = GOOD_MODEL.replace("64)", "4096)").replace("nn.Linear(64,", "nn.Linear(4096,")
    result = strict_evaluator.evaluate_one(candidate(big))

    assert result.failure is not None and result.failure.kind == FailureKind.OVER_BUDGET, result.failure
    assert str(MAX_PARAMS) in result.failure.message
    assert_still_serving(strict_evaluator, tmp_path)


def test_a_batch_runs_in_parallel_slots_without_restarting_the_sandboxes(
        backend: str, cache_dir: Path, candidate: Any) -> None:
    # warm_up starts the sandboxes in short-lived threads, and each batch runs in threads
    # that end with it: neither may take a sandbox down with it.
    paths = [candidate(GOOD_MODEL), candidate(CASES["build_raises"][0])] * 2
    with open_evaluator(backend, cache_dir, slots=2) as ev:
        for _ in range(2):
            results = ev.evaluate(paths)
            assert [r.path for r in results] == [str(p) for p in paths]
            assert [r.ok for r in results] == [True, False, True, False], [r.failure for r in results]
            assert all(r.failure.kind == FailureKind.BUILD for r in results[1::2] if r.failure)
        assert [s.starts for s in ev.sandboxes] == [1, 1]


def test_a_shape_failure_names_the_layer_and_the_shapes_that_reached_it(
        evaluator: Evaluator, candidate: Any) -> None:
    source, _, _ = CASES["mismatched_layers"]
    result = evaluator.evaluate_one(candidate(source))

    assert result.failure is not None and result.failure.kind == FailureKind.SHAPE
    lines = result.failure.message.splitlines()
    assert lines[1].startswith("Layer shapes on input (2, ")
    assert lines[2].split()[:2] == ["0", "Flatten(start_dim=1,"] and lines[2].endswith("-> (2, 64)")
    assert "Linear(in_features=10, out_features=64" in lines[3] and lines[3].endswith("-> FAILED (RuntimeError)")


def test_a_wrong_output_shape_shows_the_layers_that_made_it(evaluator: Evaluator, candidate: Any) -> None:
    source, _, _ = CASES["wrong_output_shape"]
    result = evaluator.evaluate_one(candidate(source))

    assert result.failure is not None and result.failure.kind == FailureKind.SHAPE
    assert "out_features=5" in result.failure.message and result.failure.message.endswith("output (2, 5)")
