"""The heartbeat dead-man: ``POST /v1/heartbeats`` every few seconds.

Once heartbeats have started, the venue cancels every open order of the API key when one is
missed (about 10 s). The other half is ours: while heartbeats fail, nothing new is submitted
(``healthy`` is False from the first failure until a heartbeat succeeds again). A refused
heartbeat id ("Invalid Heartbeat ID": the venue expired it) starts a new chain.
"""

from __future__ import annotations

import asyncio

import structlog

from polyarb.execution.live.loop import BackgroundLoop
from polyarb.execution.live.venue import ClobRest, VenueBusy, VenueUnknown

log = structlog.get_logger(__name__)


class HeartbeatKeeper:
    def __init__(self, rest: ClobRest, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the heartbeat interval must be > 0")
        self.rest = rest
        self.interval_s = interval_s
        self.heartbeat_id = ""
        self.healthy = False  # nothing is submitted before the first heartbeat succeeds
        self.failure = "not started"
        self._loop = BackgroundLoop("heartbeat", self._run)

    async def beat(self) -> bool:
        """One heartbeat; True when the venue took it."""
        try:
            answer = await self.rest.l2(
                "POST", "/v1/heartbeats", {"heartbeat_id": self.heartbeat_id}
            )
        except (VenueBusy, VenueUnknown) as exc:
            return self._failed(str(exc))
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status != 200 or not body.get("heartbeat_id"):
            self.heartbeat_id = ""  # expired or unknown: the next beat starts a new chain
            return self._failed(str(body.get("error") or answer.body)[:200])
        self.heartbeat_id = str(body["heartbeat_id"])
        if not self.healthy:
            log.info("heartbeat ok; submitting allowed")
        self.healthy, self.failure = True, ""
        return True

    def _failed(self, reason: str) -> bool:
        if self.healthy:
            log.error("heartbeat failed; not submitting", reason=reason)
        self.healthy, self.failure = False, reason
        return False

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception as exc:  # a bug must not leave ``healthy`` standing
                log.exception("heartbeat raised")
                self._failed(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        self.healthy = False
