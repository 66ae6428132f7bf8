"""The reference set that turns a zero-shot score into a percentile."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agentnas.tasks import get_task
from agentnas.value.reference import (
    SHIPPED_DIR,
    SHIPPED_TASKS,
    Reference,
    file_sha256,
    reference_digest,
    reference_sources,
    without_proxies,
)
from agentnas.value.zeroshot import PRETRAINED


def test_percentile_is_the_share_of_the_reference_scored_lower_from_the_same_inputs() -> None:
    ref = Reference(digest="x", input_shape=(1, 40), num_classes=10, with_proxies=np.array([1.0, 2.0, 3.0, 4.0]),
                    graph_only=np.array([-40.0, -30.0, -20.0, -10.0]))
    assert ref.percentile(0.0, proxies=True) == 0.0 and ref.percentile(9.0, proxies=True) == 100.0
    assert ref.percentile(2.5, proxies=True) == 50.0
    assert ref.percentile(2.0, proxies=True) == 37.5  # a tie counts half
    assert ref.percentile(-25.0, proxies=False) == 50.0  # placed among the graph-only scores
    assert ref.percentile(-25.0, proxies=True) == 0.0


@pytest.mark.parametrize("task", SHIPPED_TASKS)
def test_the_shipped_references_are_current_for_the_shipped_model_and_grammar(task: str) -> None:
    spec = get_task(task).spec
    shape = tuple(int(s) for s in spec.input_shape)
    sources = reference_sources(shape, spec.num_classes)
    assert len(set(sources)) == len(sources) == 100
    digest = reference_digest(file_sha256(PRETRAINED), shape, spec.num_classes, sources)
    shipped = SHIPPED_DIR / f"{digest[:16]}.json"
    assert shipped.is_file(), ("the value model, the grammar or the features changed: run "
                               "`python -m agentnas.value.reference` to score the reference sets again")
    reference = Reference.from_json(json.loads(shipped.read_text(encoding="utf-8")))
    assert reference.digest == digest and len(reference.with_proxies) == len(reference.graph_only) == 100
    assert reference.input_shape == shape and reference.num_classes == spec.num_classes


@pytest.mark.usefixtures("bench_data")
def test_graph_only_reference_encodings_equal_encodings_made_without_proxies() -> None:
    from agentnas.value.spaces import encode_architecture, sample_keys

    key = sample_keys("macro", 1, 3)[0]
    measured = encode_architecture("macro", key, "features", proxies=True).array()
    bare = encode_architecture("macro", key, "features", proxies=False).array()
    assert not np.array_equal(measured, bare)
    np.testing.assert_array_equal(without_proxies(measured[None], "features")[0], bare)
