"""`agentnas run --task nb201-cifar10` (any tabular task): the search of `agentnas bench
search`, one seed, as a resumable run.

An evaluation is a lookup of the validation accuracy in the published table; the search
never sees test accuracy (it is read afterwards, for the leaderboard, by this module).
The journal holds the search tree as `tab_node` rows and the real queries as `tab_result`
rows, written as each query ends, so running the same command again resumes: the tree is
rebuilt from the rows (`SearchTree.replay`), the value model relearns its results, and no
architecture is queried twice. The offline grammar of the space proposes; the LLM
proposer works on code and has no tabular form, so `--proposer llm` is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentnas.config import AgentnasConfig
from agentnas.journal import Journal, open_journal
from agentnas.run.settings import RunError, RunOptions


def _estimator(task: Any, options: RunOptions, cfg: AgentnasConfig, say: Callable[[str], None]) -> Any:
    """The cross-space prior (pretrained on the other space only) + this run's online GP."""
    from agentnas.search.tabular import SpaceFeatures, cross_space_predictor, tabular_estimator

    features = SpaceFeatures(task.space, cfg.cache_dir, say)
    prior = None if options.value_model == "none" else cross_space_predictor(task.space, cfg.cache_dir, log=say)
    return tabular_estimator(features, prior)


def run_tabular(options: RunOptions, cfg: AgentnasConfig, method: str = "mcts",
                say: Callable[[str], None] | None = None, allow_change: bool = False) -> dict[str, Any]:
    """Run (or resume) the search; return the `runs show`-style document."""
    from agentnas.run.search import replay_table, run_search
    from agentnas.run.service import check_identity, run_lock  # imports torch: not for `runs show`
    from agentnas.search.budget import Budget
    from agentnas.search.keys import grammar_for
    from agentnas.search.registry import POLICY_NAMES, make_policy
    from agentnas.search.tabular import table_evaluator
    from agentnas.tasks import get_task
    from agentnas.tasks.tabular import TabularTask

    log = say or (lambda _m: None)
    task = get_task(options.task)
    assert isinstance(task, TabularTask)
    if options.proposer != "offline":
        raise RunError(f"{options.task} is a tabular space: its proposer is the space's grammar (--proposer "
                       "offline); the LLM proposer writes model code, which a table cannot evaluate")
    if options.budget_evals is None:
        raise RunError(f"{options.task}: give the number of table queries with --budget-evals N")
    queries = options.budget_evals
    single = [m for m in POLICY_NAMES if m != "nsga2"]  # a tabular run ranks by validation accuracy alone
    if method not in single:
        hint = " (nsga2 searches for a front: `agentnas bench search --objectives val_accuracy,macs`)" \
            if method == "nsga2" else ""
        raise RunError(f"unknown --search {method!r}; expected one of {', '.join(single)}{hint}")
    with run_lock(options.run_dir), open_journal(options.run_dir) as journal:
        options = check_identity(journal, options, allow_change)
        if journal.get("run", "search") is None:
            journal.append("run", "search", {"method": method})
        method = str(journal.get("run", "search").payload["method"])  # type: ignore[union-attr]
        tree = replay_table(journal)
        estimator = _estimator(task, options, cfg, log) if method == "mcts" else None
        policy = make_policy(method, grammar_for(task.space), estimator=estimator)

        def on_result(result: Any) -> None:
            log(f"query {len(tree.results)}/{options.budget_evals}: {result.key} val {result.val_accuracy}")

        if len(tree.results) < queries:  # the one loop, with table lookups for evaluations
            run_search(policy, table_evaluator(task), Budget(evals=queries), seed=options.seed, tree=tree,
                       estimator=estimator, on_result=on_result, journal=journal)
        return tabular_summary(journal, task, options.run_dir)


def show_tabular(run_dir: Path) -> dict[str, Any] | None:
    """The summary of a tabular run (read-only), or None when `run_dir` holds another kind of run."""
    from agentnas.journal import JournalError
    from agentnas.tasks import get_task

    try:
        with open_journal(run_dir, read_only=True) as journal:
            config = journal.get("run", "config")
            if journal.get("run", "search") is None or config is None:
                return None
            return tabular_summary(journal, get_task(config.payload["task"]), run_dir)
    except JournalError:
        return None


def tabular_summary(journal: Journal, task: Any, run_dir: Path) -> dict[str, Any]:
    from agentnas.run.search import RESULT

    results = [e.payload for e in journal.entries(RESULT)]
    experiments = [{"id": r["node_id"], "key": r["key"], "status": "ok" if r["val_accuracy"] is not None else
                    "failed", "val_accuracy": r["val_accuracy"],
                    "test_accuracy": task.test_accuracy(r["key"]) if r["val_accuracy"] is not None else None,
                    "fidelity": r["fidelity"], "step": r["step"]} for r in results]
    ok = [x for x in experiments if x["status"] == "ok"]
    best = max(ok, key=lambda x: x["val_accuracy"], default=None)
    optimum = sorted(task.optimum_keys())
    method = journal.get("run", "search")
    return {"run_dir": str(run_dir), "task": task.spec.name, "tabular": True,
            "method": method.payload["method"] if method else None, "queries": len(experiments),
            "experiments": experiments, "best": best,
            "optimum": {"keys": optimum, "val_accuracy": task.evaluate(optimum[0]),
                        "test_accuracy": max(task.test_accuracy(k) for k in optimum)},
            "found_optimum": best is not None and best["key"] in optimum,
            "llm": {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}}
