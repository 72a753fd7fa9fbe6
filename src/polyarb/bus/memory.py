"""In-process bus: the embedded default (engine and dashboard in one process)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from polyarb.bus.base import BusStats, Clock, Envelopes, GapCallback, Subscription
from polyarb.bus.schemas import Envelope, Payload
from polyarb.bus.topics import Channel


class MemoryHub:
    """The subscriptions every ``MemoryBus`` of one process delivers to, and its taps: callables
    handed each published envelope synchronously (``LocalBusServer`` relays them to another
    process); a tap must never block."""

    def __init__(self) -> None:
        self.subscriptions: set[Subscription] = set()
        self.taps: list[Callable[[Envelope], None]] = []


class MemoryBus:
    """Fan each envelope out to the subscriptions' own bounded queues, synchronously.

    Nothing is encoded: payloads are frozen structs shared by every subscriber. A subscriber
    that falls behind loses envelopes (its queue is full) and sees the gap in the sequence
    numbers; the publisher never waits for it. Buses built on the same ``hub`` (for example
    the engine's and the dashboard's, each with its own instance id) reach each other.
    """

    def __init__(
        self, instance_id: str, *, hub: MemoryHub | None = None, clock: Clock = time.time_ns
    ) -> None:
        self.stats = BusStats(connected=True)
        self.hub = hub or MemoryHub()
        self._envelopes = Envelopes(instance_id, clock)
        self._clock = clock
        self._own: set[Subscription] = set()
        self._closed = False

    @property
    def instance_id(self) -> str:
        return self._envelopes.instance_id

    async def start(self) -> None:
        self._closed = False
        self.stats.connected = True

    async def close(self) -> None:
        self._closed = True
        self.stats.connected = False
        for subscription in list(self._own):
            await subscription.close()

    async def publish(self, channel: Channel, payload: Payload) -> None:
        self.publish_nowait(channel, payload)

    def publish_nowait(self, channel: Channel, payload: Payload) -> None:
        envelope = self._envelopes.wrap(channel, payload)
        if envelope is None or self._closed:
            self.stats.dropped += 1
            return
        for subscription in self.hub.subscriptions:
            if channel in subscription.channels:
                subscription.offer(envelope)
        for tap in self.hub.taps:
            tap(envelope)
        self.stats.published += 1

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
        self.hub.subscriptions.add(subscription)
        self._own.add(subscription)
        subscription.set_ready()
        return subscription

    async def _unsubscribe(self, subscription: Subscription) -> None:
        self.hub.subscriptions.discard(subscription)
        self._own.discard(subscription)
