"""The value model: a ranking head over architecture encodings (zero-shot prior, online
updates with uncertainty to come), and the labelled benchmark spaces it learns from."""

from agentnas.value.metrics import calibration, kendall_tau
from agentnas.value.ranking import RankHead, RankTraining, train_ranker

__all__ = ["RankHead", "RankTraining", "calibration", "kendall_tau", "train_ranker"]
