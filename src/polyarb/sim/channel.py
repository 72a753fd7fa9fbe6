"""The market WebSocket channel (``/ws/market``): subscriptions, fan-out and wire faults.

Each connection has its own bounded queue and writer task, so a slow client never stalls the
venue; a client that falls more than ``queue_limit`` frames behind is dropped, as a real venue
drops slow consumers. Faults are applied on the way out and never change the venue's state:

- duplicate: the next frames are sent twice;
- out_of_order: the next price_change is held back until the next one of the same market, and the
  two are sent swapped (their timestamps differ, so a client can tell);
- malformed: bad JSON, wrong types or bad numbers, carrying no state;
- freeze: connections open at the time receive nothing, not even PONG, for a while (frames of that
  time are lost to them); connections made during the freeze are served normally;
- disconnect: every connection's TCP stream is aborted without a close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from polyarb.sim.venue import Frame
from polyarb.sim.wire import dumps

log = structlog.get_logger(__name__)

REORDER_HOLD_S = 2.0  # a held frame with no partner by then is released unswapped


@dataclass(eq=False, slots=True)
class Client:
    websocket: WebSocket
    queue: asyncio.Queue[str]
    opened: float
    peer: tuple[str, int] | None
    assets: set[str] = field(default_factory=set)
    custom_features: bool = False
    dropped: bool = False


@dataclass(slots=True)
class _Held:
    frame: Frame
    since: float


class MarketChannel:
    """Serves ``/ws/market`` for one venue."""

    def __init__(
        self,
        snapshot: Callable[[Iterable[str]], str],
        abort: Callable[[Client], bool],
        *,
        queue_limit: int = 100_000,
    ) -> None:
        self._snapshot = snapshot  # token ids -> the subscribe answer (ONE JSON array)
        self._abort = abort  # drop a client's TCP stream; False if it cannot
        self._queue_limit = queue_limit
        self.clients: set[Client] = set()
        self._freeze_started = 0.0
        self._freeze_until = 0.0
        self._duplicates = 0
        self._reorders = 0
        self._held: _Held | None = None
        self._malformed_kinds = itertools.cycle(range(6))
        self._last_frame: Frame | None = None
        self.frames_sent = 0  # frames published (before fan-out)
        self.connections_total = 0

    # --- faults ---------------------------------------------------------------------------

    def freeze(self, seconds: float) -> None:
        now = time.monotonic()
        self._freeze_started = now
        self._freeze_until = now + seconds
        for client in self.clients:  # what was queued but not yet written is lost too
            while not client.queue.empty():
                client.queue.get_nowait()
        log.info("sim_freeze", seconds=seconds, clients=len(self.clients))

    def _frozen(self, client: Client, now: float) -> bool:
        return now < self._freeze_until and client.opened <= self._freeze_started

    def duplicate_next(self, count: int) -> None:
        self._duplicates += count

    def reorder_next(self, count: int) -> None:
        self._reorders += count

    def inject_malformed(self, count: int) -> None:
        for _ in range(count):
            text, assets = self._malformed(next(self._malformed_kinds))
            self._fan_out(text, assets)

    def _malformed(self, kind: int) -> tuple[str, tuple[str, ...]]:
        """Malformed frame number ``kind`` (0-5), about the last frame's market and assets."""
        last = self._last_frame
        if kind == 0:  # cut mid-message
            source = last.text if last is not None else '{"event_type":"price_change","market":""}'
            return source[: max(1, len(source) // 2)], last.assets if last is not None else ()
        market = last.market if last is not None else ""
        assets = last.assets if last is not None else ()
        asset = assets[0] if assets else ""
        ts = str(last.ts_ms if last is not None and last.ts_ms else int(time.time() * 1000))
        if kind == 5:  # an object where the list of levels belongs
            book = {
                "event_type": "book",
                "asset_id": asset,
                "market": market,
                "asks": [],
                "bids": {"price": "0.5", "size": "10"},
                "timestamp": ts,
                "hash": "0" * 40,
            }
            return dumps(book), assets
        entry = {"asset_id": asset, "price": "0.5", "size": "10", "side": "BUY", "hash": "0" * 40}
        bad_entries: list[Any] = [
            [],
            "0.5",  # a string where the list of changes belongs
            [entry | {"price": "0.5.1"}],
            [entry | {"size": "NaN"}],
            [entry | {"price": "1.7"}],
        ]
        change = {
            "market": market,
            "price_changes": bad_entries[kind],
            "timestamp": ts,
            "event_type": "price_change",
        }
        return dumps(change), assets

    async def disconnect_all(self) -> None:
        clients = list(self.clients)
        for client in clients:
            client.dropped = True
            if not self._abort(client):
                await _close_quietly(client.websocket, 1011)
        log.info("sim_disconnect_all", clients=len(clients))

    # --- publishing -----------------------------------------------------------------------

    def publish(self, frame: Frame) -> None:
        """Send one venue frame to its subscribers, through the pending faults."""
        self._last_frame = frame
        self.frames_sent += 1
        held = self._held
        if held is not None and frame.market == held.frame.market:
            self._held = None
            if frame.kind == "price_change" and frame.ts_ms != held.frame.ts_ms:
                self._send(frame)  # the swap: the later frame first
                self._send(held.frame)
                return
            self._send(held.frame)  # another kind of frame came first: swap a later pair
            self._reorders += 1
        if self._reorders and self._held is None and frame.kind == "price_change":
            self._reorders -= 1
            self._held = _Held(frame, time.monotonic())
            return
        self._send(frame)

    def release_stale(self) -> None:
        held = self._held
        if held is not None and time.monotonic() - held.since > REORDER_HOLD_S:
            self._held = None
            self._send(held.frame)
            self._reorders += 1

    def _send(self, frame: Frame) -> None:
        self._fan_out(frame.text, frame.assets)
        if self._duplicates:
            self._duplicates -= 1
            self._fan_out(frame.text, frame.assets)

    def _fan_out(self, text: str, assets: tuple[str, ...]) -> None:
        now = time.monotonic()
        for client in self.clients:
            if client.dropped or not client.assets or self._frozen(client, now):
                continue
            if assets and not any(a in client.assets for a in assets):
                continue
            self._enqueue(client, text)

    def _enqueue(self, client: Client, text: str) -> None:
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            client.dropped = True
            log.warning("sim_slow_client_dropped", peer=client.peer, backlog=client.queue.qsize())
            self._abort(client)

    # --- the endpoint ---------------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        peer = (websocket.client.host, websocket.client.port) if websocket.client else None
        client = Client(websocket, asyncio.Queue(self._queue_limit), time.monotonic(), peer)
        self.clients.add(client)
        self.connections_total += 1
        writer = asyncio.create_task(self._write(client))
        try:
            while not client.dropped:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    data = message.get("bytes") or b""
                    text = data.decode("utf-8", "replace")
                self._on_text(client, text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.clients.discard(client)
            writer.cancel()
            await asyncio.wait([writer])  # without swallowing our own cancellation

    async def _write(self, client: Client) -> None:
        websocket = client.websocket
        try:
            while True:
                text = await client.queue.get()
                await websocket.send_text(text)
        except Exception:  # the peer went away: the reader side cleans up
            client.dropped = True

    def _on_text(self, client: Client, text: str) -> None:
        if text.strip() == "PING":
            if not self._frozen(client, time.monotonic()):
                self._enqueue(client, "PONG")
            return
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            log.info("sim_ws_bad_message", peer=client.peer, sample=text[:80])
            return
        if not isinstance(message, dict):
            return
        assets = message.get("assets_ids")
        if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
            log.info("sim_ws_bad_message", peer=client.peer, sample=text[:80])
            return
        if message.get("custom_feature_enabled") is True:
            client.custom_features = True
        operation = str(message.get("operation", "subscribe")).lower()
        kind = message.get("type")
        if kind is not None and str(kind).lower() != "market":
            return
        if operation == "unsubscribe":
            client.assets.difference_update(assets)
            return
        if operation != "subscribe":
            return
        new = [a for a in dict.fromkeys(assets) if a not in client.assets]
        client.assets.update(new)
        if message.get("initial_dump", True) is not False:
            # Built and queued in the same step as the subscription takes effect: the snapshot
            # and the frames after it are consistent.
            self._enqueue(client, self._snapshot(new))


async def _close_quietly(websocket: WebSocket, code: int) -> None:
    with contextlib.suppress(Exception):  # already gone
        await websocket.close(code)
