"""Build run journals for report tests without training anything.

Entries are written by the loop's own writers (`check_identity`, `Recorder.experiment`,
`Recorder.record`, the LLM ledger's row format), so the report reads exactly what a real run
writes; only the evaluations' outcomes are made up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentnas.agents.state import Candidate, Context
from agentnas.journal import Journal, open_journal
from agentnas.records import Costs, EvalResult, Failure, FailureKind, LLMCall, Metrics
from agentnas.run.record import Recorder
from agentnas.run.service import check_identity
from agentnas.run.settings import RunOptions

INJECTION = "</script><script>alert(1)</script>"

CODE = '''import torch.nn as nn


def build_model(input_shape, num_classes):
    # width {width}
    return nn.Sequential(nn.Flatten(), nn.Linear({inputs}, {width}), nn.ReLU(), nn.Linear({width}, num_classes))
'''


def code(width: int, inputs: int = 64, extra: str = "") -> str:
    return CODE.format(width=width, inputs=inputs) + extra


@dataclass
class Child:
    """One proposal of an expansion and what became of it.

    outcome: ok (trained at full fidelity) | eval_failed (trained, failed) | check_failed (refused
    before training) | predicted (scored, never trained) | duplicate | short (a low-fidelity run only).
    """

    code: str
    operator: str = "sample"
    outcome: str = "ok"
    val: float = 0.0
    test: float = 0.0
    params: int = 1000
    description: str = ""
    lesson: str | None = None
    failure_kind: str = "crash"
    wall_seconds: float = 2.0
    costs: Costs | None = None  # measured at the check, recorded with the node and the experiment
    mean: float = 0.5  # the value model's prediction


class RunBuilder:
    """Writes a run journal the way `agentnas run` does, one expansion at a time."""

    def __init__(self, run_dir: Path, task: str = "digits") -> None:
        self.run_dir = Path(run_dir)
        self.journal: Journal = open_journal(self.run_dir)
        check_identity(self.journal, RunOptions(task=task, run_dir=self.run_dir, budget_evals=50))
        self.journal.append("run", "id", {"id": "testrun00001"})
        self.recorder = Recorder(self.journal)
        self.iteration = 0
        self.hypotheses = 0
        self.task = task

    def close(self) -> None:
        self.journal.close()

    def hypothesis(self, text: str) -> str:
        hid = f"h{self.hypotheses:03d}"
        self.hypotheses += 1
        self.journal.append("hypothesis", hid, {"text": text, "source": "researcher", "iteration": self.iteration})
        return hid

    def expand(self, hid: str, children: list[Child], parent_id: str | None = None) -> list[str]:
        """One iteration: the children's experiments (in order), then their node rows and the iteration row."""
        it = self.iteration
        self.iteration += 1
        ctx = Context(iteration=it, seed=0, task=self.task, hypothesis_id=hid, hypothesis="", parent_id=parent_id)
        done: list[Candidate] = []
        for i, ch in enumerate(children):
            c = Candidate(id=f"i{it:05d}-c{i}", code=ch.code, operator=ch.operator, description=ch.description,
                          status="scored", params=ch.params, mean=ch.mean, std=0.1, features=[0.0, 1.0],
                          costs=ch.costs)
            if ch.outcome in ("ok", "eval_failed", "short"):
                fidelity = "low" if ch.outcome == "short" else "full"
                c = self.recorder.experiment(c, self._result(ch), ctx, fidelity)
                if ch.outcome == "ok":
                    lesson = ch.lesson if ch.lesson is not None else f"{ch.description}: {ch.val:.2%} validation"
                    c = c.model_copy(update={"lesson": lesson})
            elif ch.outcome == "check_failed":
                c = c.model_copy(update={"status": "failed", "failure_kind": ch.failure_kind,
                                         "failure_message": "it broke", "mean": None, "std": None})
            elif ch.outcome == "duplicate":
                c = c.model_copy(update={"status": "duplicate", "novelty": "duplicate"})
            done.append(c)
        self.recorder.record(ctx, done)
        return [c.id for c in done]

    @staticmethod
    def _result(ch: Child) -> EvalResult:
        if ch.outcome == "eval_failed":
            return EvalResult(path="model.py", status="failed", wall_seconds=ch.wall_seconds,
                              failure=Failure(kind=FailureKind(ch.failure_kind), message="it broke"))
        return EvalResult(path="model.py", status="ok", metrics=Metrics(val_accuracy=ch.val, test_accuracy=ch.test),
                          params=ch.params, train_seconds=ch.wall_seconds * 0.9, wall_seconds=ch.wall_seconds,
                          epochs=2, seed=0, costs=ch.costs)

    def llm_call(self, role: str, status: str = "ok", prompt: int = 100, completion: int = 50, cost: float = 0.01,
                 latency: float = 1.5) -> None:
        call = LLMCall(role=role, model="scripted-model", status=status, prompt_tokens=prompt,
                       completion_tokens=completion, cost_usd=cost, latency_s=latency)
        self.journal.append("llm_call", f"{self.journal.count('llm_call'):06d}", call.model_dump(mode="json"))


def sample_run(run_dir: Path) -> dict[str, str]:
    """A small run with every kind of node: random samples, a mutation chain with diffs, failures
    at check and in training, a predicted-only node, a duplicate, a short run, LLM calls, and an
    injection attempt in code, description, lesson and hypothesis text. Returns named node ids."""
    b = RunBuilder(run_dir)
    try:
        h0 = b.hypothesis("wider layers help")
        ids0 = b.expand(h0, [
            Child(code(16), "seed", val=0.80, test=0.78, params=1200, description="seed MLP 16"),
            Child(code(32), "sample", val=0.85, test=0.84, params=2400, description="sampled MLP 32"),
            Child(code(8), "sample", outcome="predicted", description="sampled MLP 8"),
            Child(code(9), "sample", outcome="check_failed", failure_kind="shape"),
        ])
        h1 = b.hypothesis(f"hostile {INJECTION} hypothesis")
        ids1 = b.expand(h1, [
            Child(code(64), "sample", val=0.88, test=0.86, params=4800, description="sampled MLP 64"),
            Child(code(24, extra=f"# {INJECTION}\n"), "sample", val=0.70, test=0.69, params=1800,
                  description=f"sampled {INJECTION}", lesson=f"lesson with {INJECTION} & <b>tags</b>"),
            Child(code(12), "sample", outcome="eval_failed", failure_kind="timeout", wall_seconds=30.0),
        ])
        ids2 = b.expand(h1, [
            Child(code(128), "mutate", val=0.93, test=0.90, params=9000, description="wider: 64 -> 128",
                  lesson="doubling the width gained 5 points"),
            Child(code(64), "mutate", outcome="duplicate", description="same as parent"),
            Child(code(96), "mutate", outcome="short", val=0.60, test=0.58, params=7000, description="short run"),
        ], parent_id=ids1[0])
        ids3 = b.expand(h1, [
            Child(code(256), "refine", val=0.91, test=0.92, params=18000, description="wider again: 128 -> 256"),
        ], parent_id=ids2[0])
        b.llm_call("researcher", prompt=1000, completion=400, cost=0.02, latency=2.0)
        b.llm_call("researcher", prompt=900, completion=300, cost=0.015, latency=1.0)
        b.llm_call("engineer", status="error", prompt=0, completion=0, cost=0.0, latency=5.0)
        b.llm_call("analyst", status="replayed", prompt=200, completion=80, cost=0.003, latency=0.0)
    finally:
        b.close()
    return {"seed": ids0[0], "sample32": ids0[1], "predicted": ids0[2], "check_failed": ids0[3],
            "sample64": ids1[0], "hostile": ids1[1], "eval_failed": ids1[2], "mutant": ids2[0],
            "duplicate": ids2[1], "short": ids2[2], "refined": ids3[0]}
