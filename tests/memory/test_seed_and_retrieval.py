"""Seed knowledge (the shipped insights) and what the prompt builder gets from the memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from memory_support import make_record, word_embedder

import agentnas.memory.seed as seed_module
from agentnas.memory import PromptMemory, load_seed_knowledge, open_memory, read_insights, retrieve_for_prompt
from agentnas.memory.seed import INSIGHTS_FILE, SeedKnowledge
from agentnas.paths import shipped_dir
from agentnas.records import ExperimentStatus, Metrics


def test_shipped_insights_are_forty_or_more_with_full_sources() -> None:
    insights = read_insights()
    assert len(insights) >= 40
    assert len({i.id for i in insights}) == len(insights)
    assert len({i.insight for i in insights}) == len(insights)
    for i in insights:
        assert i.applies_when and i.expected_effect and i.source.title and i.source.authors
        assert 1990 <= i.source.year <= 2025
    topics = {t for i in insights for t in i.tags}
    for topic in ("residual", "depthwise", "normalization", "dilation", "attention", "pooling", "gating", "1d",
                  "token-mixing", "recall", "linear-attention", "state-space"):
        assert topic in topics, topic


def test_a_bad_insight_line_is_named(tmp_path: Path) -> None:
    lines = (shipped_dir("memory") / INSIGHTS_FILE).read_text().splitlines()
    broken = json.loads(lines[2])
    del broken["source"]["year"]
    bad = tmp_path / "insights.jsonl"
    bad.write_text("\n".join([lines[0], lines[1], json.dumps(broken)]) + "\n")
    with pytest.raises(ValueError, match="line 3"):
        read_insights(bad)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[SeedKnowledge, Path]:
    """The shipped insights embedded by the real MiniLM once, cached in a fresh folder."""
    cache = tmp_path_factory.mktemp("seed-cache")
    return load_seed_knowledge(cache), cache


def test_insights_are_embedded_once_then_read_from_the_cache(seeded: tuple[SeedKnowledge, Path],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    first, cache = seeded
    assert len(first) == len(read_insights())
    assert list((cache / "memory-seed").glob("insights-*.npy"))

    def no_model(cache_dir: Path | None = None) -> object:
        raise AssertionError("the text model was asked for although the vectors are cached")

    monkeypatch.setattr(seed_module, "minilm_embedder", lambda cache_dir=None: lambda texts: no_model())
    second = load_seed_knowledge(cache)
    np.testing.assert_allclose(second.vectors, first.vectors)
    found = [i.id for i, _ in first.search(first.vectors[first.insights.index(first.get("group-normalization"))]
                                           , 1)]
    assert found == ["group-normalization"]


@pytest.mark.parametrize(("question", "expected"), [
    ("dilated convolutions to see long context in a 1D signal",
     {"dilated-convolutions-context", "wavenet-dilated-causal-stack", "tcn-over-rnn"}),
    ("normalisation that works with very small batches", {"group-normalization", "layer-normalization"}),
    ("the model overfits the training set", {"dropout-regularisation", "stochastic-depth"}),
    ("a token mixer that recalls the value of a key seen earlier in the sequence",
     {"associative-recall-gap", "recall-needs-state-size", "shift-and-multiply-for-recall",
      "delta-rule-linear-attention"}),
    ("replace softmax attention with a linear-time recurrence for causal language modelling",
     {"linear-attention-recurrence", "gated-linear-attention", "multi-scale-retention"}),
    ("input-dependent state space model with selective forgetting", {"selective-state-space"}),
    ("long convolutions instead of attention", {"implicit-long-convolution-gating"}),
])
def test_search_by_meaning_finds_the_relevant_insight(seeded: tuple[SeedKnowledge, Path], question: str,
                                                      expected: set[str]) -> None:
    seed, _ = seeded
    top = [i.id for i, _ in seed.search(question, 3)]
    assert expected & set(top), top


def test_retrieve_for_prompt_gives_past_experiments_of_the_task_and_insights_with_ids(tmp_path: Path) -> None:
    insights = read_insights()
    seed = SeedKnowledge(insights, word_embedder([i.text() for i in insights]))
    with open_memory(tmp_path / "memory", embedder=word_embedder) as store:
        store.add_many([make_record(i, task="mnist1d" if i < 8 else "digits") for i in range(12)])
        memory = retrieve_for_prompt(store, "mnist1d", "try dilated convolutions for the signal", k=3, k_insights=2,
                                     seed=seed, embedder=word_embedder)
        assert len(memory.experiments) == 3 and len(memory.insights) == 2
        assert all(e.task == "mnist1d" for e in memory.experiments)
        assert memory.experiments[0].hypothesis.endswith("try dilated convolutions for the signal")
        text = memory.render()
        for e in memory.experiments:
            assert f"[{e.id}]" in text
        for i in memory.insights:
            assert f"[{i.id}]" in text and i.source in text
        assert text == retrieve_for_prompt(store, "mnist1d", "try dilated convolutions for the signal", k=3,
                                           k_insights=2, seed=seed, embedder=word_embedder).render()
        both = retrieve_for_prompt(store, "mnist1d", "try dilated convolutions", k=3, seed=seed,
                                   embedder=word_embedder, arch_vector=make_record(6).arch_embedding)
        assert "e6" in [e.id for e in both.experiments] and both.experiments[0].by == "both"
        empty = retrieve_for_prompt(store, "cifar", "anything", seed=seed, embedder=word_embedder)
        assert empty.experiments == [] and "(none yet)" in empty.render()


def test_retrieved_token_experiments_give_their_loss_by_name_and_the_accuracy_beside_it(tmp_path: Path) -> None:
    token = make_record(0, task="mqar-easy", id="t0", status=ExperimentStatus.OK, hypothesis="gated causal mixer",
                        metrics=Metrics(metric="loss", val_loss=1.2, test_loss=1.25, val_accuracy=0.41,
                                        test_accuracy=0.4))
    failed = make_record(2, task="mqar-easy", id="t2", hypothesis="gated causal mixer too wide")
    with open_memory(tmp_path / "memory", embedder=word_embedder) as store:
        store.add_many([token, failed, make_record(3, task="mnist1d", hypothesis="gated causal mixer")])
        memory = retrieve_for_prompt(store, "mqar-easy", "gated causal mixer", k=3, embedder=word_embedder)
        classes = retrieve_for_prompt(store, "mnist1d", "gated causal mixer", k=1, embedder=word_embedder)
    found = {e.id: e for e in memory.experiments}
    assert set(found) == {"t0", "t2"}
    t0 = found["t0"]
    assert (t0.metric, t0.score, t0.val_accuracy, t0.test_accuracy) == ("loss", 1.2, 0.41, 0.4)
    text = memory.render()
    assert "[t0] gated causal mixer -> val loss 1.2000 (lower is better), val acc 0.4100" in text
    assert "[t2] gated causal mixer too wide -> failed (shape)" in text and "val acc 1.2" not in text
    assert t0.prompt_outcome() == "val loss 1.2000 (lower is better), val acc 0.4100"
    (e3,) = classes.experiments  # accuracy tasks say what they always said
    assert e3.metric == "accuracy" and e3.score == e3.val_accuracy == 0.53
    assert f"[e3] gated causal mixer -> val acc {0.53:.4f}" in classes.render()
    assert e3.prompt_outcome() == "val 0.53"


def test_a_retrieval_journaled_before_scores_builds_the_prompt_it_built_then() -> None:
    old = {"task": "mnist1d", "query": "q", "insights": [], "experiments": [
        {"id": "e1", "task": "mnist1d", "status": "ok", "hypothesis": "h", "val_accuracy": 0.81,
         "test_accuracy": 0.8, "distance": 0.1, "by": "text"},
        {"id": "e2", "task": "mnist1d", "status": "failed", "hypothesis": "h", "val_accuracy": None,
         "failure_kind": "shape", "distance": 0.2, "by": "text"}]}
    replayed = PromptMemory.model_validate(old)
    assert [e.prompt_outcome() for e in replayed.experiments] == ["val 0.81", "val None"]
    assert PromptMemory.model_validate(replayed.model_dump(mode="json")) == replayed


def test_a_token_task_prompt_gets_sequence_model_insights_with_their_papers(seeded: tuple[SeedKnowledge, Path],
                                                                             tmp_path: Path) -> None:
    from agentnas.memory.text import minilm_embedder

    seed, cache = seeded
    with open_memory(tmp_path / "memory", embedder=word_embedder) as store:
        memory = retrieve_for_prompt(store, "mqar-easy", "multi-query associative recall of keys seen earlier",
                                     k_insights=3, seed=seed, embedder=minilm_embedder(cache))
    ids = [i.id for i in memory.insights]
    assert "associative-recall-gap" in ids, ids
    cited = "Arora et al. (2023), Zoology: Measuring and Improving Recall in Efficient Language Models"
    assert cited in memory.render()
