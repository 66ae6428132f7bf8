"""A discovery run with `--proposer llm` against a scripted OpenAI-compatible server.

Measures, from the run's own journal: the valid-code rate of proposals before and after
the engineer's repair, LLM calls / tokens / cost per evaluated candidate, and proposal
latency (researcher calls). The scripted "model" answers a share `--broken` of proposals
with code that fails the sandbox check (an undefined name) and repairs every failure it
is shown, so the figures measure the pipeline (parsing, checking, repair routing), not a
model's skill. Prices are set in a temporary agentnas.toml so cost is non-zero.

    .venv/bin/python benchmarks/llm_run.py --evals 8 --broken 0.3 [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from scripted_openai import RecordedRequest, Reply, ScriptedOpenAI  # noqa: E402

MLP = """import torch.nn as nn


def build_model(input_shape, num_classes):
    width = 1
    for d in input_shape:
        width *= d
    return nn.Sequential(nn.Flatten(), nn.Linear(width, {h}), nn.ReLU(), nn.Linear({h}, num_classes))
"""
BROKEN = "def build_model(input_shape, num_classes):\n    return not_defined_anywhere\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evals", type=int, default=8)
    ap.add_argument("--broken", type=float, default=0.3)
    ap.add_argument("--task", default="digits")
    ap.add_argument("--value-model", default=None, help="passed to agentnas run (default: the shipped one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    counter = itertools.count()

    def handler(req: RecordedRequest) -> Reply:
        text = " ".join(str(m.get("content", "")) for m in req.messages)
        n = next(counter)
        if "Diagnose the failure" in text:
            return Reply.json({"diagnosis": "undefined name", "code": MLP.format(h=64 + n)})
        if "Write the lesson" in text:
            return Reply.json({"lesson": "width matters on this task", "evidence": []})
        if "Propose one new hypothesis" in text:
            return Reply.json({"title": f"idea {n}", "text": "vary the hidden width", "rationale": ""})
        broken = (n * 0.6180339887) % 1.0 < args.broken  # a deterministic low-discrepancy share
        return Reply.json({"rationale": f"hidden width {16 + n}", "code": BROKEN if broken else MLP.format(h=16 + n)})

    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAI(handler=handler) as server:
        cfg = Path(tmp) / "agentnas.toml"
        cfg.write_text('[llm]\n[llm.prices.scripted-model]\nprompt_usd_per_m = 0.5\ncompletion_usd_per_m = 1.5\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTNAS_"))}
        env.update(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="bench", AGENTNAS_CONFIG=str(cfg))
        run_dir = Path(tmp) / "run"
        started = time.monotonic()
        done = subprocess.run([str(Path(sys.executable).parent / "agentnas"), "run", "--task", args.task,
                               "--proposer", "llm", "--llm-model", "scripted-model", "--budget-evals",
                               str(args.evals), "--k", "4", "--epochs", "2", "--run-dir", str(run_dir), "--json",
                               "--memory", str(Path(tmp) / "memory"),
                               *(["--value-model", args.value_model] if args.value_model else [])],
                              capture_output=True, text=True, env=env, cwd=tmp, check=False)
        wall = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(f"run failed ({done.returncode}):\n{done.stderr[-3000:]}")
        doc = json.loads(done.stdout)
        sys.path.insert(0, str(ROOT))
        from agentnas.journal import open_journal

        with open_journal(run_dir, read_only=True) as j:
            calls = [e.payload for e in j.entries("llm_call")]
    researcher = [c["latency_s"] for c in calls if c["role"] == "researcher" and c["status"] == "ok"]
    p = doc["proposals"]
    n_eval = len(doc["experiments"])
    report = {
        "task": args.task, "evaluations": n_eval, "wall_seconds": round(wall, 1), "broken_share": args.broken,
        "proposals": p["total"],
        "valid_before_repair": round(p["valid_first_try"] / max(p["total"], 1), 3),
        "valid_after_repair": round(p["valid_after_repair"] / max(p["total"], 1), 3),
        "llm_calls_per_evaluated": round(doc["llm"]["calls"] / max(n_eval, 1), 2),
        "tokens_per_evaluated": round((doc["llm"]["prompt_tokens"] + doc["llm"]["completion_tokens"])
                                      / max(n_eval, 1), 1),
        "cost_usd_per_evaluated": round(doc["llm"]["cost_usd"] / max(n_eval, 1), 6),
        "proposal_latency_p50_ms": round(1000 * statistics.median(researcher), 1) if researcher else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:28s} {v}")


if __name__ == "__main__":
    main()
