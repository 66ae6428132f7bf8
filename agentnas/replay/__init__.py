"""Replay of recorded runs: re-execution from the journal, forks, retraining with new seeds."""

from agentnas.replay.replay import ReplayReport, first_difference, fork, replay
from agentnas.replay.serve import ReplayDivergence

__all__ = ["ReplayDivergence", "ReplayReport", "first_difference", "fork", "replay"]
