"""Local-socket bus: the embedded default's dashboard in its own process, without Redis.

The engine keeps its ``MemoryBus``; a ``LocalBusServer`` taps the engine's hub and serves it on
a Unix domain socket in a private directory (mode 0700, made by ``tempfile.mkdtemp``: only this
user reaches it, and its path stays under the socket-path length limit whatever DATA_DIR is).
A ``LocalBus`` (the dashboard process's ``Bus``) connects to it. Same semantics as the other
buses: at-most-once, per-publisher sequence numbers, gaps resynced from the database.

Wire: frames of ``>IB`` (body length, kind) then the body. ``MESSAGE``: an envelope as the codec
encodes it (the same bytes Redis carries). ``SUBSCRIBE``: ``serial`` + the channel names the
peer wants from now on (it replaces the previous set); the server answers ``SUBSCRIBED`` with
the serial once applied, which is when the peer's subscriptions are ready.

On the engine's side a published envelope is encoded once (only when a peer follows its
channel) and written without waiting: a peer whose unsent bytes exceed ``max_buffer`` loses the
frame (counted; it sees the jump in the sequence numbers), so a slow or stuck dashboard never
slows trading. Frames from peers (commands, queries) are delivered to the hub's subscriptions
and to the other peers that follow the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import structlog

from polyarb.bus import codec
from polyarb.bus.base import BusStats, Clock, Envelopes, GapCallback, Subscription
from polyarb.bus.memory import MemoryHub
from polyarb.bus.schemas import Envelope, Payload
from polyarb.bus.topics import Channel, channel_named
from polyarb.domain.backoff import Backoff
from polyarb.domain.errors import MalformedMessage

log = structlog.get_logger(__name__)

_HEADER = struct.Struct(">IB")
MESSAGE, SUBSCRIBE, SUBSCRIBED = 1, 2, 3
MAX_FRAME = codec.MAX_MESSAGE_BYTES + 1024
MAX_BUFFER = 4 << 20  # unsent bytes per connection beyond which frames are dropped


def frame(kind: int, body: bytes) -> bytes:
    return _HEADER.pack(len(body), kind) + body


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next frame; raises ``ConnectionError`` at the end or on a frame that is not ours."""
    try:
        length, kind = _HEADER.unpack(await reader.readexactly(_HEADER.size))
        if length > MAX_FRAME:
            raise ConnectionError(f"frame of {length} bytes exceeds {MAX_FRAME}")
        return kind, await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ConnectionError("closed") from None


def _write(writer: asyncio.StreamWriter, data: bytes, max_buffer: int) -> bool:
    """Write without waiting; False (nothing written) when closed or too far behind."""
    transport = writer.transport
    if transport.is_closing() or transport.get_write_buffer_size() > max_buffer:
        return False
    transport.write(data)
    return True


class _Peer:
    def __init__(self, writer: asyncio.StreamWriter, task: asyncio.Task[None] | None) -> None:
        self.writer = writer
        self.task = task
        self.channels: frozenset[str] = frozenset()
        self.dropped = 0


class LocalBusServer:
    """Serve a ``MemoryHub`` (the engine's) to dashboard processes on a local socket."""

    def __init__(self, hub: MemoryHub, *, max_buffer: int = MAX_BUFFER) -> None:
        self.hub = hub
        self.max_buffer = max_buffer
        self.dropped = 0  # frames not written to a peer that was behind
        self.malformed = 0  # frames from peers that failed to decode
        self._peers: set[_Peer] = set()
        self._server: asyncio.Server | None = None
        self._dir: str | None = None
        self._path = ""

    @property
    def path(self) -> str:
        return self._path

    @property
    def peers(self) -> int:
        return len(self._peers)

    async def start(self, path: str | None = None) -> str:
        """Listen (on ``path``, else in a new private directory); returns the socket's path."""
        if path is None:
            self._dir = tempfile.mkdtemp(prefix="polyarb-bus-")  # 0700: this user only
            path = os.path.join(self._dir, "bus.sock")
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # a previous server's socket
        self._path = path
        self._server = await asyncio.start_unix_server(self._serve, path=self._path)
        self.hub.taps.append(self._tap)
        return self._path

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.hub.taps.remove(self._tap)
        if self._server is not None:
            self._server.close()
            self._server = None
        tasks = [peer.task for peer in self._peers if peer.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._peers.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        elif self._path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)

    def _tap(self, envelope: Envelope) -> None:
        """Called by the hub for every envelope published in process: never blocks."""
        data: bytes | None = None
        for peer in self._peers:
            if envelope.channel not in peer.channels:
                continue
            if data is None:
                try:
                    data = frame(MESSAGE, codec.encode(envelope))
                except Exception as exc:  # a payload msgspec cannot encode: a bug, logged
                    log.error("bus.unencodable_payload", type=envelope.type, error=str(exc)[:200])
                    return
            self._send(peer, data)

    def _send(self, peer: _Peer, data: bytes) -> None:
        if not _write(peer.writer, data, self.max_buffer):
            peer.dropped += 1
            self.dropped += 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _Peer(writer, asyncio.current_task())
        self._peers.add(peer)
        try:
            while True:
                kind, body = await read_frame(reader)
                if kind == MESSAGE:
                    self._deliver(body)
                elif kind == SUBSCRIBE:
                    serial, names = json.loads(body)
                    peer.channels = frozenset(
                        name for name in names if channel_named(str(name)) is not None
                    )
                    self._send(peer, frame(SUBSCRIBED, json.dumps(serial).encode()))
        except (ConnectionError, OSError, ValueError, TypeError):
            pass  # a peer gone or speaking nonsense: drop it, the others go on
        finally:
            self._peers.discard(peer)
            writer.close()

    def _deliver(self, body: bytes) -> None:
        try:
            envelope = codec.decode(body)
        except MalformedMessage as exc:
            self.malformed += 1
            if self.malformed <= 5 or self.malformed % 1000 == 0:
                log.warning("bus.malformed_message", error=str(exc)[:200], count=self.malformed)
            return
        for subscription in self.hub.subscriptions:
            if envelope.channel in subscription.channels:
                subscription.offer(envelope)
        data: bytes | None = None
        for peer in self._peers:  # the sender too, if it follows the channel (as over Redis)
            if envelope.channel in peer.channels:
                data = data or frame(MESSAGE, body)
                self._send(peer, data)


class LocalBus:
    """``Bus`` over a ``LocalBusServer``'s socket: one connection, reconnected when lost."""

    def __init__(
        self,
        path: str | Path,
        instance_id: str,
        *,
        max_buffer: int = MAX_BUFFER,
        backoff_min_s: float = 0.05,
        backoff_max_s: float = 2.0,
        clock: Clock = time.time_ns,
    ) -> None:
        self.stats = BusStats()
        self._path = str(path)
        self._envelopes = Envelopes(instance_id, clock)
        self._clock = clock
        self._max_buffer = max_buffer
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._subscriptions: dict[Subscription, int] = {}  # -> serial that covers it
        self._serial = 0
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def instance_id(self) -> str:
        return self._envelopes.instance_id

    async def start(self) -> None:
        if self._task is not None:
            return
        self._closing = False
        connection = await self._connect_once()
        self._task = asyncio.create_task(self._run(connection), name="bus-local")

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for subscription in list(self._subscriptions):
            await subscription.close()
        self._drop_connection()

    # --- publishing ----------------------------------------------------------------------------

    async def publish(self, channel: Channel, payload: Payload) -> None:
        self.publish_nowait(channel, payload)

    def publish_nowait(self, channel: Channel, payload: Payload) -> None:
        envelope = self._envelopes.wrap(channel, payload)
        writer = self._writer
        if envelope is None or writer is None:
            self.stats.dropped += 1
            return
        try:
            data = frame(MESSAGE, codec.encode(envelope))
        except Exception as exc:  # a payload msgspec cannot encode: a bug, not an outage
            self.stats.dropped += 1
            log.error("bus.unencodable_payload", type=envelope.type, error=str(exc)[:200])
            return
        if _write(writer, data, self._max_buffer):
            self.stats.published += 1
        else:
            self.stats.dropped += 1

    # --- subscribing ---------------------------------------------------------------------------

    def subscribe(
        self,
        channels: Iterable[Channel],
        *,
        on_gap: GapCallback | None = None,
        max_queue: int = 1000,
    ) -> Subscription:
        subscription = Subscription(
            channels,
            max_queue=max_queue,
            on_gap=on_gap,
            on_close=self._unsubscribe,
            clock=self._clock,
        )
        self._subscriptions[subscription] = 0
        self._subscriptions[subscription] = self._send_channels()  # with its channels
        return subscription

    async def _unsubscribe(self, subscription: Subscription) -> None:
        if self._subscriptions.pop(subscription, None) is not None:
            self._send_channels()

    def _send_channels(self) -> int:
        """Tell the server the channels followed now; the serial its answer will carry."""
        self._serial += 1
        writer = self._writer
        if writer is not None:
            names = sorted({c for s in self._subscriptions for c in s.channels})
            body = json.dumps([self._serial, names]).encode()
            # Never dropped for a full buffer: without it the subscriptions would stay deaf.
            if not writer.transport.is_closing():
                writer.transport.write(frame(SUBSCRIBE, body))
        return self._serial

    # --- the connection ------------------------------------------------------------------------

    async def _connect_once(self) -> asyncio.StreamReader | None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(self._path, limit=MAX_FRAME), 2.0
            )
        except (OSError, TimeoutError) as exc:
            self.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]
            return None
        self._writer = writer
        self.stats.connected = True
        return reader

    def _drop_connection(self) -> None:
        self.stats.connected = False
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def _run(self, reader: asyncio.StreamReader | None) -> None:
        backoff = Backoff(self._backoff_min_s, self._backoff_max_s)
        connected_before = False
        while not self._closing:
            if reader is None:
                await asyncio.sleep(backoff.next_delay())
                reader = await self._connect_once()
                continue
            if connected_before:
                self.stats.reconnects += 1
                log.info("bus.local_reconnected", attempts=backoff.attempts)
                for subscription in self._subscriptions:
                    subscription.offer_reconnected()
            connected_before = True
            backoff.reset()
            serial = self._send_channels()
            for subscription in self._subscriptions:
                self._subscriptions[subscription] = serial
            try:
                await self._read(reader)
            except (ConnectionError, OSError) as exc:
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("bus.local_lost_connection", error=self.stats.last_error)
            self._drop_connection()
            reader = None

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            kind, body = await read_frame(reader)
            if kind == MESSAGE:
                self._offer(body)
            elif kind == SUBSCRIBED:
                serial = int(json.loads(body))
                for subscription, wanted in self._subscriptions.items():
                    if wanted <= serial:
                        subscription.set_ready()

    def _offer(self, body: bytes) -> None:
        try:
            envelope = codec.decode(body)
        except MalformedMessage:  # each subscription counts and logs it
            for subscription in self._subscriptions:
                subscription.offer_raw(body)
            return
        for subscription in self._subscriptions:
            if envelope.channel in subscription.channels:
                subscription.offer(envelope)
