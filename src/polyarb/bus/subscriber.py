"""Helpers for consumers of the bus (the dashboard): resync on gaps, follow several engines."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from polyarb.bus.base import Clock, Gap
from polyarb.bus.schemas import EngineState, Envelope

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class ResyncReport:
    gap: Gap
    duration_s: float  # how long the reload took
    ok: bool
    missed: int | None  # messages lost; after a reconnect, filled in as streams resume


class Resync:
    """An ``on_gap`` callback: reload from the database (the system of record) when needed.

    A sequence jump, a publisher restart or a reconnect each trigger one reload. The jumps
    that streams show right after a reconnect happened while disconnected, so the reconnect's
    reload already covers them: they only add to that report's ``missed``.
    """

    def __init__(
        self,
        reload: Callable[[], Awaitable[None]],
        *,
        keep: int = 100,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.reports: deque[ResyncReport] = deque(maxlen=keep)
        self.resyncs = 0
        self.failures = 0
        self._reload = reload
        self._timer = timer
        self._last_reconnect: ResyncReport | None = None

    async def __call__(self, gap: Gap) -> None:
        if gap.after_reconnect and self._last_reconnect is not None:
            report = self._last_reconnect
            if gap.missed is not None:
                report.missed = (report.missed or 0) + gap.missed
            log.info("bus.resync_covered", channel=gap.channel, missed=gap.missed)
            return
        started = self._timer()
        ok = True
        try:
            await self._reload()
        except asyncio.CancelledError:
            raise
        except Exception:
            ok = False
            self.failures += 1
            log.exception("bus.resync_failed", reason=gap.reason)
        report = ResyncReport(gap=gap, duration_s=self._timer() - started, ok=ok, missed=gap.missed)
        self.resyncs += 1
        self.reports.append(report)
        self._last_reconnect = report if gap.reason == "reconnect" else None
        log.info(
            "bus.resynced",
            reason=gap.reason,
            channel=gap.channel,
            instance_id=gap.instance_id,
            missed=gap.missed,
            duration_ms=round(report.duration_s * 1000, 3),
            ok=ok,
        )


@dataclass(frozen=True, slots=True)
class InstanceState:
    envelope: Envelope
    state: EngineState
    received_ns: int


class EngineStates:
    """The latest ``poly:state`` of every engine instance seen, so a dashboard shows them all."""

    def __init__(self, *, stale_after_s: float = 2.0, clock: Clock = time.time_ns) -> None:
        self.latest: dict[str, InstanceState] = {}
        self._stale_after_ns = int(stale_after_s * 1e9)
        self._clock = clock

    def update(self, envelope: Envelope) -> bool:
        """Keep ``envelope`` if it is a newer state; True when it was one."""
        if not isinstance(envelope.data, EngineState):
            return False
        current = self.latest.get(envelope.instance_id)
        # Older or repeated: lower number and not later. (A restarted engine counts from 1
        # again, but its states are later in time.)
        if (
            current is not None
            and envelope.seq <= current.envelope.seq
            and envelope.ts_ns <= current.envelope.ts_ns
        ):
            return False
        self.latest[envelope.instance_id] = InstanceState(envelope, envelope.data, self._clock())
        return True

    def instances(self) -> list[str]:
        return sorted(self.latest)

    def is_stale(self, instance_id: str) -> bool:
        """True when that engine has not published a state recently (or never did)."""
        current = self.latest.get(instance_id)
        return current is None or self._clock() - current.received_ns > self._stale_after_ns
