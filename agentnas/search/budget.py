"""The one budget of a search, tabular or code-level.

Evaluations are counted in cost: a tabular query costs its fidelity (a full evaluation costs
1), a code-level training costs 1 whatever its fidelity (each is a real run of the sandbox).
A (key, fidelity) already evaluated is never paid for twice. Besides cost: the wall-clock
time of this session (`seconds`, from when the budget was made), a number of iterations
(replay stops where the recorded run stopped), and `max_idle_steps` steps in a row that
added no evaluation (a policy with nothing new left to try).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

EPS = 1e-9


@dataclass
class Budget:
    evals: float | None = None
    seconds: float | None = None
    iterations: int | None = None
    max_idle_steps: int = 200
    started: float = field(default_factory=time.monotonic)

    def left(self, spent: float) -> int | None:
        """Whole evaluations still allowed after `spent` (None: no evaluation budget)."""
        return None if self.evals is None else max(math.floor(self.evals - spent + EPS), 0)

    def allows(self, spent: float, cost: float) -> bool:
        """Whether one more evaluation of `cost` fits after `spent`."""
        return self.evals is None or spent + cost <= self.evals + EPS

    def out_of_time(self, now: float | None = None) -> bool:
        return self.seconds is not None and (time.monotonic() if now is None else now) - self.started >= self.seconds

    def exhausted(self, spent: float, iterations: int = 0, now: float | None = None) -> bool:
        """Nothing more may be spent: the evaluations, the iterations or the time are used up."""
        if self.evals is not None and spent >= self.evals - EPS:
            return True
        if self.iterations is not None and iterations >= self.iterations:
            return True
        return self.out_of_time(now)
