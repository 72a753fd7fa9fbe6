"""What the operator must hear about at once: the bus going away and coming back, and a start
into a state that stops trading (a persisted kill switch, a failed recovery)."""

from __future__ import annotations

import asyncio
import time

import structlog

from polyarb.bus import Bus
from polyarb.domain.secrets import mask_url
from polyarb.engine.core import Engine

log = structlog.get_logger(__name__)

WATCH_INTERVAL_S = 0.25
RECOVERY_ACTOR = "recovery"


class BusWatch:
    """Says when Redis is unreachable (at start, and on every change: down, back)."""

    def __init__(self, bus: Bus, redis_url: str | None) -> None:
        self._bus = bus
        self._url = mask_url(redis_url) if redis_url else ""
        self.up = bus.stats.connected
        self.outages = 0
        self.down_s = 0.0
        self._down_since: float | None = None
        if redis_url and not self.up:
            self._went_down(at_start=True)

    @property
    def watched(self) -> bool:
        return bool(self._url)

    def check(self) -> None:
        up = self._bus.stats.connected
        if up == self.up or not self.watched:
            return
        self.up = up
        if up:
            down_for = time.monotonic() - (self._down_since or time.monotonic())
            self.down_s += down_for
            self._down_since = None
            log.warning(
                "Redis back: publishing again",
                url=self._url,
                down_s=round(down_for, 1),
                dropped=self._bus.stats.dropped,
            )
        else:
            self._went_down(at_start=False)

    def _went_down(self, *, at_start: bool) -> None:
        self.up = False
        self.outages += 1
        self._down_since = time.monotonic()
        log.warning(
            "Redis unreachable at start: trading goes on, the dashboard and `polyarb ctl` "
            "cannot reach this engine until it returns"
            if at_start
            else "Redis unreachable: trading goes on, events are dropped until it returns",
            url=self._url,
            error=self._bus.stats.last_error,
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            self.check()

    def notice(self) -> str:
        """One line for the summary ("" when Redis was up all along, or not used)."""
        if not self.watched or (self.up and not self.outages):
            return ""
        down_s = self.down_s
        if self._down_since is not None:
            down_s += time.monotonic() - self._down_since
        now = "reachable again" if self.up else "still unreachable"
        return (
            f"Redis {self._url} unreachable {self.outages} time(s), {down_s:.1f} s in all "
            f"({now}); {self._bus.stats.dropped} events dropped"
        )


def start_notices(engine: Engine) -> tuple[list[str], bool]:
    """What the restored risk state means for this run, and whether recovery halted it."""
    status = engine.risk.status(engine.clock.now_ns())
    notices: list[str] = []
    halted_by_recovery = False
    for gate in status.gates:
        if gate.name == "kill_switch":
            if gate.actor == RECOVERY_ACTOR:
                halted_by_recovery = True
                notices.append(f"HALTED by recovery: {gate.reason}; nothing will trade")
            else:
                by = f" by {gate.actor}" if gate.actor else ""
                notices.append(
                    f"HALTED: the kill switch is engaged (persisted from an earlier run{by}: "
                    f"{gate.reason}); nothing trades until `polyarb ctl clear`"
                )
        elif gate.name == "loss_limit":
            notices.append(
                f"REDUCING: {gate.reason} (persisted from an earlier run); no new positions "
                "until `polyarb ctl clear`"
            )
    for notice in notices:
        log.warning(notice)
    return notices, halted_by_recovery
