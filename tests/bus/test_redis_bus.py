"""RedisBus under faults: unreachable server, cut and silent links, garbage, a real restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest
from redis.asyncio import Redis
from tests.proxy import TcpProxy
from tests.servers import RedisServer

from polyarb.bus import Channel, Envelope, ErrorEvent, RedisBus, Resync, StatePublisher
from polyarb.bus.redis_bus import redacted

from .helpers import (
    completes_at_once,
    engine_state,
    error_event,
    take,
    trade_event,
    wait_until,
)

pytestmark = pytest.mark.redis

FAST = {"backoff_min_s": 0.02, "backoff_max_s": 0.2, "connect_timeout_s": 0.5}


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[TcpProxy]:
    target = urlparse(redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    yield proxy
    await proxy.close()


def via(proxy: TcpProxy, redis_url: str) -> str:
    return f"redis://127.0.0.1:{proxy.port}{urlparse(redis_url).path}"


async def test_publish_never_raises_while_redis_is_unreachable_and_recovers(
    redis_url: str, prefix: str, proxy: TcpProxy
) -> None:
    await proxy.open(serving=False)  # the port is bound but refuses connections
    engine = RedisBus(via(proxy, redis_url), "engine-1", channel_prefix=prefix, **FAST)
    dashboard = RedisBus(redis_url, "dash", channel_prefix=prefix)
    try:
        # start() makes one attempt and returns (the hang guard is generous on purpose).
        await asyncio.wait_for(engine.start(), timeout=10)
        assert not engine.stats.connected
        for i in range(100):  # nothing is retried inline: each publish returns at once
            assert completes_at_once(engine.publish(Channel.TRADES, trade_event(i)))
        assert engine.stats.dropped == 100
        assert engine.stats.published == 0
        assert (
            "ConnectionRefused" in engine.stats.last_error or "Connect" in engine.stats.last_error
        )

        sub = dashboard.subscribe([Channel.TRADES])
        assert await sub.wait_ready()
        await proxy.serve()  # the server appears
        await wait_until(lambda: engine.stats.connected, timeout_s=5)
        await engine.publish(Channel.TRADES, trade_event(100))
        (envelope,) = await take(sub, 1)
        assert envelope.seq == 101  # the 100 dropped publishes used their numbers
        assert engine.stats.reconnects >= 1
    finally:
        await engine.close()
        await dashboard.close()


async def test_cut_link_drops_publishes_and_the_subscriber_resyncs(
    redis_url: str, prefix: str, proxy: TcpProxy
) -> None:
    await proxy.open()
    engine = RedisBus(via(proxy, redis_url), "engine-1", channel_prefix=prefix, **FAST)
    dashboard = RedisBus(via(proxy, redis_url), "dash", channel_prefix=prefix, **FAST)
    reloads: list[float] = []

    async def reload() -> None:
        reloads.append(time.monotonic())

    resync = Resync(reload)
    received: list[Envelope] = []
    try:
        await engine.start()
        sub = dashboard.subscribe([Channel.TRADES], on_gap=resync)
        assert await sub.wait_ready()

        async def consume() -> None:
            async for envelope in sub:
                received.append(envelope)

        async def trade(stop: asyncio.Event) -> None:
            i = 0
            while not stop.is_set():
                await engine.publish(Channel.TRADES, trade_event(i))
                i += 1
                await asyncio.sleep(0.005)

        stop = asyncio.Event()
        tasks = [asyncio.create_task(consume()), asyncio.create_task(trade(stop))]
        await wait_until(lambda: len(received) >= 20)
        proxy.cut()
        await wait_until(lambda: engine.stats.dropped > 0)  # publishing went on, dropping
        proxy.restore()
        await wait_until(lambda: sub.stats.reconnects == 1 and sub.stats.missed > 0, timeout_s=5)
        await wait_until(lambda: len(received) >= 100, timeout_s=5)
        stop.set()
        for task in tasks:
            task.cancel()

        assert len(reloads) == 1
        (report,) = resync.reports
        assert report.gap.reason == "reconnect"
        assert report.missed is not None
        assert report.missed >= 1
        seqs = [e.seq for e in received]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        assert sub.stats.missed == seqs[-1] - len(seqs)  # every missing number was accounted
    finally:
        await engine.close()
        await dashboard.close()


async def test_silent_link_is_noticed_by_the_health_check(
    redis_url: str, prefix: str, proxy: TcpProxy
) -> None:
    await proxy.open()
    dashboard = RedisBus(
        via(proxy, redis_url), "dash", channel_prefix=prefix, health_interval_s=0.2, **FAST
    )
    gaps: list[str] = []

    async def on_gap(gap: object) -> None:
        gaps.append(getattr(gap, "reason", ""))

    engine = RedisBus(redis_url, "engine-1", channel_prefix=prefix)
    try:
        await engine.start()
        sub = dashboard.subscribe([Channel.ERRORS], on_gap=on_gap)
        assert await sub.wait_ready()
        connections = proxy.connections
        proxy.freeze()  # a black hole: no reset, no data, no PONG
        # It gives up on the silent link and connects again.
        await wait_until(lambda: proxy.connections > connections, timeout_s=10)
        proxy.thaw()
        await wait_until(lambda: sub.stats.reconnects >= 1, timeout_s=5)
        await engine.publish(Channel.ERRORS, error_event())
        (envelope,) = await take(sub, 1)
        assert envelope.data == error_event()
        assert gaps[0] == "reconnect"
    finally:
        await engine.close()
        await dashboard.close()


async def test_garbage_on_the_channel_is_counted_and_skipped(redis_url: str, prefix: str) -> None:
    engine = RedisBus(redis_url, "engine-1", channel_prefix=prefix)
    raw = Redis.from_url(redis_url)
    try:
        await engine.start()
        sub = engine.subscribe([Channel.ERRORS])
        assert await sub.wait_ready()
        await raw.publish(prefix + "poly:errors", b"\x00garbage")
        await raw.publish(prefix + "poly:errors", b'{"schema_version": 1}')
        await engine.publish(Channel.ERRORS, error_event())
        (envelope,) = await take(sub, 1)
        assert envelope.data == error_event()
        assert sub.stats.malformed == 2
    finally:
        await raw.aclose()
        await engine.close()


async def test_an_unencodable_payload_is_dropped_and_publishing_goes_on(
    redis_url: str, prefix: str
) -> None:
    engine = RedisBus(redis_url, "engine-1", channel_prefix=prefix)
    try:
        await engine.start()
        sub = engine.subscribe([Channel.ERRORS])
        assert await sub.wait_ready()
        broken = ErrorEvent(source="x", kind="y", message="z", details={"k": object()})  # type: ignore[dict-item]
        await engine.publish(Channel.ERRORS, broken)
        await engine.publish(Channel.ERRORS, error_event())
        (envelope,) = await take(sub, 1)
        assert envelope.seq == 2
        assert envelope.data == error_event()
        assert engine.stats.dropped == 1
        assert engine.stats.connected
    finally:
        await engine.close()


def test_passwords_never_reach_the_logs() -> None:
    assert redacted("redis://user:s3cret@host:6380/1") == "redis://user:***@host:6380/1"
    assert redacted("redis://:s3cret@host/0") == "redis://***@host/0"
    assert redacted("redis://host:6379/0") == "redis://host:6379/0"


# --- a real server restarted (the test's own: tests/servers.py) -------------------------------


@pytest.mark.slow
async def test_real_redis_restart_while_state_publishes_at_10_hz(
    own_redis: RedisServer, prefix: str, record_property: pytest.RecordProperty
) -> None:
    redis_url = own_redis.url(15)
    engine = RedisBus(redis_url, "engine-1", channel_prefix=prefix, **FAST)
    dashboard = RedisBus(redis_url, "dash", channel_prefix=prefix, **FAST)
    reload_done: list[float] = []

    async def reload() -> None:  # the dashboard reloading from the database
        await asyncio.sleep(0.02)
        reload_done.append(time.monotonic())

    resync = Resync(reload)
    received: list[Envelope] = []
    ticks = 0
    ticks_while_down = 0
    suspended_publishes = 0
    down = False
    try:
        await engine.start()
        sub = dashboard.subscribe([Channel.STATE, Channel.TRADES], on_gap=resync)
        assert await sub.wait_ready()
        publisher = StatePublisher(engine, lambda: engine_state(), interval_s=0.1)

        async def consume() -> None:
            async for envelope in sub:
                received.append(envelope)

        async def trading() -> None:  # the engine's loop: publishes trades, must never stall
            nonlocal ticks, ticks_while_down, suspended_publishes
            while True:
                event = trade_event(ticks)
                suspended_publishes += not completes_at_once(engine.publish(Channel.TRADES, event))
                ticks += 1
                ticks_while_down += down
                await asyncio.sleep(0.01)

        tasks = [
            asyncio.create_task(publisher.run()),
            asyncio.create_task(consume()),
            asyncio.create_task(trading()),
        ]
        await wait_until(lambda: sum(e.channel == Channel.STATE for e in received) >= 5)

        shutdown_at = time.monotonic()
        down = True
        await asyncio.to_thread(own_redis.shutdown_nosave)
        assert not await asyncio.to_thread(own_redis.is_up)
        # Down until the trading loop has gone on for a while without Redis.
        await wait_until(lambda: ticks_while_down > 30, timeout_s=10)
        await asyncio.to_thread(own_redis.start)
        up_at = time.monotonic()
        down = False

        def resynced() -> bool:
            return bool(resync.reports) and resync.reports[0].missed is not None

        await wait_until(resynced, timeout_s=5)
        seen = len(received)

        def both_channels_resumed() -> bool:
            channels = {e.channel for e in received[seen:]}
            return channels == {Channel.STATE, Channel.TRADES}

        await wait_until(both_channels_resumed, timeout_s=5)
        for task in tasks:
            task.cancel()
    finally:
        await engine.close()
        await dashboard.close()

    report = resync.reports[0]
    resync_after_up_s = reload_done[0] - up_at
    figures = {
        "redis_down_s": round(up_at - shutdown_at, 3),
        "gap_missed_messages": report.missed,
        "resync_after_redis_up_s": round(resync_after_up_s, 3),
        "resync_after_shutdown_s": round(reload_done[0] - shutdown_at, 3),
        "reload_s": round(report.duration_s, 3),
        "publishes_dropped": engine.stats.dropped,
        "publisher_reconnects": engine.stats.reconnects,
        "trading_ticks_while_down": ticks_while_down,
    }
    for name, value in figures.items():
        record_property(name, value)
    print("redis restart:", figures)

    assert report.gap.reason == "reconnect"
    assert report.ok
    assert len(resync.reports) == 1  # one reload covered the whole outage
    assert report.missed is not None
    assert report.missed > 0
    assert engine.stats.dropped > 0
    assert engine.stats.reconnects >= 1
    assert sub.stats.reconnects == 1
    assert ticks_while_down > 30  # trading went on (~100 ticks/s) while Redis was away
    assert suspended_publishes == 0  # a publish never waits on Redis, up or down
    assert reload_done[0] > shutdown_at
    by_channel: dict[str, list[int]] = {}
    for envelope in received:
        by_channel.setdefault(envelope.channel, []).append(envelope.seq)
    for seqs in by_channel.values():
        assert seqs == sorted(seqs)
    assert sub.stats.missed == sum(s[-1] - s[0] + 1 - len(s) for s in by_channel.values())
