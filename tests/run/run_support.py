"""A scripted researcher for run-loop tests: MLPs whose width and depth come from the
iteration's RNG, so the loop's determinism and resume are tested apart from the grammar."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from agentnas.agents.offline import OfflineAnalyst
from agentnas.agents.state import Candidate, Context, Draft
from agentnas.fingerprint import code_hash
from agentnas.journal.tree import RunTree
from agentnas.run.assemble import Agents
from agentnas.run.settings import RunOptions

TEMPLATE = '''import math
import torch.nn as nn


def build_model(input_shape, num_classes):
    layers = [nn.Flatten()]
    width = math.prod(input_shape)
    for _ in range({depth}):
        layers += [nn.Linear(width, {hidden}), nn.ReLU()]
        width = {hidden}
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
'''
BROKEN = "def build_model(input_shape, num_classes):\n    return undefined_name\n"


class ScriptedResearcher:
    def __init__(self, broken_every: int = 0) -> None:
        self.broken_every = broken_every

    def propose(self, ctx: Context) -> list[Draft]:
        rng = np.random.default_rng([ctx.seed, ctx.iteration, 7])
        drafts = []
        for i in range(ctx.k):
            if self.broken_every and (ctx.iteration + i) % self.broken_every == 0:
                drafts.append(Draft(code=BROKEN, operator="sample", description="broken on purpose"))
                continue
            hidden, depth = int(rng.choice([8, 16, 32, 64])), int(rng.integers(1, 3))
            drafts.append(Draft(code=TEMPLATE.format(hidden=hidden, depth=depth),
                                operator="mutate" if ctx.parent_id else "sample",
                                description=f"MLP {depth}x{hidden}"))
        return drafts

    def refill(self, ctx: Context, failed: Candidate, reason: str, taken: set[str]) -> Draft | None:
        """A slot left empty (a duplicate or a broken draft) gets the next unused width."""
        for hidden in range(8, 200, 4):
            code = TEMPLATE.format(hidden=hidden, depth=1)
            if code_hash(code) not in taken:
                return Draft(code=code, operator="refill", description=f"MLP 1x{hidden}", fallback=reason)
        return None

    def new_hypothesis(self, tree: RunTree, rng: random.Random) -> str:
        return ["wider layers", "deeper stacks", "small and fast"][len(tree.hypotheses) % 3]


def scripted_agents(options: RunOptions, task: Any, journal: Any) -> Agents:
    researcher = ScriptedResearcher()
    return Agents(researcher=researcher, hypothesiser=researcher, engineer=None, analyst=OfflineAnalyst())
