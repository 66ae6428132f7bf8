"""The bodies of `agentnas replay`: replay and compare, fork, retrain with new seeds."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from agentnas.config import AgentnasConfig
from agentnas.journal import JournalError, open_journal
from agentnas.search.runtree import RunTree
from agentnas.search.settings import RunError, RunOptions, effective_config, entries_under, options_from, remove_new


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
    best = sorted(tree.trained_nodes(), key=lambda n: -(n.val_accuracy or 0.0))[:top]
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


def fork_and_run(source: Path, at: int, into: Path, changes: dict[str, Any], cfg: AgentnasConfig, json_out: bool,
                 out: Console, err: Console, local_args: tuple[str, ...] = ()) -> int:
    """`replay --fork-at`: copy the run up to iteration `at` into `into` and continue it there
    with the settings in force at that iteration and `changes`. A fork that fails before the
    forked run has started removes what it created (never what was there before), so it can
    simply be retried."""
    from agentnas.replay.replay import fork
    from agentnas.search.command import execute_run

    before = entries_under(into)
    code = 2
    try:
        with open_journal(source, read_only=True) as j:
            recorded = effective_config(j, before_iteration=at)
        if recorded is None:
            raise RunError(f"{source} has no run configuration: not a run journal")
        options = options_from({**recorded, **changes, "run_dir": str(into)})
        copied = fork(source, at, into)
        err.print(f"forked {copied} entries (iterations < {at}) into {into}", highlight=False, soft_wrap=True)
        code = execute_run(options, cfg, json_out, out, err, local_args=local_args)
    except (RunError, JournalError) as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
    finally:
        if code != 0 and not started(into):
            remove_new(into, before)
    return code


def started(run_dir: Path) -> bool:
    """Whether a run has recorded its settings in `run_dir` (it started at least once)."""
    try:
        with open_journal(run_dir, read_only=True) as j:
            return j.get("run", "config") is not None
    except JournalError:
        return False
