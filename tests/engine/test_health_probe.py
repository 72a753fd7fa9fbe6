"""The engine's readiness checks and the CLOB breaker's hold on trading, on a real ``Engine``.

The dependencies the probe reads (feed, bus, store) are small stand-ins carrying the same
counters the real ones keep; the subprocess test (tests/cli/test_run_health.py) covers the
real ones over HTTP.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from tests.monitor.test_slack import Journal

from polyarb.bus import Channel, MemoryBus
from polyarb.bus.base import BusStats
from polyarb.config import load_settings
from polyarb.engine.alerts import EngineAlerts
from polyarb.engine.health import EngineProbe, link_breaker_events, link_clob_breaker
from polyarb.engine.metrics import Watched
from polyarb.marketdata.feed import ShardStats
from polyarb.monitor.breaker import BreakerConfig, CircuitBreaker
from polyarb.monitor.health import Readiness
from polyarb.monitor.slack import Alert, redactor
from polyarb.risk.state import TradingState
from polyarb.store.writer import WriterStats

from .replaykit import EPOCH_NS, EngineDriver, sim_driver, universe_of

S = 1_000_000_000


@dataclass
class FakeFeed:
    stats: dict[int, ShardStats] = field(default_factory=dict)


@dataclass
class FakeBus:
    stats: BusStats = field(default_factory=lambda: BusStats(connected=True))


@dataclass
class FakeStore:
    healthy: bool = True
    queue_depth: int = 0
    stats: WriterStats = field(default_factory=WriterStats)


def make_engine(tmp_path: Any) -> EngineDriver:
    settings = load_settings(None, data_dir=tmp_path, sniper_enabled=False)
    driver = sim_driver(seed=4, binary_markets=2, negrisk_events=0, closed_markets=0)
    return EngineDriver(settings, universe_of(driver.gamma_markets(), settings))


def probe_of(engine: Any, feed: FakeFeed, bus: FakeBus, store: FakeStore) -> Readiness:
    probe = EngineProbe(Watched(engine, feed, bus, store), max_feed_age_s=30)  # type: ignore[arg-type]
    return Readiness(tuple(probe()))


def fresh_books(engine: Any) -> None:
    for book in engine.books.books.values():
        book.apply_snapshot([(4000, 10**8)], [(6000, 10**8)], 1, engine.clock.now_ns())


def test_ready_only_when_running_fresh_reachable_and_not_halted(tmp_path: Any) -> None:
    driver = make_engine(tmp_path)
    engine = driver.engine
    shard = ShardStats(shard=0, tokens=4, connected=True, ready=True, last_frame_ns=EPOCH_NS)
    feed, bus, store = FakeFeed({0: shard}), FakeBus(), FakeStore()

    starting = probe_of(engine, feed, bus, store)
    assert not starting.ready
    assert "engine: starting" in starting.body()["reasons"]  # type: ignore[operator]

    engine.status = "running"
    degraded = probe_of(engine, feed, bus, store)
    assert degraded.ready  # books not snapshotted yet: stale, but the feed is up
    assert degraded.status == "degraded"
    assert degraded.body()["checks"]["feed"]["reason"] == (  # type: ignore[index]
        "1 of 1 connections up, 4 of 4 books stale"
    )
    fresh_books(engine)
    assert probe_of(engine, feed, bus, store).status == "ready"

    # Each dependency down flips it, with the reason.
    bus.stats.connected = False
    bus.stats.last_error = "ConnectionError: Connection refused"
    body = probe_of(engine, feed, bus, store).body()
    assert body["ready"] is False
    assert body["reasons"] == [
        "bus: unreachable (ConnectionError: Connection refused); 0 messages dropped"
    ]
    bus.stats.connected = True
    store.healthy = False
    store.stats.spooled_records = 7
    store.stats.last_error = "OSError: connection refused"
    body = probe_of(engine, feed, bus, store).body()
    assert body["reasons"] == [
        "database: unavailable (OSError: connection refused); 7 rows spooled, 0 queued"
    ]
    store.healthy = True

    # Feed: silence longer than the limit, then no connection at all.
    driver.clock.advance(EPOCH_NS + 31 * S)
    fresh_books(engine)
    body = probe_of(engine, feed, bus, store).body()
    assert body["ready"] is False
    assert body["reasons"][0].startswith("feed: no frame for 31.0 s")  # type: ignore[index]
    shard.last_frame_ns = engine.clock.now_ns()
    assert probe_of(engine, feed, bus, store).ready
    shard.connected = False
    assert not probe_of(engine, feed, bus, store).ready
    shard.connected = True

    # Kill switch: halted is not ready; an operator's pause is only degraded.
    engine.risk.engage("operator says stop", "cli", engine.clock.now_ns())
    body = probe_of(engine, feed, bus, store).body()
    assert body["ready"] is False
    assert "trading: halted (kill_switch: operator says stop)" in body["reasons"]  # type: ignore[operator]
    engine.risk.clear("cli", engine.clock.now_ns())
    engine.pause("cli")
    paused = probe_of(engine, feed, bus, store)
    assert paused.ready
    assert paused.status == "degraded"


def test_clob_breaker_open_makes_trading_reducing_until_it_closes(tmp_path: Any) -> None:
    driver = make_engine(tmp_path)
    engine = driver.engine
    clock = [0.0]
    breaker = CircuitBreaker("clob", BreakerConfig(failures=2, open_s=10.0), clock=lambda: clock[0])
    link_clob_breaker(engine, breaker)
    link_breaker_events(engine, breaker)
    errors: list[tuple[str, str, str]] = []
    engine.error_sinks.append(lambda *e: errors.append(e))

    breaker.record_failure("HTTP 503")
    assert engine.risk.state is TradingState.ACTIVE
    breaker.record_failure("HTTP 503")
    assert engine.risk.state is TradingState.REDUCING
    [gate] = engine.risk.gates(engine.clock.now_ns())
    assert gate.reason.startswith("CLOB circuit breaker open: 2 consecutive failures")
    assert errors == [("breaker", "clob_open", "2 consecutive failures, last: HTTP 503")]

    # The probe fails: still reducing, no new event; it succeeds: active, "closed" event.
    clock[0] += 10
    breaker.check()
    breaker.record_failure("HTTP 503")
    assert engine.risk.state is TradingState.REDUCING
    assert len(errors) == 1
    clock[0] += 10
    breaker.check()
    breaker.record_success()
    assert engine.risk.state is TradingState.ACTIVE
    assert errors[-1][:2] == ("breaker", "clob_closed")

    # A gate saved by a run that stopped while the breaker was open does not outlive it.
    breaker.record_failure("x")
    breaker.record_failure("x")
    saved = engine.risk.snapshot()
    restarted = make_engine(tmp_path).engine
    restarted.risk.restore(saved, restarted.clock.now_ns())
    assert restarted.risk.state is TradingState.REDUCING
    link_clob_breaker(restarted, CircuitBreaker("clob"))
    assert restarted.risk.state is TradingState.ACTIVE


@dataclass
class Captured:
    alerts: list[Alert] = field(default_factory=list)

    def prepare(self, alert: Alert) -> Alert:
        return alert

    def notify(self, alert: Alert) -> bool:
        self.alerts.append(alert)
        return True


def test_engine_events_become_slack_alerts(tmp_path: Any) -> None:
    driver = make_engine(tmp_path)
    engine = driver.engine
    engine.status = "running"
    fresh_books(engine)
    shard = ShardStats(
        shard=0, tokens=4, connected=True, ready=True, last_frame_ns=engine.clock.now_ns()
    )
    bus, store = FakeBus(), FakeStore()
    probe = EngineProbe(Watched(engine, FakeFeed({0: shard}), bus, store))  # type: ignore[arg-type]
    captured = Captured()
    settings = load_settings(None, data_dir=tmp_path, slack_notify_orders=False)
    alerts = EngineAlerts(engine, captured, settings, probe)  # type: ignore[arg-type]

    def seen() -> list[tuple[str, str, str]]:
        out = [(a.severity, a.key, a.title) for a in captured.alerts]
        captured.alerts.clear()
        return out

    engine.risk.engage("fat finger", "alice", engine.clock.now_ns())
    engine.risk.clear("alice", engine.clock.now_ns())
    assert seen() == [
        ("critical", "risk:kill_switch_engaged", "test: kill switch engaged by alice"),
        ("warning", "risk:kill_switch_cleared", "test: kill switch cleared by alice"),
    ]
    engine.risk.set_reducing("db down", "store", engine.clock.now_ns(), source="store")
    engine.risk.set_reducing("clob", "breaker", engine.clock.now_ns(), source="breaker:clob")
    engine.risk.resume("store", engine.clock.now_ns(), source="store")
    assert seen() == [
        ("warning", "risk:reducing:store", "test: reducing by store"),
        ("warning", "risk:reducing:breaker", "test: reducing by breaker"),
        ("info", "risk:resumed:store", "test: resumed by store"),
    ]
    engine.emit_error("execution", "leg_risk", "legs filled unevenly")
    engine.emit_error("breaker", "clob_open", "5 consecutive failures")
    engine.emit_error("store", "outage", "database unavailable")  # the database check says it
    assert seen() == [
        ("critical", "execution:leg_risk", "test: execution leg_risk"),
        ("critical", "breaker:clob:open", "test: clob breaker open"),
    ]
    alerts.check_dependencies()
    assert seen() == []
    bus.stats.connected = False
    store.healthy = False
    alerts.check_dependencies()
    alerts.check_dependencies()  # still down: said once
    assert seen() == [
        ("critical", "down:database", "test: database down"),
        ("critical", "down:bus", "test: bus down"),
    ]
    bus.stats.connected = True
    alerts.check_dependencies()
    assert seen() == [("info", "up:bus", "test: bus back")]


async def test_alerts_reach_the_dashboard_without_slack_or_with_a_toggle_off(
    tmp_path: Any,
) -> None:
    engine = make_engine(tmp_path).engine
    engine.status = "running"
    bus = MemoryBus("test")
    engine.bus = bus
    sub = bus.subscribe([Channel.ALERTS])
    probe = EngineProbe(Watched(engine, None, FakeBus(), FakeStore()))  # type: ignore[arg-type]
    journal = Journal()
    secret = "hunter2-db-password"
    EngineAlerts(
        engine,
        None,
        load_settings(None, data_dir=tmp_path),
        probe,
        journal=journal,
        redact=redactor([secret]),
    )
    engine.risk.engage(f"db password {secret} leaked", "alice", engine.clock.now_ns())
    engine.emit_error("breaker", "redis_open", "5 consecutive failures")
    assert journal.deliveries() == [
        ("test: kill switch engaged by alice", "none"),
        ("test: redis breaker open", "none"),
    ]
    assert all(secret not in a.text for a, _ in journal.rows.values())
    published = [await asyncio.wait_for(anext(sub), 1.0) for _ in range(2)]  # the live stream
    assert [e.data.title for e in published] == [  # type: ignore[union-attr]
        "test: kill switch engaged by alice",
        "test: redis breaker open",
    ]

    # Slack configured, its risk toggle off: the risk alert is kept, not posted.
    engine = make_engine(tmp_path / "2").engine
    captured, journal = Captured(), Journal()
    settings = load_settings(None, data_dir=tmp_path / "2", slack_notify_risk=False)
    EngineAlerts(engine, captured, settings, probe, journal=journal)  # type: ignore[arg-type]
    engine.risk.engage("fat finger", "bob", engine.clock.now_ns())
    engine.emit_error("execution", "leg_risk", "legs filled unevenly")
    assert [a.key for a in captured.alerts] == ["execution:leg_risk"]
    assert journal.deliveries() == [("test: kill switch engaged by bob", "none")]
