"""The CLOB user channel client (``/ws/user``): our orders and trades as the venue sees them.

Connects, authenticates and subscribes in the first frame (the API key, secret and passphrase in
its body, as the venue expects; ``markets`` = condition ids, none = all), sends the text
``PING`` every ``ping_interval_s`` (the venue closes idle connections), adds markets later
without reconnecting (``subscribe``: the venue's ``operation`` message), decodes every frame
(``execution.user_schemas``: objects or arrays, ``PONG`` skipped) and hands each event to
``on_event``. A malformed frame is counted (``stats.malformed``, the last one's reason kept)
and skipped; a callback that raises is logged; a dropped or refused connection is retried with
exponential backoff and jitter, and ``on_connect`` is called after every successful
(re)subscription, so the owner can catch up on what the gap hid (``GET /data/trades``).
Nothing here ever raises out of ``run``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import orjson
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from polyarb.clob.auth import ApiCreds
from polyarb.domain.backoff import Backoff
from polyarb.domain.errors import MalformedMessage
from polyarb.execution.live.loop import BackgroundLoop
from polyarb.execution.user_schemas import UserEvent, UserOrderEvent, parse_user_message

log = structlog.get_logger(__name__)

EventCallback = Callable[[UserEvent], None]
ConnectCallback = Callable[[], Awaitable[None]]


EVENT_TYPES = ("order", "trade")  # the venue's ``event_type`` of what we decode


@dataclass(slots=True)
class UserChannelStats:
    connects: int = 0
    disconnects: int = 0
    frames: int = 0
    events: int = 0
    events_by_type: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
    malformed: int = 0
    last_malformed: str = ""
    pings_sent: int = 0
    last_error: str = ""


def subscription(creds: ApiCreds, markets: Sequence[str]) -> str:
    """The first frame: credentials in the body (no HMAC on the WebSocket)."""
    message: dict[str, object] = {
        "auth": {"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase},
        "type": "user",
    }
    if markets:
        message["markets"] = list(markets)
    return orjson.dumps(message).decode()


class UserChannelClient:
    def __init__(
        self,
        url: str,
        creds: ApiCreds,
        on_event: EventCallback,
        *,
        markets: Sequence[str] = (),
        on_connect: ConnectCallback | None = None,
        ping_interval_s: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        if ping_interval_s <= 0:
            raise ValueError("ping_interval_s must be > 0")
        self.url = url
        self._creds = creds
        self.markets = list(markets)
        self.on_event = on_event
        self.on_connect = on_connect
        self.ping_interval_s = ping_interval_s
        self.backoff = backoff or Backoff(min_s=0.05, max_s=5.0)
        self.stats = UserChannelStats()
        self.connected = asyncio.Event()
        self._loop = BackgroundLoop("user-channel", self.run)
        self._ws: ClientConnection | None = None

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def subscribe(self, markets: Sequence[str]) -> None:
        """Add markets (condition ids) without reconnecting; kept for the next connection.
        A client subscribed to every market (none given) stays so."""
        new = [m for m in markets if m not in self.markets]
        if not new or not self.markets:
            return
        self.markets.extend(new)
        ws = self._ws
        if ws is not None:
            message = {"operation": "subscribe", "markets": new}
            with contextlib.suppress(ConnectionClosed):
                await ws.send(orjson.dumps(message).decode())

    async def run(self) -> None:
        """Connect and read until cancelled, reconnecting with backoff."""
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # never crash: log, back off, reconnect
                log.exception("user channel failed")
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
            if self.connected.is_set():
                self.stats.disconnects += 1
                self.connected.clear()
            delay = self.backoff.next_delay()
            log.warning("user channel down", reason=self.stats.last_error, retry_in_s=delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        async with connect(self.url, ping_interval=None, open_timeout=10) as ws:
            await ws.send(subscription(self._creds, self.markets))
            self._ws = ws
            self.stats.connects += 1
            self.connected.set()
            if self.on_connect is not None:
                await self.on_connect()
            pinger = asyncio.create_task(self._ping(ws))
            try:
                async for frame in ws:
                    self.backoff.reset()  # the venue talks to us: the next drop starts afresh
                    self._on_frame(frame)
            finally:
                self._ws = None
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pinger
            # a close frame (e.g. 1008: the venue refused our credentials) ends the session
            self.stats.last_error = f"closed {ws.close_code} {ws.close_reason or ''}".strip()

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_s)
            await ws.send("PING")
            self.stats.pings_sent += 1

    def _on_frame(self, frame: str | bytes) -> None:
        self.stats.frames += 1
        try:
            events = parse_user_message(frame)
        except MalformedMessage as exc:
            self.stats.malformed += 1
            self.stats.last_malformed = str(exc)[:200]
            log.warning("user channel: malformed frame", reason=self.stats.last_malformed)
            return
        for event in events:
            self.stats.events += 1
            kind = "order" if isinstance(event, UserOrderEvent) else "trade"
            self.stats.events_by_type[kind] += 1
            try:
                self.on_event(event)
            except Exception:
                log.exception("user channel event handler failed")
