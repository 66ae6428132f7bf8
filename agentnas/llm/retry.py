"""Retry timing: exponential backoff with jitter, or exactly what the server asked for.

The openai client's own retries are off (`max_retries=0`): ours are visible to the ledger,
honour `retry-after-ms` / `Retry-After` (seconds or an HTTP date), and sleep through an
injected function so tests run in no time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_s: float = 1.0
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 300.0

    def delay(self, retry: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (0-based).

        A server's Retry-After wins (capped, so a hostile header cannot park the run); otherwise
        "equal jitter": half of the exponential step is fixed, half random, so the wait still grows
        while concurrent clients spread out.
        """
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_retry_after_s)
        step = min(self.max_backoff_s, self.base_s * (2.0 ** retry))
        return step / 2 + rng.uniform(0.0, step / 2)


def retry_after_seconds(headers: Mapping[str, str] | None, now_epoch: float) -> float | None:
    """The wait a response asks for: `retry-after-ms`, else `Retry-After` as seconds or an HTTP date."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now_epoch, 0.0)
