"""Replay re-executes a recorded run from its journal and ends with the same tree; a run
that left the record is named; a fork continues a copy of the run from a step."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "run"))

from run_support import ScriptedResearcher, scripted_agents  # noqa: E402

from agentnas.agents.offline import OfflineAnalyst  # noqa: E402
from agentnas.cli.view import execute_run  # noqa: E402
from agentnas.config import load_config  # noqa: E402
from agentnas.journal import open_journal  # noqa: E402
from agentnas.replay import ReplayDivergence, fork, replay  # noqa: E402
from agentnas.run.assemble import Agents  # noqa: E402
from agentnas.run.settings import RunOptions  # noqa: E402
from agentnas.run.summary import summary


def record(run_dir: Path, tmp: Path, budget: int = 4) -> None:
    cfg = load_config(None, cache_dir=tmp / "cache", slots=1, epochs=2)
    options = RunOptions(task="digits", run_dir=run_dir, budget_evals=budget, seed=3, k=3, train_per_expansion=2,
                         epochs=2, value_model="none", memory="none")
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    assert execute_run(options, cfg, True, quiet, quiet, scripted_agents) == 0


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("recorded")
    record(tmp / "run", tmp)
    return tmp / "run"


def test_replay_ends_with_the_same_tree_and_leaderboard(recorded: Path, tmp_path: Path) -> None:
    report = replay(recorded, tmp_path / "replayed", agents_factory=scripted_agents)
    assert report.same_tree and report.same_leaderboard, report.first_difference
    assert report.experiments == len(summary(recorded)["experiments"])


def test_a_replay_that_proposes_other_code_is_named_as_divergent(recorded: Path, tmp_path: Path) -> None:
    class Other(ScriptedResearcher):
        def propose(self, ctx):  # type: ignore[no-untyped-def]
            drafts = super().propose(ctx)
            return [d.model_copy(update={"code": d.code.replace("nn.ReLU()", "nn.Tanh()")}) for d in drafts]

    def other_agents(options, task, journal):  # type: ignore[no-untyped-def]
        r = Other()
        return Agents(researcher=r, hypothesiser=r, engineer=None, analyst=OfflineAnalyst())

    with pytest.raises(ReplayDivergence, match="iteration 0: candidate i00000-c0 has other code"):
        replay(recorded, tmp_path / "replayed", agents_factory=other_agents)


def test_replay_refuses_a_directory_that_already_holds_a_run(recorded: Path) -> None:
    from agentnas.run.settings import RunError

    with pytest.raises(RunError, match="already holds a journal"):
        replay(recorded, recorded, agents_factory=scripted_agents)


def test_fork_copies_the_run_up_to_a_step_and_continues_from_there(recorded: Path, tmp_path: Path) -> None:
    forked = tmp_path / "forked"
    copied = fork(recorded, 1, forked)
    with open_journal(recorded, read_only=True) as a, open_journal(forked, read_only=True) as b:
        first = [e for e in a.entries(("node", "experiment")) if e.payload.get("iteration") == 0]
        assert {e.key for e in b.entries(("node", "experiment"))} == {e.key for e in first}
        assert copied >= len(first) and b.count("iteration") == 1
    cfg = load_config(None, cache_dir=tmp_path / "cache", slots=1, epochs=2)
    options = RunOptions(task="digits", run_dir=forked, budget_evals=5, seed=3, k=2, epochs=2, value_model="none",
                         memory="none")
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    assert execute_run(options, cfg, True, quiet, quiet, scripted_agents) == 0
    doc = summary(forked)
    assert len(doc["experiments"]) == 5 and doc["iterations"] > 1


def test_a_steered_run_replays_with_its_steering_at_the_same_iterations(tmp_path: Path) -> None:
    from agentnas.records import SteeringMessage
    from agentnas.steering.inbox import send

    run_dir = tmp_path / "steered"
    send(run_dir, SteeringMessage(kind="hypothesis", text="a much wider hidden layer"))
    send(run_dir, SteeringMessage(kind="constrain", max_params=5000, max_train_seconds=120))
    record(run_dir, tmp_path, budget=3)
    with open_journal(run_dir, read_only=True) as j:
        assert j.count("steering") == 2
        assert any(e.payload["source"] == "user" for e in j.entries("hypothesis"))
    report = replay(run_dir, tmp_path / "replayed", agents_factory=scripted_agents)
    assert report.same_tree and report.same_leaderboard, report.first_difference
    with open_journal(tmp_path / "replayed", read_only=True) as j:
        assert j.count("steering") == 2
