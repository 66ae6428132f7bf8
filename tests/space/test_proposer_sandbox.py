"""Proposals pass the real sandbox: checked (import, build, shape, params, ONNX) and trained there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from grammar_support import small_proposer

from agentnas.evaluator import EvalOptions, Evaluator, IsolationUnavailable, get_isolation
from agentnas.space import Proposal
from agentnas.tasks import get_task


@pytest.fixture(scope="module")
def digits_evaluator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluator]:
    try:
        get_isolation("auto")
    except IsolationUnavailable as e:
        pytest.skip(f"no sandbox isolation here: {e}")
    options = EvalOptions(isolation="auto", slots=1, timeout_s=60.0, memory_limit_gb=1.0, device="cpu",
                          require_export=True, epochs=2)
    ev = Evaluator(get_task("digits"), options, cache_dir=tmp_path_factory.mktemp("cache"))
    try:
        ev.warm_up()
        yield ev
    finally:
        ev.close()


def _write(folder: Path, proposals: list[Proposal]) -> list[Path]:
    paths = []
    for i, p in enumerate(proposals):
        path = folder / f"proposal_{i}.py"
        path.write_text(p.code)
        paths.append(path)
    return paths


def test_samples_mutations_and_recombinations_pass_the_sandbox(digits_evaluator: Evaluator, tmp_path: Path) -> None:
    proposer = small_proposer((1, 8, 8))
    samples = proposer.propose(None, "", k=3, seed=11)
    kids = proposer.propose(samples[0].arch, "attention", k=2, seed=12)
    child = proposer.recombine(samples[1].arch, samples[2].arch, seed=13)
    proposals = [*samples, *kids, child]
    results = digits_evaluator.evaluate(_write(tmp_path, proposals))
    for p, r in zip(proposals, results, strict=True):
        assert r.ok, f"{p.operator} {p.description}: {r.failure} {r.log_tail}"
        assert r.params == p.params
        assert r.exporter == "torchscript", r.export_error
        assert r.metrics is not None and r.metrics.val_accuracy > 0.2, (p.description, r.metrics)
