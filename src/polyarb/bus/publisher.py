"""The engine's periodic ``poly:state`` publish, off the trading path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import structlog

from polyarb.bus.base import Bus
from polyarb.bus.schemas import MAX_OPPORTUNITIES, MAX_POSITIONS, EngineState
from polyarb.bus.topics import Channel

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class StatePublisherStats:
    published: int = 0
    build_failures: int = 0
    skipped_ticks: int = 0  # ticks missed because a build (or the loop) ran late
    last_build_us: float = 0.0
    max_build_us: float = 0.0


class StatePublisher:
    """Every ``interval_s``, build the engine's state and publish it on ``poly:state``.

    ``build`` runs on the event loop in this task, never inside a tick; it should read
    counters and the top-N lists, not walk every book. The published state is cut to the
    top-N lists and carries the bus's own dropped-publish count. A failing build is logged and
    counted, and the next tick tries again.
    """

    def __init__(
        self,
        bus: Bus,
        build: Callable[[], EngineState],
        *,
        interval_s: float = 0.1,
        max_opportunities: int = MAX_OPPORTUNITIES,
        max_positions: int = MAX_POSITIONS,
    ) -> None:
        self.stats = StatePublisherStats()
        self._bus = bus
        self._build = build
        self._interval_s = interval_s
        self._max_opportunities = max_opportunities
        self._max_positions = max_positions

    async def run(self) -> None:
        """Publish until cancelled, on a fixed schedule (late ticks are skipped, not bunched)."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            await self.publish_now()
            next_at += self._interval_s
            now = loop.time()
            if now > next_at:
                missed = int((now - next_at) / self._interval_s) + 1
                self.stats.skipped_ticks += missed
                next_at += missed * self._interval_s
            await asyncio.sleep(next_at - now)

    async def publish_now(self) -> None:
        """Build and publish one state now (also used for the final "stopped" state)."""
        started = time.perf_counter()
        try:
            state = self._build().bounded(self._max_opportunities, self._max_positions)
            state = msgspec.structs.replace(
                state,
                counters=msgspec.structs.replace(
                    state.counters, publishes_dropped=self._bus.stats.dropped
                ),
            )
        except Exception:
            self.stats.build_failures += 1
            if self.stats.build_failures <= 5 or self.stats.build_failures % 100 == 0:
                log.exception("bus.state_build_failed", failures=self.stats.build_failures)
            return
        build_us = (time.perf_counter() - started) * 1e6
        self.stats.last_build_us = build_us
        self.stats.max_build_us = max(self.stats.max_build_us, build_us)
        await self._bus.publish(Channel.STATE, state)
        self.stats.published += 1
