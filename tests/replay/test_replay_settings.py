"""A run whose settings changed on a resume, and whose time budget ran out inside an
expansion, replays to the same tree: the replay applies each change at its iteration and
grants no training where the recorded run could not."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "run"))

from run_support import ScriptedResearcher  # noqa: E402

from agentnas.agents.offline import OfflineAnalyst  # noqa: E402
from agentnas.agents.state import Context, Draft  # noqa: E402
from agentnas.cli.view import execute_run  # noqa: E402
from agentnas.config import load_config  # noqa: E402
from agentnas.journal import open_journal  # noqa: E402
from agentnas.replay import replay  # noqa: E402
from agentnas.run.assemble import Agents  # noqa: E402
from agentnas.run.settings import RunOptions  # noqa: E402
from agentnas.run.summary import summary

TIME_BUDGET = 5.0


class SlowFirstResearcher(ScriptedResearcher):
    """Thinks longer than the whole time budget over its first proposal, so that budget is
    spent inside the first expansion, after the loop has started it."""

    def propose(self, ctx: Context) -> list[Draft]:
        if ctx.iteration == 0:
            time.sleep(TIME_BUDGET + 1)
        return super().propose(ctx)


def slow_agents(options: RunOptions, task: Any, journal: Any) -> Agents:
    r = SlowFirstResearcher()
    return Agents(researcher=r, hypothesiser=r, engineer=None, analyst=OfflineAnalyst())


def test_a_run_with_changed_settings_and_a_time_cut_replays_to_the_same_tree(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = load_config(None, cache_dir=tmp_path / "cache", slots=1, epochs=1)
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    base = dict(task="digits", run_dir=run_dir, seed=2, k=3, train_per_expansion=2, epochs=1,
                value_model="none", memory="none")
    timed = RunOptions(**base, budget_evals=6, budget_time_s=TIME_BUDGET)  # type: ignore[arg-type]
    assert execute_run(timed, cfg, True, quiet, quiet, slow_agents) == 0
    with open_journal(run_dir, read_only=True) as j:
        assert j.count("experiment") == 0 and j.count("iteration") == 1  # proposed and scored, never trained
        assert j.get("event", "time-spent-0") is not None

    # resumed: no time budget (free), then k and beta changed on purpose
    go_on = RunOptions(**base, budget_evals=2)  # type: ignore[arg-type]
    assert execute_run(go_on, cfg, True, quiet, quiet, slow_agents) == 0
    changed = go_on.model_copy(update={"budget_evals": 5, "k": 2, "beta": 0.3})
    assert execute_run(changed, cfg, True, quiet, quiet, slow_agents) == 2  # k, beta: not without the flag
    assert execute_run(changed, cfg, True, quiet, quiet, slow_agents, allow_change=True) == 0
    doc = summary(run_dir)
    assert len(doc["experiments"]) == 5 and doc["config"]["k"] == 2
    assert [set(c["changed"]) for c in doc["settings_changes"]] == [{"budget_evals", "budget_time_s"},
                                                                    {"budget_evals", "k", "beta"}]

    report = replay(run_dir, tmp_path / "replayed", agents_factory=slow_agents)
    assert report.same_tree and report.same_leaderboard, report.first_difference
    assert report.experiments == 5


def test_an_experiment_setting_changed_without_the_flag_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    from agentnas.run.service import check_identity
    from agentnas.run.settings import RunError

    options = RunOptions(task="digits", run_dir=tmp_path, budget_evals=3, epochs=1, memory="none")
    with open_journal(tmp_path) as j:
        check_identity(j, options)
        n = j.last_seq()
        for change in ({"epochs": 2}, {"memory": None}, {"proposer": "llm"}, {"max_params": 1000}):
            try:
                check_identity(j, options.model_copy(update=change))
            except RunError as e:
                assert "--change-settings" in str(e)
            else:
                raise AssertionError(f"{change} was accepted")
        for change in ({"task": "mnist1d"}, {"seed": 4}):
            try:
                check_identity(j, options.model_copy(update=change), allow_change=True)
            except RunError as e:
                assert "new --run-dir" in str(e)
            else:
                raise AssertionError(f"{change} was accepted")
        assert j.last_seq() == n
        assert check_identity(j, options.model_copy(update={"epochs": 2}), allow_change=True).epochs == 2
        assert j.last_seq() == n + 1
