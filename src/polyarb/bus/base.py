"""The ``Bus`` seam and what every implementation shares: envelopes, subscriptions, gaps.

Pub/sub is at-most-once. Each publisher numbers its messages per channel (1, 2, 3 ...), so a
subscriber that misses one (a full queue, a dropped publish, a reconnect) sees a jump and
resyncs from the database, the system of record. ``publish`` is called on the trading path: it
never blocks and never raises; what cannot be delivered is counted as dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol

import structlog

from polyarb.bus import codec
from polyarb.bus.schemas import Envelope, Payload
from polyarb.bus.topics import Channel
from polyarb.domain.errors import MalformedMessage

log = structlog.get_logger(__name__)

Clock = Callable[[], int]  # unix ns


@dataclass(slots=True)
class BusStats:
    """Counters of one bus (the publishing side); all totals since start."""

    published: int = 0  # handed to the transport (memory: delivered; Redis: PUBLISH succeeded)
    dropped: int = 0  # publish calls that never reached the transport
    reconnects: int = 0  # publisher reconnections after a lost connection
    connected: bool = False
    queued: int = 0  # waiting in the outgoing queue right now
    last_error: str = ""


@dataclass(slots=True)
class SubscriptionStats:
    received: int = 0  # envelopes delivered to the consumer
    malformed: int = 0  # messages that failed to decode (skipped)
    incompatible: int = 0  # messages with another schema version (skipped)
    dropped: int = 0  # discarded because the consumer was behind (its queue was full)
    gaps: int = 0  # sequence jumps and restarts seen
    missed: int = 0  # messages known to be lost (sum of the jumps)
    reconnects: int = 0


@dataclass(frozen=True, slots=True)
class Gap:
    """Something a subscriber may have missed: resync from the database.

    ``sequence``: a publisher's numbers jumped by ``missed``; ``restart``: they went back (the
    publisher restarted, ``missed`` unknown); ``reconnect``: this subscriber lost its connection
    (anything published meanwhile is lost; ``missed`` becomes known with each stream's next
    message, which is then reported with ``after_reconnect`` set).
    """

    reason: Literal["sequence", "restart", "reconnect"]
    detected_ns: int
    channel: str = ""
    instance_id: str = ""
    expected: int = 0
    received: int = 0
    missed: int | None = None
    after_reconnect: bool = False


GapCallback = Callable[[Gap], Awaitable[None]]


class SequenceTracker:
    """Last sequence number seen per (publisher instance, channel)."""

    def __init__(self, clock: Clock = time.time_ns) -> None:
        self._clock = clock
        self.last: dict[tuple[str, str], int] = {}
        self._after_reconnect: set[tuple[str, str]] = set()

    def observe(self, envelope: Envelope) -> Gap | None:
        key = (envelope.instance_id, envelope.channel)
        previous = self.last.get(key)
        self.last[key] = envelope.seq
        after_reconnect = key in self._after_reconnect
        self._after_reconnect.discard(key)
        if previous is None or envelope.seq == previous + 1:
            return None
        if envelope.seq <= previous:
            reason: Literal["sequence", "restart"] = "restart"
            missed: int | None = None
        else:
            reason = "sequence"
            missed = envelope.seq - previous - 1
        return Gap(
            reason=reason,
            detected_ns=self._clock(),
            channel=envelope.channel,
            instance_id=envelope.instance_id,
            expected=previous + 1,
            received=envelope.seq,
            missed=missed,
            after_reconnect=after_reconnect,
        )

    def reconnected(self) -> None:
        """The next jump on every known stream happened while disconnected."""
        self._after_reconnect = set(self.last)

    def instances(self) -> set[str]:
        return {instance for instance, _ in self.last}


class _Reconnected:
    """Queue marker: the transport reconnected here (everything before it is older)."""


_RECONNECTED = _Reconnected()


class Subscription:
    """An async iterator of envelopes on some channels, with its own bounded queue.

    Implementations feed it (``offer``/``offer_raw``/``offer_reconnected``); the consumer
    iterates. When the consumer lags, new envelopes are dropped for this subscription only and
    the jump shows in the sequence numbers. ``on_gap`` is awaited before the envelope that
    revealed the gap is returned, so a consumer reloads from the database first and then
    applies the newer events. A failing ``on_gap`` is logged and never ends the iteration.
    """

    def __init__(
        self,
        channels: Iterable[Channel],
        *,
        max_queue: int = 1000,
        on_gap: GapCallback | None = None,
        on_close: Callable[[Subscription], Awaitable[None]] | None = None,
        clock: Clock = time.time_ns,
    ) -> None:
        self.channels = frozenset(channels)
        self.stats = SubscriptionStats()
        self.sequences = SequenceTracker(clock)
        self._clock = clock
        self._max_queue = max_queue
        self._on_gap = on_gap
        self._on_close = on_close
        self._items: deque[Envelope | _Reconnected] = deque()
        self._queued_envelopes = 0
        self._wakeup = asyncio.Event()
        self._ready = asyncio.Event()
        self._closed = False

    # --- producer side (the bus implementation) ----------------------------------------------

    def offer(self, envelope: Envelope) -> None:
        if self._closed:
            return
        if self._queued_envelopes >= self._max_queue:
            self.stats.dropped += 1
            return
        self._items.append(envelope)
        self._queued_envelopes += 1
        self._wakeup.set()

    def offer_raw(self, raw: bytes | str) -> None:
        """Decode a message from the wire; a bad one is counted, logged (sampled) and skipped."""
        try:
            envelope = codec.decode(raw)
        except codec.IncompatibleSchema as exc:
            self.stats.incompatible += 1
            self._log_bad("bus.incompatible_message", exc, self.stats.incompatible)
            return
        except MalformedMessage as exc:
            self.stats.malformed += 1
            self._log_bad("bus.malformed_message", exc, self.stats.malformed)
            return
        if envelope.channel in self.channels:
            self.offer(envelope)

    def offer_reconnected(self) -> None:
        """Mark a reconnect in the stream; never dropped, whatever the queue holds."""
        self.stats.reconnects += 1
        self._items.append(_RECONNECTED)
        self._wakeup.set()

    def set_ready(self) -> None:
        self._ready.set()

    @staticmethod
    def _log_bad(event: str, exc: Exception, count: int) -> None:
        if count <= 5 or count % 1000 == 0:
            log.warning(event, error=str(exc)[:200], count=count)

    # --- consumer side -----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait_ready(self, timeout_s: float = 5.0) -> bool:
        """Wait until the transport has subscribed; False on timeout (it keeps trying)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self

    async def __anext__(self) -> Envelope:
        while True:
            while not self._items:
                if self._closed:
                    raise StopAsyncIteration
                self._wakeup.clear()
                await self._wakeup.wait()
            item = self._items.popleft()
            if isinstance(item, _Reconnected):
                self.sequences.reconnected()
                await self._report(Gap(reason="reconnect", detected_ns=self._clock()))
                continue
            self._queued_envelopes -= 1
            gap = self.sequences.observe(item)
            if gap is not None:
                self.stats.gaps += 1
                self.stats.missed += gap.missed or 0
                await self._report(gap)
            self.stats.received += 1
            return item

    async def _report(self, gap: Gap) -> None:
        log.info(
            "bus.gap",
            reason=gap.reason,
            channel=gap.channel,
            instance_id=gap.instance_id,
            missed=gap.missed,
            after_reconnect=gap.after_reconnect,
        )
        if self._on_gap is None:
            return
        try:
            await self._on_gap(gap)
        except Exception:  # a broken callback must not end the subscription
            log.exception("bus.gap_callback_failed", reason=gap.reason)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        if self._on_close is not None:
            await self._on_close(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Bus(Protocol):
    """Move envelopes between the engine and its dashboards, in process or through Redis."""

    @property
    def instance_id(self) -> str: ...

    @property
    def stats(self) -> BusStats: ...

    async def start(self) -> None:
        """Connect (Redis: one attempt, then keep retrying in the background); never raises."""

    async def close(self) -> None:
        """Stop the background tasks and end every subscription."""

    async def publish(self, channel: Channel, payload: Payload) -> None:
        """Queue ``payload`` for ``channel``; never blocks, never raises (counts drops)."""

    def publish_nowait(self, channel: Channel, payload: Payload) -> None:
        """The same, callable from synchronous code on the event loop's thread."""

    def subscribe(
        self,
        channels: Iterable[Channel],
        *,
        on_gap: GapCallback | None = None,
        max_queue: int = 1000,
    ) -> Subscription:
        """Start receiving the channels' envelopes (use ``wait_ready`` before relying on it)."""
        ...


class Envelopes:
    """Stamp payloads with this publisher's id, the time and the next per-channel number."""

    def __init__(self, instance_id: str, clock: Clock = time.time_ns) -> None:
        self.instance_id = instance_id
        self._clock = clock
        self._seq: dict[Channel, int] = dict.fromkeys(Channel, 0)

    def wrap(self, channel: Channel, payload: Payload) -> Envelope | None:
        """The envelope, or None (logged) when the payload does not belong on the channel."""
        if getattr(payload, "CHANNEL", None) is not channel:
            log.error("bus.wrong_channel", channel=str(channel), payload=type(payload).__name__)
            return None
        seq = self._seq[channel] + 1
        self._seq[channel] = seq
        return Envelope(
            channel=channel,
            instance_id=self.instance_id,
            seq=seq,
            ts_ns=self._clock(),
            type=payload.TYPE,
            data=payload,
        )
