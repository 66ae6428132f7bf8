"""The value model: a zero-shot ensemble of ranking heads over architecture encodings plus a
zero-cost committee prior, pretrained on benchmark spaces, and an online per-task GP that
learns from a run's results."""

from agentnas.value.metrics import calibration, kendall_tau
from agentnas.value.online import OnlineValueModel
from agentnas.value.prior import PRIOR_SIGNALS, CommitteePrior
from agentnas.value.ranking import RankHead, RankTraining, train_ranker
from agentnas.value.zeroshot import ZeroShotPredictor, choose_prior_weight, fit_ensemble, parse_prior_weight

__all__ = ["PRIOR_SIGNALS", "CommitteePrior", "OnlineValueModel", "RankHead", "RankTraining", "ZeroShotPredictor",
           "calibration", "choose_prior_weight", "fit_ensemble", "kendall_tau", "parse_prior_weight", "train_ranker"]
