"""`agentnas bench llm`'s comparison: both proposers run for real (the LLM one against the scripted
server through the real client), and every figure is read back from the runs' journals."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripted_openai import RecordedRequest, Reply, ScriptedOpenAI

from agentnas.bench.proposers import compare
from agentnas.config import load_config

MLP = """import torch.nn as nn


def build_model(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear({h}), nn.ReLU(), nn.LazyLinear(num_classes))
"""


def handler() -> object:
    widths = iter(range(16, 4000, 8))

    def reply(req: RecordedRequest) -> Reply:
        text = " ".join(str(m.get("content", "")) for m in req.messages)
        if "Write the lesson" in text:
            return Reply.json({"lesson": "wider hidden layers help", "evidence": []})
        if "Propose one new hypothesis" in text:
            return Reply.json({"title": "width", "text": "wider MLPs fit digits better", "rationale": "none"})
        if "Diagnose the failure" in text:
            return Reply.json({"diagnosis": "fixed", "code": MLP.format(h=next(widths))})
        return Reply.text(f"A wider hidden layer.\n```python\n{MLP.format(h=next(widths))}```\n")

    return reply


def test_the_comparison_reports_each_proposer_from_its_journal_and_resumes(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cfg = load_config(None, cache_dir=tmp_path / "cache", slots=1, epochs=1)
    with ScriptedOpenAI(handler=handler()) as server:
        args = {"task": "digits", "evals": 2, "out_dir": tmp_path / "out", "llm_seeds": [0], "offline_seeds": [0],
                "base_url": server.base_url, "model": "scripted-model", "epochs": 1}
        report = compare(cfg, **args)  # type: ignore[arg-type]
        asked = len(server.chat_requests)
        again = compare(cfg, **args)  # type: ignore[arg-type]
        assert len(server.chat_requests) == asked  # both runs were done: nothing asked again
    off, llm = report["runs"]["offline-s0"], report["runs"]["llm-s0"]
    assert off["evaluations"] == llm["evaluations"] == 2 and off["llm_calls"] == 0
    assert off["proposals"]["fallbacks"] == 0 and off["duplicate_trainings"] == llm["duplicate_trainings"] == 0
    assert llm["llm_calls"] == sum(llm["llm_calls_by_role"].values()) > 0 and llm["llm_calls_by_role"]["researcher"]
    ops = llm["checked_by_operator"]
    assert sum(r["checked"] for r in ops.values()) == llm["proposals"]["checked"] > 0
    assert sum(r["valid"] for r in ops.values()) == llm["proposals"]["valid_after_repair"]
    assert 0.0 < llm["best_val_accuracy"] <= 1.0 and llm["wall_s"] > 0
    assert report["offline"]["best_val"]["n"] == report["llm"]["best_val"]["n"] == 1
    assert again["runs"]["llm-s0"]["evaluations"] == 2
