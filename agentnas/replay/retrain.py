"""The bodies of `agentnas replay`: replay and compare, fork, retrain with new seeds."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from agentnas.config import AgentnasConfig
from agentnas.journal import open_journal
from agentnas.journal.tree import RunTree
from agentnas.run.settings import RunError, RunOptions


def retrain(source_dir: Path, top: int, seeds: int, cfg: AgentnasConfig) -> list[dict[str, Any]]:
    """Train the recorded top `top` candidates again with seeds 1..`seeds` (the recorded run
    used the recipe's seed) and report each one's mean, spread and delta to the record."""
    from agentnas.evaluator import EvalOptions, Evaluator
    from agentnas.tasks import get_task

    with open_journal(source_dir, read_only=True) as j:
        tree = RunTree.from_journal(j)
        config = j.get("run", "config")
    if config is None:
        raise RunError(f"{source_dir} has no run configuration")
    options = RunOptions.model_validate({**config.payload, "run_dir": str(source_dir)})
    best = tree.ranked()[:top]  # by the task metric, in its direction
    files = [source_dir / "candidates" / n.id / "model.py" for n in best]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise RunError(f"candidate files are missing: {', '.join(missing)}")
    task = get_task(options.task)
    runs: dict[str, list[tuple[float, float]]] = {n.id: [] for n in best}
    for seed in range(1, seeds + 1):
        eval_options = EvalOptions(epochs=options.epochs, seed=seed, slots=cfg.slots, isolation=cfg.isolation,
                                   allow_unsafe=cfg.unsafe_no_isolation, timeout_s=cfg.timeout_s,
                                   export_onnx=False, device=cfg.device)
        with tempfile.TemporaryDirectory() as tmp, Evaluator(task, eval_options, cache_dir=cfg.cache_dir,
                                                             out_dir=Path(tmp)) as evaluator:
            for node, result in zip(best, evaluator.evaluate(files), strict=True):
                if result.ok and result.metrics is not None:
                    runs[node.id].append((result.metrics.val_accuracy, result.metrics.test_accuracy))
    rows = []
    for node in best:
        vals = [v for v, _ in runs[node.id]]
        tests = [t for _, t in runs[node.id]]
        rows.append({
            "id": node.id, "recorded_val": node.val_accuracy, "recorded_test": node.test_accuracy,
            "seeds": len(vals), "val_mean": statistics.fmean(vals) if vals else None,
            "val_sd": statistics.stdev(vals) if len(vals) > 1 else 0.0 if vals else None,
            "test_mean": statistics.fmean(tests) if tests else None,
            "test_sd": statistics.stdev(tests) if len(tests) > 1 else 0.0 if tests else None,
            "delta_val": statistics.fmean(vals) - (node.val_accuracy or 0.0) if vals else None,
            "delta_test": statistics.fmean(tests) - (node.test_accuracy or 0.0) if tests else None})
    return rows
