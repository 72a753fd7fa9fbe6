"""The engine's readiness checks and its dependencies' circuit breakers.

``/ready`` (``polyarb.monitor.health``) asks ``EngineProbe``; each check is ``ok``,
``degraded`` (trading on, an operator should know) or ``down`` (503):

* engine: down while starting or stopping; degraded while an operator paused the strategies.
* trading: down when halted (kill switch); degraded while reducing (the gates are listed).
* feed: down when no connection is past its first snapshots, or the quietest connection has
  had no frame (PONGs count) for ``HEALTH_MAX_FEED_AGE_S``; degraded with a connection down or
  books stale.
* database: down while unreachable (rows spooled) or replaying its spool.
* bus: down while Redis is unreachable.
* breakers: degraded while a dependency's breaker is open or probing.

Breakers (one per dependency): CLOB REST, Gamma, ESPN (their clients' calls), Redis (the bus
publisher's connects and sends), Slack (the notifier's posts), the database (order intents,
and the writer's health sampled once a second: ``SampledCalls``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from polyarb.config import Settings
from polyarb.domain.errors import CircuitOpen
from polyarb.engine.core import Engine
from polyarb.engine.metrics import Watched, feed_data_age_ns
from polyarb.monitor.breaker import BreakerChange, BreakerConfig, BreakerState, CircuitBreaker
from polyarb.monitor.health import Check
from polyarb.risk.state import TradingState

NS = 1_000_000_000
CLOB = "clob"
GAMMA = "gamma"
ESPN = "espn"
DATABASE = "database"
REDIS = "redis"
SLACK = "slack"
BREAKERS = (CLOB, GAMMA, ESPN, DATABASE, REDIS, SLACK)
RECONNECT_PROBE_S = 1.0
BREAKER_SOURCE = "breaker:clob"  # the CLOB breaker's reducing gate


class EngineProbe:
    def __init__(self, watched: Watched, *, max_feed_age_s: float = 30.0) -> None:
        self.engine = watched.engine
        self.feed = watched.feed
        self.bus = watched.bus
        self.store = watched.store
        self.breakers = watched.breakers
        self.max_feed_age_ns = int(max_feed_age_s * NS)

    def __call__(self) -> list[Check]:
        checks = [self._engine(), self._trading(), self._feed(), self._database(), self._bus()]
        if self.breakers:
            checks.append(self._breakers())
        return checks

    def _engine(self) -> Check:
        engine = self.engine
        if engine.status != "running":
            return Check.down("engine", engine.status)
        if engine.paused:
            return Check.degraded("engine", "strategies paused by an operator")
        return Check.ok("engine", "running")

    def _trading(self) -> Check:
        risk = self.engine.risk
        now = self.engine.clock.now_ns()
        state = risk.state
        gates = "; ".join(f"{g.name}: {g.reason}" for g in risk.gates(now))
        if state is TradingState.HALTED:
            return Check.down("trading", f"halted ({gates})")
        if state is TradingState.REDUCING:
            return Check.degraded("trading", f"reducing ({gates})")
        return Check.ok("trading", "active")

    def _feed(self) -> Check:
        feed = self.feed
        engine = self.engine
        if feed is None:
            return Check.ok("feed", "no live feed")
        shards = list(feed.stats.values())
        up = sum(1 for s in shards if s.connected and s.ready)
        now = engine.clock.now_ns()
        age_ns = feed_data_age_ns(feed, now, engine.started_ns)
        books = engine.books.books
        stale = sum(1 for b in books.values() if b.stale)
        summary = f"{up} of {len(shards)} connections up, {stale} of {len(books)} books stale"
        if shards and up == 0:
            return Check.down("feed", f"no market data connection ({summary})")
        if age_ns > self.max_feed_age_ns:
            return Check.down(
                "feed",
                f"no frame for {age_ns / NS:.1f} s on a connection "
                f"(limit {self.max_feed_age_ns / NS:g} s; {summary})",
            )
        if up < len(shards) or stale:
            return Check.degraded("feed", summary)
        return Check.ok("feed", summary)

    def _database(self) -> Check:
        store = self.store
        if store is None:
            return Check.ok("database", "no database")
        if not store.healthy:
            stats = store.stats
            return Check.down(
                "database",
                f"unavailable ({stats.last_error or 'outage'}); "
                f"{stats.spooled_records} rows spooled, {store.queue_depth} queued",
            )
        return Check.ok("database", f"{store.queue_depth} rows queued")

    def _bus(self) -> Check:
        bus = self.bus
        if bus is None:
            return Check.ok("bus", "no bus")
        stats = bus.stats
        if not stats.connected:
            return Check.down(
                "bus",
                f"unreachable ({stats.last_error or 'not connected'}); "
                f"{stats.dropped} messages dropped",
            )
        return Check.ok("bus", "connected")

    def _breakers(self) -> Check:
        tripped = [b for b in self.breakers if b.state is not BreakerState.CLOSED]
        if tripped:
            return Check.degraded("breakers", "; ".join(b.describe() for b in tripped))
        return Check.ok("breakers", "all closed")


def breaker_config(settings: Settings) -> BreakerConfig:
    return BreakerConfig(
        failures=settings.breaker_failures,
        error_rate=settings.breaker_error_rate,
        min_calls=settings.breaker_min_calls,
        window_s=settings.breaker_window_s,
        open_s=settings.breaker_open_s,
    )


def make_breakers(settings: Settings) -> dict[str, CircuitBreaker]:
    config = breaker_config(settings)
    # Redis and the database are reconnected to, not called on demand: their probe is the next
    # reconnect (or health sample), RECONNECT_PROBE_S after opening, so a return is noticed
    # about as soon as the bus's own reconnect backoff noticed it before (a second or so).
    reconnecting = replace(config, open_s=min(config.open_s, RECONNECT_PROBE_S))
    return {
        name: CircuitBreaker(name, reconnecting if name in (REDIS, DATABASE) else config)
        for name in BREAKERS
    }


class SampledCalls:
    """Calls for a breaker whose dependency the engine does not call itself: the store's writer
    commits in its own thread or process, so its health, read every ``interval_s`` (from the
    engine's timer), is the call: a failure while the writer is in an outage, a success
    otherwise. While the breaker is open nothing is read (no probe) until its probe period."""

    def __init__(
        self,
        breaker: CircuitBreaker,
        health: Callable[[], tuple[bool, str]],
        *,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.breaker = breaker
        self.health = health
        self.interval_s = interval_s
        self.clock = clock
        self._next = float("-inf")

    def __call__(self) -> None:
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.interval_s
        try:
            self.breaker.check()
        except CircuitOpen:
            return
        healthy, reason = self.health()
        if healthy:
            self.breaker.record_success()
        else:
            self.breaker.record_failure(reason or "unavailable")


def link_clob_breaker(engine: Engine, breaker: CircuitBreaker) -> None:
    """The CLOB breaker open: no new exposure (trading *reducing*) until it closes again. A
    gate left by a previous run is lifted: this run's breaker starts closed."""
    risk = engine.risk
    risk.resume("breaker", engine.clock.now_ns(), source=BREAKER_SOURCE)

    def on_change(change: BreakerChange) -> None:
        now = engine.clock.now_ns()
        if change.new is BreakerState.OPEN and change.old is BreakerState.CLOSED:
            risk.set_reducing(
                f"CLOB circuit breaker open: {change.reason}", "breaker", now, source=BREAKER_SOURCE
            )
        elif change.new is BreakerState.CLOSED:
            risk.resume("breaker", now, source=BREAKER_SOURCE)

    breaker.listeners.append(on_change)


def link_breaker_events(engine: Engine, breaker: CircuitBreaker) -> None:
    """Opened (from closed) and closed again: an error event (the dashboard's stream, the
    store's table). A failed probe re-opening it is not news."""

    def on_change(change: BreakerChange) -> None:
        opened = change.new is BreakerState.OPEN and change.old is BreakerState.CLOSED
        if opened or change.new is BreakerState.CLOSED:
            engine.emit_error("breaker", f"{change.name}_{change.new.value}", change.reason)

    breaker.listeners.append(on_change)
