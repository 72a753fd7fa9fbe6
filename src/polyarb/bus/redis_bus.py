"""Redis pub/sub bus: engine(s) and dashboards as separate processes or hosts.

Publishing: ``publish`` stamps the envelope and appends it to a bounded queue; one background
task encodes and sends batches through a pipeline on its own connection. While that connection
is down (and while the queue is full) publishes are dropped and counted, so nothing piles up to
be flushed stale later and the trading path never waits on Redis.

Subscribing: each subscription owns a connection and a reader task. A lost connection (an
error, or silence past the health interval with no answer to a PING) is closed and reopened
with exponential backoff and jitter; the reconnect is flagged in the stream so the consumer
resyncs. redis-py's own retries are switched off: we must know when a reconnect happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from polyarb.bus import codec
from polyarb.bus.base import BusStats, Clock, Envelopes, GapCallback, Subscription
from polyarb.bus.schemas import Envelope, Payload
from polyarb.bus.topics import Channel
from polyarb.domain.backoff import Backoff
from polyarb.domain.errors import CircuitOpen, ConfigError
from polyarb.domain.guard import CallGuard

log = structlog.get_logger(__name__)

_CONNECTION_ERRORS = (RedisError, OSError, TimeoutError)


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class RedisBus:
    """``Bus`` over Redis pub/sub (``REDIS_URL``)."""

    def __init__(
        self,
        url: str,
        instance_id: str,
        *,
        channel_prefix: str = "",
        max_queue: int = 10_000,
        max_batch: int = 512,
        connect_timeout_s: float = 1.0,
        command_timeout_s: float = 2.0,
        health_interval_s: float = 1.0,
        backoff_min_s: float = 0.05,
        backoff_max_s: float = 5.0,
        clock: Clock = time.time_ns,
    ) -> None:
        if urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
            raise ConfigError(
                f"REDIS_URL must be redis://, rediss:// or unix:// (got {redacted(url)})"
            )
        self.stats = BusStats()
        # Redis's circuit breaker (set by the engine): the publisher's connects and sends are its
        # calls; while it is open no reconnect is tried until its probe.
        self.guard: CallGuard | None = None
        self._url = url
        self._prefix = channel_prefix
        self._envelopes = Envelopes(instance_id, clock)
        self._clock = clock
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._connect_timeout_s = connect_timeout_s
        self._command_timeout_s = command_timeout_s
        self._health_interval_s = health_interval_s
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._outgoing: deque[Envelope] = deque()
        self._wakeup = asyncio.Event()
        self._client: Redis | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._readers: dict[Subscription, asyncio.Task[None]] = {}
        self._closing = False

    @property
    def instance_id(self) -> str:
        return self._envelopes.instance_id

    def wire_name(self, channel: Channel) -> str:
        return self._prefix + channel

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._publisher is not None:
            return
        self._closing = False
        await self._connect_once()
        self._publisher = asyncio.create_task(self._run_publisher(), name="bus-redis-publisher")

    async def close(self) -> None:
        self._closing = True
        self._wakeup.set()
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None
        for subscription in list(self._readers):
            await subscription.close()
        await self._disconnect()
        self.stats.queued = 0

    # --- publishing ----------------------------------------------------------------------------

    async def publish(self, channel: Channel, payload: Payload) -> None:
        self.publish_nowait(channel, payload)

    def publish_nowait(self, channel: Channel, payload: Payload) -> None:
        envelope = self._envelopes.wrap(channel, payload)
        if envelope is None or not self.stats.connected or len(self._outgoing) >= self._max_queue:
            self.stats.dropped += 1
            return
        self._outgoing.append(envelope)
        self.stats.queued = len(self._outgoing)
        self._wakeup.set()

    def _new_client(self, *, socket_timeout_s: float | None) -> Redis:
        return Redis.from_url(
            self._url,
            socket_connect_timeout=self._connect_timeout_s,
            socket_timeout=socket_timeout_s,
            retry=Retry(NoBackoff(), 0),
            single_connection_client=True,
        )

    async def _connect_once(self) -> bool:
        client = self._new_client(socket_timeout_s=self._command_timeout_s)
        try:
            await asyncio.wait_for(client.ping(), self._connect_timeout_s + 1.0)
        except Exception as exc:  # start() and the reconnect loop must never raise
            await _close_quietly(client)
            self.stats.last_error = _describe(exc)
            return False
        self._client = client
        self.stats.connected = True
        return True

    async def _disconnect(self) -> None:
        self.stats.connected = False
        if self._client is not None:
            await _close_quietly(self._client)
            self._client = None

    async def _reconnect(self) -> None:
        backoff = Backoff(self._backoff_min_s, self._backoff_max_s)
        started = time.monotonic()
        while not self._closing:
            await asyncio.sleep(backoff.next_delay())
            if self.guard is not None:
                try:
                    self.guard.check()
                except CircuitOpen:
                    continue  # no connection attempt while open
            connected = await self._connect_once()
            self._record(connected)
            if connected:
                self.stats.reconnects += 1
                log.info(
                    "bus.publisher_reconnected",
                    url=redacted(self._url),
                    attempts=backoff.attempts,
                    outage_s=round(time.monotonic() - started, 3),
                    dropped=self.stats.dropped,
                )
                return

    async def _run_publisher(self) -> None:
        while not self._closing:
            if self._client is None:
                await self._reconnect()
                continue
            if not self._outgoing:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [
                self._outgoing.popleft() for _ in range(min(self._max_batch, len(self._outgoing)))
            ]
            self.stats.queued = len(self._outgoing)
            try:
                sent = await asyncio.wait_for(
                    self._send(self._client, batch), self._command_timeout_s
                )
            except Exception as exc:  # the link's state is unknown: drop it and reconnect
                lost = len(batch) + len(self._outgoing)
                self._outgoing.clear()
                self.stats.queued = 0
                self.stats.dropped += lost
                self.stats.last_error = _describe(exc)
                if isinstance(exc, _CONNECTION_ERRORS):
                    log.warning("bus.publisher_lost_connection", error=_describe(exc), lost=lost)
                else:
                    log.exception("bus.publisher_failed", lost=lost)
                self._record(False)
                await self._disconnect()
            else:
                self.stats.published += sent
                self._record(True)

    def _record(self, ok: bool) -> None:
        if self.guard is None:
            return
        if ok:
            self.guard.record_success()
        else:
            self.guard.record_failure(self.stats.last_error or "connection failed")

    async def _send(self, client: Redis, batch: list[Envelope]) -> int:
        pipe = client.pipeline(transaction=False)
        sent = 0
        for envelope in batch:
            try:
                data = codec.encode(envelope)
            except Exception as exc:  # a payload msgspec cannot encode: a bug, not an outage
                self.stats.dropped += 1
                log.error("bus.unencodable_payload", type=envelope.type, error=_describe(exc))
                continue
            pipe.publish(self._prefix + envelope.channel, data)
            sent += 1
        if sent:
            await pipe.execute()
        return sent

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
        self._readers[subscription] = asyncio.create_task(
            self._run_reader(subscription), name="bus-redis-subscriber"
        )
        return subscription

    async def _unsubscribe(self, subscription: Subscription) -> None:
        task = self._readers.pop(subscription, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_reader(self, subscription: Subscription) -> None:
        names = [self.wire_name(channel) for channel in sorted(subscription.channels)]
        backoff = Backoff(self._backoff_min_s, self._backoff_max_s)
        subscribed_before = False
        lost_at: float | None = None
        while not subscription.closed:
            client = self._new_client(socket_timeout_s=None)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await asyncio.wait_for(pubsub.subscribe(*names), self._connect_timeout_s + 1.0)
                if subscribed_before:
                    subscription.offer_reconnected()
                    outage_s = time.monotonic() - (lost_at or time.monotonic())
                    log.info(
                        "bus.subscriber_reconnected",
                        channels=names,
                        attempts=backoff.attempts,
                        outage_s=round(outage_s, 3),
                    )
                subscribed_before = True
                lost_at = None
                backoff.reset()
                subscription.set_ready()
                await self._read(pubsub, subscription)
            except Exception as exc:  # whatever broke, the subscription reconnects
                error = _describe(exc)
                if not isinstance(exc, _CONNECTION_ERRORS):
                    log.exception("bus.subscriber_failed", channels=names)
                if lost_at is None:  # once per outage; the retries are at debug level
                    lost_at = time.monotonic()
                    log.warning("bus.subscriber_lost_connection", channels=names, error=error)
                else:
                    log.debug("bus.subscriber_retry_failed", error=error, attempt=backoff.attempts)
            finally:
                await _close_quietly(pubsub)
                await _close_quietly(client)
            if not subscription.closed:
                await asyncio.sleep(backoff.next_delay())

    async def _read(self, pubsub: PubSub, subscription: Subscription) -> None:
        interval = self._health_interval_s
        last_heard = time.monotonic()
        pinged = False
        while not subscription.closed:
            message = await pubsub.get_message(timeout=interval)
            now = time.monotonic()
            if message is None:
                silent = now - last_heard
                if silent > 2 * interval:
                    raise TimeoutError(f"no answer from Redis for {silent:.1f} s")
                if silent > interval and not pinged:
                    await pubsub.ping()
                    pinged = True
                continue
            last_heard = now
            pinged = False
            if message["type"] == "message":
                subscription.offer_raw(message["data"])


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


async def _close_quietly(resource: object) -> None:
    close = getattr(resource, "aclose", None)
    if close is None:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(close(), 1.0)  # a black-holed socket must not hang us
