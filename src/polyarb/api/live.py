"""What the engine(s) publish, as the dashboard sees it: the latest state of each engine, the
recent signals, trades and errors, and the fan-out to the live stream's clients.

One bus subscription per dashboard process feeds everything. Messages are encoded once and
sent to the stream's clients in batches, one frame (a JSON array) every ``FLUSH_S`` at most, so
the cost on the event loop (shared with the engine on the embedded default) grows with the
number of clients, not with the number of events times clients. Each client has its own
bounded queue of frames; a client that cannot keep up is dropped (its socket closed, so the
browser reconnects and gets a fresh snapshot), never waited for. Every message carries this
process's sequence number: a browser that sees a jump (or a ``resync`` message, sent when the
dashboard itself missed bus messages) reloads over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog

from polyarb.bus import Bus, EngineStates, Envelope, Gap, Subscription
from polyarb.bus.topics import ENGINE_CHANNELS, Channel

log = structlog.get_logger(__name__)

RECENT = 200
CLIENT_QUEUE = 50  # frames: 5 s behind at one frame per FLUSH_S
FLUSH_S = 0.1
WAKE_BATCH = 5  # stream clients handed a frame per turn of the event loop


@dataclass(slots=True, eq=False)  # identity: kept in a set
class StreamClient:
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    dropped: bool = False
    on_drop: Callable[[], None] | None = None


class LiveView:
    def __init__(self, bus: Bus, *, stale_after_s: float = 3.0, flush_s: float = FLUSH_S) -> None:
        self._bus = bus
        self._flush_s = flush_s
        self._pending: list[bytes] = []
        self._spread_frame = b""  # the frame being handed out, WAKE_BATCH clients a turn
        self._undelivered: list[StreamClient] = []  # ... to these still
        self._flusher: asyncio.Task[None] | None = None
        self.states = EngineStates(stale_after_s=stale_after_s)
        self.recent: dict[Channel, deque[Envelope]] = {
            Channel.SIGNALS: deque(maxlen=RECENT),
            Channel.TRADES: deque(maxlen=RECENT),
            Channel.ERRORS: deque(maxlen=RECENT),
            Channel.ALERTS: deque(maxlen=RECENT),
        }
        self.clients: set[StreamClient] = set()
        self.seq = 0
        self.clients_dropped = 0
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._encoder = msgspec.json.Encoder()

    async def start(self) -> None:
        self._subscription = self._bus.subscribe(ENGINE_CHANNELS, on_gap=self._on_gap)
        await self._subscription.wait_ready(2.0)
        self._task = asyncio.create_task(self._run(self._subscription), name="api-live")
        self._flusher = asyncio.create_task(self._flush_loop(), name="api-live-flush")

    async def close(self) -> None:
        for task in (self._task, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._subscription is not None:
            await self._subscription.close()

    async def _run(self, subscription: Subscription) -> None:
        async for envelope in subscription:
            channel = Channel(envelope.channel)
            if channel is Channel.STATE:
                self.states.update(envelope)
            else:
                self.recent[channel].append(envelope)
            if self.clients:
                self._pending.append(self.message("event", envelope))
            else:
                self.seq += 1  # numbered all the same: a client's snapshot says where it starts

    async def _on_gap(self, gap: Gap) -> None:
        self._pending.append(self.message("resync", {"reason": gap.reason, "channel": gap.channel}))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            await self.spread()

    async def spread(self) -> None:
        """Send what is pending to every client as one frame, a few clients at a time."""
        if self._pending:
            # Handed to WAKE_BATCH clients per turn of the event loop: each one woken sends
            # its frame in the next turn, so all of them at once held the loop (the engine's,
            # on the embedded default) for one send per client before any market data behind
            # them was read. Spread, the feed waits at most WAKE_BATCH sends.
            self._spread_frame = self._take_frame()
            self._undelivered = list(self.clients)
        while self._undelivered:
            batch = self._undelivered[:WAKE_BATCH]
            self._undelivered = self._undelivered[WAKE_BATCH:]
            self.broadcast(self._spread_frame, batch)
            if self._undelivered:
                await asyncio.sleep(0)

    def flush(self) -> None:
        """Send what is pending to every client as one frame, now (after the rest of a frame
        being spread, so that every client gets the frames in order)."""
        if self._undelivered:
            rest, self._undelivered = self._undelivered, []
            self.broadcast(self._spread_frame, rest)
        if self._pending:
            self.broadcast(self._take_frame())

    def _take_frame(self) -> bytes:
        frame = b"[" + b",".join(self._pending) + b"]"
        self._pending = []
        return frame

    def message(self, kind: str, data: Any) -> bytes:
        self.seq += 1
        return self._encoder.encode({"seq": self.seq, "kind": kind, "data": data})

    def broadcast(self, frame: bytes, clients: list[StreamClient] | None = None) -> None:
        """Queue ``frame`` for ``clients`` (default: all) still connected."""
        for client in list(self.clients) if clients is None else clients:
            if client.dropped or client not in self.clients:
                continue
            try:
                client.queue.put_nowait(frame)
            except asyncio.QueueFull:
                client.dropped = True
                self.clients_dropped += 1
                self.clients.discard(client)
                if client.on_drop is not None:
                    client.on_drop()

    def snapshot(self) -> bytes:
        data = {
            "engines": {
                instance: {
                    "state": current.state,
                    "stale": self.states.is_stale(instance),
                    "seq": current.envelope.seq,
                }
                for instance, current in self.states.latest.items()
            },
            "signals": list(self.recent[Channel.SIGNALS])[-50:],
            "trades": list(self.recent[Channel.TRADES])[-50:],
            "errors": list(self.recent[Channel.ERRORS])[-50:],
            "alerts": list(self.recent[Channel.ALERTS])[-50:],
            "ts_ns": time.time_ns(),
        }
        # The snapshot holds everything up to the current number; the next event is seq + 1.
        # Messages numbered but not yet flushed are in it too; the client skips them by number.
        self.flush()
        return (
            b"[" + self._encoder.encode({"seq": self.seq, "kind": "snapshot", "data": data}) + b"]"
        )

    def engine_fresh(self) -> bool:
        return any(not self.states.is_stale(i) for i in self.states.latest)
