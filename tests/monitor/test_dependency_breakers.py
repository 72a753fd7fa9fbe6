"""Breakers of Redis, Slack and the database, driven by an injected clock.

Redis: the bus publisher's reconnects against a real ``redis-server`` of the test's own, shut
down and started again. Slack: the notifier's posts to the fake webhook (tests/monitor/
test_slack.py). Database: the writer's health as ``SampledCalls`` reads it, and an order intent
refused at once while the breaker is open. Asserted each time: it opens after the failures, no
call while open, one probe after ``open_s``, closed again when the dependency works; a
business refusal (Slack's 404) does not count.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.bus.helpers import error_event
from tests.monitor.test_slack import FakeSlack, notifier, slack, until
from tests.servers import RedisServer
from tests.store.helpers import make_order

from polyarb.bus import Channel, RedisBus
from polyarb.domain.trading import Mode
from polyarb.engine.health import SampledCalls
from polyarb.monitor.breaker import BreakerConfig, BreakerState, CircuitBreaker
from polyarb.monitor.slack import Alert
from polyarb.store import Store, StoreUnavailable, WriterConfig

__all__ = ["slack"]  # the fixture


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(name: str, clock: Clock, failures: int = 2) -> CircuitBreaker:
    return CircuitBreaker(name, BreakerConfig(failures=failures, open_s=30.0), clock=clock)


async def test_slack_breaker_holds_posts_while_open_and_probes(slack: FakeSlack) -> None:
    clock = Clock()
    guard = breaker("slack", clock)
    slack.default = 503
    n = notifier(slack.url, guard=guard, min_interval_s=0.02, retry_min_s=0.02, retry_max_s=0.04)
    worker = asyncio.create_task(n.run())
    try:
        n.notify(Alert("critical", "kill", "kill switch engaged"))
        await until(lambda: guard.state is BreakerState.OPEN)
        await asyncio.sleep(0.3)
        assert len(slack.seen) == 2  # open: no post, the alert waits queued
        assert n.queued == 1
        slack.default = 200
        clock.now = 31.0  # the probe period: one post goes through, and works
        await until(lambda: n.stats.posted == 1)  # its answer read (not only sent)
    finally:
        worker.cancel()
        await n.close(timeout_s=0.1)
    assert guard.state is BreakerState.CLOSED
    assert len(slack.seen) == 3
    assert guard.rejected > 0


async def test_slack_refusing_one_payload_is_slack_working(slack: FakeSlack) -> None:
    guard = breaker("slack", Clock(), failures=1)
    slack.default = 404
    n = notifier(slack.url, guard=guard)
    worker = asyncio.create_task(n.run())
    try:
        n.notify(Alert("warning", "x", "something"))
        await until(lambda: n.stats.dropped == 1)
    finally:
        worker.cancel()
        await n.close(timeout_s=0.1)
    assert guard.state is BreakerState.CLOSED
    assert (guard.calls, guard.failures) == (1, 0)


async def test_redis_breaker_stops_reconnects_while_open(own_redis: RedisServer) -> None:
    clock = Clock()
    guard = breaker("redis", clock, failures=3)
    bus = RedisBus(
        own_redis.url(),
        "e1",
        backoff_min_s=0.01,
        backoff_max_s=0.02,
        connect_timeout_s=0.2,
        health_interval_s=0.05,
    )
    bus.guard = guard
    await bus.start()
    try:
        await bus.publish(Channel.ERRORS, error_event())
        await until(lambda: guard.calls >= 1)
        assert guard.state is BreakerState.CLOSED
        own_redis.shutdown_nosave()
        for _ in range(3):  # a publish on the dead link fails, then the reconnects do
            bus.publish_nowait(Channel.ERRORS, error_event())
            await asyncio.sleep(0.05)
        await until(lambda: guard.state is BreakerState.OPEN)
        calls = guard.calls
        await asyncio.sleep(0.3)
        assert guard.calls == calls  # no connection tried while open
        assert guard.rejected > 0
        own_redis.start()
        clock.now = 31.0  # probe: Redis is back, the breaker closes
        await until(lambda: guard.state is BreakerState.CLOSED)
        await until(lambda: bus.stats.connected)
    finally:
        await bus.close()


async def test_database_breaker_follows_the_writer_and_refuses_intents(tmp_path: Path) -> None:
    clock = Clock()
    guard = breaker("database", clock, failures=3)
    health = {"ok": False}
    sampled = SampledCalls(guard, lambda: (health["ok"], "connection refused"), clock=clock)
    for second in range(3):  # the writer in an outage for 3 samples (one a second)
        clock.now = float(second)
        sampled()
        sampled()  # within the same second: not a second call
    assert guard.state is BreakerState.OPEN
    assert guard.calls == 3
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    writer = WriterConfig(process=False, flush_interval_s=0.01)
    store = await Store.open(url, mode=Mode.PAPER, spool_dir=tmp_path / "spool", writer=writer)
    store.guard = guard
    try:
        with pytest.raises(StoreUnavailable, match="database circuit breaker open"):
            await store.record_order_intent(make_order("o1"))
        health["ok"] = True
        clock.now = 10.0
        sampled()  # still open (30 s): not even read
        assert guard.calls == 3
        clock.now = 33.0
        await store.record_order_intent(make_order("o1"))  # the probe: committed
        assert guard.state is BreakerState.CLOSED
    finally:
        await store.close()
