"""`agentnas replay DIR`: re-execute a recorded run from its journal and check that it ends
with the same tree and leaderboard.

The same loop, policy, gate and researcher code run again; what would cost compute or
money is served from the recorded journal: every LLM reply from its cassette (the client
in "replay" mode makes zero network calls and a missing entry fails loudly with
`CassetteMiss`), every sandbox check, value prediction and training result from its rows
(`agentnas.replay.serve`). The replayed journal is then compared with the recorded one
entry by entry. `--fork-at STEP --run-dir NEW` copies the recorded run up to STEP into a
new run directory, to be continued with another config; `--retrain K` trains the top K
again with new seeds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentnas.agents.offline import OfflineAnalyst
from agentnas.agents.services import Services
from agentnas.journal import Entry, Journal, JournalError, open_journal
from agentnas.journal.tree import RunTree
from agentnas.records import SteeringMessage
from agentnas.replay.serve import ReplayChecker, ReplayDivergence, ReplayScorer, ReplayTrainer
from agentnas.run.assemble import TIME_CUT, Agents
from agentnas.run.expansion import code_loop
from agentnas.run.record import Recorder, RunIndex, copy_entries, start_copy
from agentnas.run.settings import SETTINGS_PREFIX, RunError, RunOptions
from agentnas.run.summary import leaderboard
from agentnas.run.warmstart import KEY as WARM_KEY
from agentnas.run.warmstart import WarmStart, warm_start
from agentnas.search.budget import Budget

COMPARED = ("hypothesis", "node", "experiment", "iteration")


class ReplayReport(BaseModel):
    source: str
    replayed_dir: str
    iterations: int
    experiments: int            # experiments of the replayed run (served from the record as its loop reached them)
    experiments_recorded: int   # experiments of the recorded run
    llm_calls_served: int
    same_tree: bool
    same_leaderboard: bool
    first_difference: str | None = None
    leaderboard: list[dict[str, Any]]


def recorded_options(source: Journal, run_dir: Path) -> RunOptions:
    entry = source.get("run", "config")
    if entry is None:
        raise RunError(f"{source.path} has no run configuration: not a run journal")
    return RunOptions.model_validate({**entry.payload, "run_dir": str(run_dir)})


def _rows(journal: Journal) -> list[tuple[str, str, Any]]:
    rows = []
    for e in journal.entries(COMPARED):
        payload = e.payload
        if e.kind == "experiment":  # timings are not part of what a replay must reproduce
            payload = {k: v for k, v in payload.items() if k not in ("wall_seconds", "train_seconds")}
        rows.append((e.kind, e.key, payload))
    return rows


def first_difference(a: Journal, b: Journal) -> str | None:
    ra, rb = _rows(a), _rows(b)
    for i, (x, y) in enumerate(zip(ra, rb, strict=False)):
        if x != y:
            return f"entry {i}: recorded {x[0]} {x[1]!r} vs replayed {y[0]} {y[1]!r}"
    if len(ra) != len(rb):
        return f"recorded {len(ra)} entries, replayed {len(rb)}"
    return None


def replay_agents(options: RunOptions, source: Journal, target: Journal, task: Any) -> Agents:
    """The run's agents, with the LLM (if any) served from the recorded cassette only."""
    from agentnas.run.assemble import offline_agents

    if options.proposer != "llm":
        return offline_agents(options, task, target)
    from agentnas.llm import Ledger, LLMClient, LLMConfig
    from agentnas.run.assemble import llm_roles
    from agentnas.run.record import JournalCassette, journal_calls

    llm_entry = source.get("run", "llm")
    settings = dict(llm_entry.payload) if llm_entry is not None else {}
    settings.pop("api_key_set", None)
    config = LLMConfig.resolve(settings=settings, env={})
    client = LLMClient(config, cassette=JournalCassette(source), mode="replay",
                       ledger=Ledger(config.prices, None, on_call=journal_calls(target)))
    agents = llm_roles(client, options, task, target)
    if source.count("retrieval"):  # the recorded run retrieved from memory: serve the same answers
        from agentnas.run.record import journaled_retrieval

        agents.researcher.retrieve = journaled_retrieval(source, None)  # type: ignore[attr-defined]
    return agents


def recorded_inbox(source: Journal, target: Journal) -> Any:
    """The user's steering messages, each offered at the iteration boundary where the recorded
    run took it."""
    taken = [(int(e.payload["iteration"]), SteeringMessage.model_validate(
        {k: v for k, v in e.payload.items() if k != "iteration"})) for e in source.entries("steering")]
    return lambda: [m for at, m in taken if at <= target.count("iteration")]


def recorded_approver(source: Journal) -> Any:
    """Approval answers served from the record (the loop looks its own journal up first; the
    replay's journal starts empty, so every question comes here)."""
    from agentnas.run.record import approval_key

    def approver(question: dict[str, Any]) -> dict[str, Any]:
        for e in source.entries("approval"):
            if e.key == approval_key(str(e.payload["iteration"]), question):
                return dict(e.payload["answer"])
        raise ReplayDivergence("the replay asked for an approval the recorded run was never asked")

    return approver


def replay(source_dir: Path, work_dir: Path, agents_factory: Any = None) -> ReplayReport:
    """Replay the run in `source_dir` into the empty `work_dir`. `agents_factory(options, task,
    journal)` replaces the recorded proposer (tests use a scripted one)."""
    from agentnas.tasks import get_task

    try:
        source = open_journal(source_dir, read_only=True)
    except JournalError as e:
        raise RunError(f"{source_dir}: {e}") from e
    with source:
        options = recorded_options(source, work_dir)
        if (work_dir / "journal.sqlite").exists():
            raise RunError(f"{work_dir} already holds a journal: replay into an empty directory")
        target = open_journal(work_dir)
        with target:
            start_copy(target, source, options.model_dump(mode="json"))
            warm = source.get("run", WARM_KEY)
            if warm is not None:  # the warm start the run was given, not today's memory
                warm_start(target, lambda: WarmStart.model_validate(warm.payload))
            task = get_task(options.task)
            total = source.count("experiment")
            recorded = RunTree.from_journal(source)
            tree = RunTree()
            for options, until, change in segments(source, work_dir, recorded.iterations):
                if change is not None:  # the settings changed here in the recorded run: the same change
                    target.append(change.kind, change.key, change.payload)
                tree = _replay_segment(source, target, options, task, until, total, agents_factory)
            diff = first_difference(source, target)
            served = sum(1 for e in target.entries("llm_call") if e.payload.get("status") == "replayed")
    board_a, board_b = leaderboard(recorded), leaderboard(tree)
    replayed = len(tree.experiments)
    if diff is None and replayed != total:  # the comparison must have something to compare
        diff = f"the recorded run has {total} experiments, the replay re-executed {replayed}"
    return ReplayReport(source=str(source_dir), replayed_dir=str(work_dir), iterations=tree.iterations,
                        experiments=replayed, experiments_recorded=total, llm_calls_served=served,
                        same_tree=diff is None, same_leaderboard=board_a == board_b, first_difference=diff,
                        leaderboard=board_b)


def segments(source: Journal, run_dir: Path, iterations: int) -> list[tuple[RunOptions, int, Entry | None]]:
    """The recorded run as stretches of iterations under one set of settings: (options, the
    iteration the stretch ends before, the entry that changed the settings at its start)."""
    out: list[tuple[RunOptions, int, Entry | None]] = [(recorded_options(source, run_dir), iterations, None)]
    for e in source.entries("run"):
        if e.key.startswith(SETTINGS_PREFIX):
            at = int(e.payload["iteration"])
            options, _, change = out[-1]
            out[-1] = (options, at, change)
            out.append((RunOptions.model_validate({**e.payload["settings"], "run_dir": str(run_dir)}), iterations, e))
    return out


def _replay_segment(source: Journal, target: Journal, options: RunOptions, task: Any, until: int, total: int,
                    agents_factory: Any) -> RunTree:
    """Replay the recorded iterations before `until` that were run with `options`."""
    if agents_factory is None:
        agents = replay_agents(options, source, target, task)
    else:
        agents = agents_factory(options, task, target)

    def grantable() -> int:
        # What the recorded run could still train at this point: its evaluation budget then,
        # and nothing in an iteration where its time budget had run out.
        if source.get("event", f"{TIME_CUT}{target.count('iteration')}") is not None:
            return 0
        done = target.count("experiment")
        left = max(total - done, 0)
        return left if options.budget_evals is None else min(left, max(options.budget_evals - done, 0))

    from agentnas.run.assemble import run_policy, value_gate

    index = RunIndex(target)  # the replayed run's own nodes, as the recorded run screened against its own
    policy, metric = run_policy(options), task.spec.metric

    def services_for(recorder: Recorder) -> Services:
        return Services(
            researcher=agents.researcher, engineer=agents.engineer,
            analyst=agents.analyst if options.proposer == "llm" else OfflineAnalyst(),
            checker=ReplayChecker(source), scorer=ReplayScorer(source),
            gate=value_gate(options, policy, grantable, target, metric),
            trainer=ReplayTrainer(source, recorder), recorder=recorder, approval=options.approve,
            known=index.codes)

    saver = None
    if options.approve:  # the pauses need a checkpointer; the answers come from the record
        from langgraph.checkpoint.memory import InMemorySaver

        saver = InMemorySaver()
    loop = code_loop(target, services_for, agents.hypothesiser, task=options.task, seed=options.seed, k=options.k,
                     budget=Budget(iterations=until, max_idle_steps=10**9), policy=policy,
                     max_params=options.max_params, inbox=recorded_inbox(source, target), checkpointer=saver,
                     approver=recorded_approver(source), metric=metric)
    return loop.run()


def fork(source_dir: Path, at: int, new_dir: Path) -> int:
    """Copy the recorded run's first `at` iterations (and what they wrote) into `new_dir`;
    the caller then runs it with its own options. Returns the number of entries copied."""
    with open_journal(source_dir, read_only=True) as source:
        cut = source.get("iteration", str(at - 1)) if at > 0 else None
        if at > 0 and cut is None:
            raise RunError(f"{source_dir} has no iteration {at - 1}: it ran {source.count('iteration')} iterations")
        if (new_dir / "journal.sqlite").exists():
            raise RunError(f"{new_dir} already holds a journal: fork into a new --run-dir")
        limit = cut.seq if cut is not None else 0
        # the new run records its own settings and events; a time-budget cut is part of the tree
        kept = [e for e in source.entries() if e.seq <= limit and not (
            (e.kind == "run" and e.key != WARM_KEY) or (e.kind == "event" and not e.key.startswith(TIME_CUT)))]
        with open_journal(new_dir) as target:
            copied = copy_entries(target, kept, str(source_dir), at)
        for e in kept:
            if e.kind == "node" and (source_dir / "candidates" / e.key).is_dir():
                shutil.copytree(source_dir / "candidates" / e.key, new_dir / "candidates" / e.key, dirs_exist_ok=True)
    return copied
