"""The value model: a zero-shot ensemble of ranking heads over architecture encodings,
pretrained on benchmark spaces, and an online per-task GP that learns from a run's results."""

from agentnas.value.metrics import calibration, kendall_tau
from agentnas.value.online import OnlineValueModel
from agentnas.value.ranking import RankHead, RankTraining, train_ranker
from agentnas.value.zeroshot import ZeroShotPredictor, fit_ensemble

__all__ = ["OnlineValueModel", "RankHead", "RankTraining", "ZeroShotPredictor", "calibration", "fit_ensemble",
           "kendall_tau", "train_ranker"]
