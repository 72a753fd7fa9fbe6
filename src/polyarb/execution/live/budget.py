"""Request budgets per endpoint, kept below the venue's rate limits so that we are not the
ones who earn a 429.

The venue limits per IP (Cloudflare, per endpoint) and, since 2026-07, per signer (orders
40/s with bursts of 60, cancels 80/s). Orders are counted one per order (a batch of n costs
n); an order request over budget is not sent (the signal is refused, like any venue rule);
a lookup (``/data/*``) waits for room instead, since settling an order must not be skipped.
"""

from __future__ import annotations

import asyncio
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

# endpoint group -> limit; the order rate is a setting (LIVE_ORDER_RATE)
DEFAULT_LIMITS = {
    "cancel": "80/second",
    "data": "400/10seconds",  # GET /data/order, /data/trades: the venue allows 500/10 s each
    "auth": "80/10seconds",  # API-key endpoints: 100/10 s
}


def group_of(method: str, path: str) -> str:
    if method == "POST" and path in ("/order", "/orders"):
        return "order"
    if method == "DELETE":
        return "cancel"
    if path.startswith("/auth"):
        return "auth"
    return "data"


class RequestBudgets:
    def __init__(self, order_rate: str = "40/second") -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.limits: dict[str, RateLimitItem] = {
            group: parse(rate) for group, rate in {**DEFAULT_LIMITS, "order": order_rate}.items()
        }

    def try_spend(self, group: str, cost: int = 1) -> bool:
        """Take ``cost`` from ``group``'s budget; False (nothing taken) when it has no room."""
        return bool(self._limiter.hit(self.limits[group], group, cost=cost))

    async def spend(self, group: str, cost: int = 1) -> None:
        """Take ``cost``, waiting for room."""
        while not self.try_spend(group, cost):
            stats = self._limiter.get_window_stats(self.limits[group], group)
            await asyncio.sleep(min(1.0, max(0.005, stats.reset_time - time.time())))

    def describe(self, group: str) -> str:
        item = self.limits[group]
        return f"{item.amount}/{item.multiples}{item.GRANULARITY.name}"
