"""Retry delays: exponential, capped, with jitter. One shape for every "try again later" of the
I/O edges (the Redis bus reconnecting, the Slack notifier's 5xx and network errors)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    """Exponential delays with jitter (half fixed, half random) so peers spread out: attempt
    ``n`` waits between ``d/2`` and ``d``, ``d = min(max_s, min_s * 2**n)``."""

    min_s: float = 0.05
    max_s: float = 5.0
    attempts: int = 0

    def next_delay(self) -> float:
        delay = min(self.max_s, self.min_s * 2.0 ** min(self.attempts, 30))
        self.attempts += 1
        return delay / 2 + random.uniform(0, delay / 2)

    def reset(self) -> None:
        self.attempts = 0
