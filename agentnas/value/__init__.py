"""The value model: a zero-shot ensemble of ranking heads over architecture encodings plus a
zero-cost committee prior, pretrained on benchmark spaces, and an online per-task GP that
learns from a run's results; and agentnas's own labelled architectures (collect.py).

The public names are imported on first use: a module of this package that needs no torch
(`agentnas value collect` trains in the sandbox, the trusted side only reads graphs) is
imported without paying for it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentnas.value.metrics import calibration, kendall_tau
    from agentnas.value.online import OnlineValueModel
    from agentnas.value.prior import PRIOR_SIGNALS, CommitteePrior
    from agentnas.value.ranking import RankHead, RankTraining, train_ranker
    from agentnas.value.zeroshot import ZeroShotPredictor, choose_prior_weight, fit_ensemble, parse_prior_weight

_HOME = {
    "calibration": "metrics", "kendall_tau": "metrics", "OnlineValueModel": "online", "PRIOR_SIGNALS": "prior",
    "CommitteePrior": "prior", "RankHead": "ranking", "RankTraining": "ranking", "train_ranker": "ranking",
    "ZeroShotPredictor": "zeroshot", "choose_prior_weight": "zeroshot", "fit_ensemble": "zeroshot",
    "parse_prior_weight": "zeroshot",
}

__all__ = ["PRIOR_SIGNALS", "CommitteePrior", "OnlineValueModel", "RankHead", "RankTraining", "ZeroShotPredictor",
           "calibration", "choose_prior_weight", "fit_ensemble", "kendall_tau", "parse_prior_weight", "train_ranker"]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
