"""Clocks: wall time for live and paper trading, recording time for replay.

Everything that waits or stamps time takes a ``Clock`` so a replay at full speed still sees
the recorded passage of time (a 200 ms paper latency is 200 ms of recording time).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class WallClock:
    """Real time."""

    def now_ns(self) -> int:
        return time.time_ns()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ReplayClock:
    """Time that moves only when the replay advances it to the next frame's receive time."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now_ns(self) -> int:
        return self._now_ns

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        deadline = self._now_ns + int(seconds * 1_000_000_000)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._seq), future))
        await future

    def advance(self, now_ns: int) -> int:
        """Move time forward and wake the sleepers that are due; returns how many woke."""
        if now_ns > self._now_ns:
            self._now_ns = now_ns
        woken = 0
        while self._sleepers and self._sleepers[0][0] <= self._now_ns:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
                woken += 1
        return woken

    @property
    def pending(self) -> int:
        return len(self._sleepers)

    def next_deadline_ns(self) -> int | None:
        return self._sleepers[0][0] if self._sleepers else None
