"""The real Redis server restarted while the engine paper-trades against the simulator.

The engine (``run_engine``, the path ``polyarb run`` takes) publishes on a Redis server the
test started for itself (tests/servers.py: a free port, a temp dir; the machine's shared Redis
is never touched); a dashboard-style subscriber follows it and resyncs from the database on
gaps. The server is shut down without saving and started again on the same port. Trading must
go on through the outage, the subscriber must see the gap in the sequence numbers and reload
from the store, and the store must hold every fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from tests.servers import RedisServer

from polyarb.bus import Channel, Envelope, Gap, RedisBus, Resync, ResyncReport, TradeEvent
from polyarb.domain.trading import Fill, Mode, Signal
from polyarb.engine.core import Engine
from polyarb.execution.base import ExecutionReport
from polyarb.execution.journal import read_journal
from polyarb.sim import ScenarioConfig
from polyarb.store import StoreQueries, resolve_database_url

from .simrun import NS, run_against_sim

pytestmark = [pytest.mark.slow, pytest.mark.redis]

MIN_DOWN_S = 1.0  # Redis stays down at least this long ...
MAX_DOWN_S = 3.0  # ... and at most this long
UNTIL_S = 9.0  # scenario seconds: windows open every 2 s, the outage starts after the first fill
STATE_HZ = 10

# Only windows the engine trades: a binary window is a torn view (never traded), so binary
# markets would leave one traded window after the outage, and under load none before UNTIL_S.
# negRisk windows every 2 s rotate over three events, so none finds its event still busy with
# the previous window (a window lasts 2-4 s).
SCENARIO = ScenarioConfig(
    seed=21, binary_markets=0, negrisk_events=3, window_every_s=2.0, updates_per_s=150.0
)
ENGINE_SETTINGS = {
    "paper_latency_ms": 20,
    "risk_max_position": Decimal(100_000),
    "risk_max_notional": Decimal(1_000_000),
    "risk_max_exposure": Decimal(1_000_000),
    "sumto100_min_liquidity": Decimal(10),
    "negrisk_min_liquidity": Decimal(10),
}


async def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


# --- what the test watches ----------------------------------------------------------------------


@dataclass
class Trading:
    """The engine's fills as they happen (wall ns when reported), via a trade sink."""

    engine: Engine | None = None
    scenario_s: float = 0.0
    fills: list[tuple[int, Fill]] = field(default_factory=list)

    def on_scenario_time(self, engine: Engine, scenario_s: float) -> None:
        if self.engine is None:
            self.engine = engine
            engine.trade_sinks.append(self._on_report)
        self.scenario_s = scenario_s

    def _on_report(self, report: ExecutionReport, signal: Signal) -> None:
        now = time.time_ns()
        self.fills.extend((now, fill) for fill in report.fills)

    def between(self, start_ns: int, end_ns: int) -> list[Fill]:
        return [fill for ns, fill in self.fills if start_ns <= ns < end_ns]


@dataclass
class Outage:
    shutdown_ns: int = 0
    restart_ns: int = 0  # the start command issued: nothing can reconnect before this
    up_ns: int = 0  # PING answered
    confirmed_down: bool = False
    stored_while_down: set[str] = field(default_factory=set)  # fill ids in the store at restart


@dataclass
class Dashboard:
    """The subscriber: our engine's envelopes, and a reload from the store on each gap."""

    instance_id: str
    queries: StoreQueries
    received: list[tuple[int, Envelope]] = field(default_factory=list)
    reloads: list[tuple[int, set[str]]] = field(default_factory=list)  # (done ns, fill ids)
    resync: Resync = field(init=False)

    def __post_init__(self) -> None:
        self.resync = Resync(self.reload)

    async def reload(self) -> None:
        ids = await stored_fill_ids(self.queries)
        self.reloads.append((time.time_ns(), ids))

    async def on_gap(self, gap: Gap) -> None:
        # Other engines (other tests) publish on these channels too: their jumps are not ours.
        if gap.instance_id in ("", self.instance_id):
            await self.resync(gap)

    def envelopes(self, channel: Channel) -> list[tuple[int, Envelope]]:
        return [(ns, e) for ns, e in self.received if e.channel == channel]


async def stored_fill_ids(queries: StoreQueries) -> set[str]:
    return {row.fill_id async for row in queries.iter_trades(mode=Mode.PAPER)}


def lost_numbers(envelopes: list[tuple[int, Envelope]]) -> int:
    """Sequence numbers never received (the publisher counts from 1; we subscribed first)."""
    seqs = {e.seq for _, e in envelopes}
    return max(seqs) - len(seqs) if seqs else 0


async def restart_redis(
    server: RedisServer, trading: Trading, dashboard: Dashboard, outage: Outage
) -> None:
    """Once the engine trades and the subscriber sees it, take Redis down, bring it back."""

    def trading_seen_on_the_bus() -> bool:
        return bool(trading.fills) and bool(dashboard.envelopes(Channel.TRADES))

    await wait_until(trading_seen_on_the_bus, 30.0, "a first fill published on poly:trades")
    outage.shutdown_ns = time.time_ns()
    try:
        await asyncio.to_thread(server.shutdown_nosave)
        outage.confirmed_down = not await asyncio.to_thread(server.is_up)
        await asyncio.sleep(MIN_DOWN_S)
        # Stay down until the engine has traded without Redis and that trade is in the store
        # (so the resync has something the bus lost to find), within MAX_DOWN_S.
        deadline = outage.shutdown_ns + int(MAX_DOWN_S * NS)
        while time.time_ns() < deadline:
            during = {f.fill_id for f in trading.between(outage.shutdown_ns, time.time_ns())}
            if during and during <= await stored_fill_ids(dashboard.queries):
                break
            await asyncio.sleep(0.05)
        outage.stored_while_down = await stored_fill_ids(dashboard.queries)
    finally:
        outage.restart_ns = time.time_ns()
        await asyncio.to_thread(server.start)  # the same port; returns once PING answers
        outage.up_ns = time.time_ns()


# --- the test -----------------------------------------------------------------------------------


async def test_engine_trades_through_a_real_redis_restart_and_the_subscriber_resyncs(
    own_redis: RedisServer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    redis_url = own_redis.url(15)

    instance_id = f"fault-test-{uuid.uuid4().hex[:12]}"
    queries = StoreQueries.open(resolve_database_url(None, tmp_path))
    dashboard = Dashboard(instance_id, queries)
    trading, outage = Trading(), Outage()
    # The dashboard side reconnects quickly; the engine keeps the production bus settings.
    bus = RedisBus(
        redis_url,
        f"{instance_id}-dashboard",
        backoff_min_s=0.02,
        backoff_max_s=0.2,
        connect_timeout_s=0.5,
    )
    consumer: asyncio.Task[None] | None = None
    fault: asyncio.Task[None] | None = None
    try:
        await bus.start()
        subscription = bus.subscribe([Channel.STATE, Channel.TRADES], on_gap=dashboard.on_gap)
        assert await subscription.wait_ready()

        async def consume() -> None:
            async for envelope in subscription:
                if envelope.instance_id == instance_id:
                    dashboard.received.append((time.time_ns(), envelope))

        consumer = asyncio.create_task(consume())
        fault = asyncio.create_task(restart_redis(own_redis, trading, dashboard, outage))
        run = await run_against_sim(
            SCENARIO,
            tmp_path,
            until_s=UNTIL_S,
            on_scenario_time=trading.on_scenario_time,
            redis_url=redis_url,
            instance_id=instance_id,
            **ENGINE_SETTINGS,
        )
        await fault

        def caught_up() -> bool:  # both streams resumed, so the gap's size is known
            return bool(
                dashboard.resync.reports
                and any(ns > outage.up_ns for ns, _ in dashboard.envelopes(Channel.STATE))
                and any(ns > outage.up_ns for ns, _ in dashboard.envelopes(Channel.TRADES))
            )

        await wait_until(caught_up, 5.0, "the subscriber to resync and both streams to resume")
    finally:
        if fault is not None and not fault.done():
            fault.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fault
        if consumer is not None:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
        await bus.close()
        await queries.close()

    engine_bus = run.engine.bus
    assert engine_bus is not None
    reconnects = [
        r
        for r in dashboard.resync.reports
        if r.gap.reason == "reconnect" and r.gap.detected_ns >= outage.shutdown_ns
    ]
    report: ResyncReport = reconnects[0] if reconnects else dashboard.resync.reports[0]
    reload_done_ns, reloaded_ids = dashboard.reloads[0]
    down_s = (outage.up_ns - outage.shutdown_ns) / NS
    state_lost = lost_numbers(dashboard.envelopes(Channel.STATE))
    trades_lost = lost_numbers(dashboard.envelopes(Channel.TRADES))
    before = trading.between(0, outage.shutdown_ns)
    during = trading.between(outage.shutdown_ns, outage.up_ns)
    after = trading.between(outage.up_ns, time.time_ns())
    resumed_states = [ns for ns, _ in dashboard.envelopes(Channel.STATE) if ns > outage.restart_ns]
    figures = {
        "redis_down_s": round(down_s, 3),
        "gap_missed_messages": report.missed,
        "gap_missed_state": state_lost,
        "gap_missed_trades": trades_lost,
        "redis_start_to_ping_s": round((outage.up_ns - outage.restart_ns) / NS, 3),
        "resync_after_redis_start_s": round((reload_done_ns - outage.restart_ns) / NS, 3),
        "resync_after_shutdown_s": round((reload_done_ns - outage.shutdown_ns) / NS, 3),
        "reload_s": round(report.duration_s, 4),
        "state_resumed_after_redis_start_s": round((resumed_states[0] - outage.restart_ns) / NS, 3),
        "fills_before": len(before),
        "fills_during": len(during),
        "fills_after": len(after),
        "engine_publishes_dropped": engine_bus.stats.dropped,
        "engine_bus_reconnects": engine_bus.stats.reconnects,
    }
    for name, value in figures.items():
        record_property(name, value)
    print("redis restart under paper trading:", figures)

    # The outage was real and short.
    assert outage.confirmed_down, "Redis still answered after shutdown nosave"
    assert down_s >= MIN_DOWN_S

    # Trading went on: fills before, while Redis was down, and after it came back.
    assert before, "no fill before the outage"
    assert during, "the engine stopped trading while Redis was down"
    assert after, "the engine stopped trading after Redis came back"
    assert engine_bus.stats.dropped > 0  # publishing while down was dropped, not queued
    assert engine_bus.stats.reconnects >= 1

    # The subscriber saw the gap and resynced once, from the database, soon after Redis was up.
    assert reconnects, f"no reconnect resync after the shutdown: {dashboard.resync.reports}"
    assert all(r.gap.reason == "reconnect" for r in dashboard.resync.reports)
    assert all(r.ok for r in dashboard.resync.reports)
    assert dashboard.resync.failures == 0
    # One reload covered both streams' jumps, and they are exactly the numbers never received.
    assert sum(r.missed or 0 for r in dashboard.resync.reports) == state_lost + trades_lost
    assert report.missed is not None
    assert report.missed > 0
    assert trades_lost > 0, "the fills made while Redis was down never reached the subscriber"
    # poly:state is published at most 10 times a second and was lost for at least the outage.
    gap_s = (resumed_states[0] - outage.shutdown_ns) / NS
    assert STATE_HZ * MIN_DOWN_S / 2 <= state_lost <= STATE_HZ * gap_s + 2
    assert reload_done_ns > outage.restart_ns
    # The reload found in the database the fills the bus lost during the outage.
    during_ids = {f.fill_id for f in during}
    on_the_bus = {
        e.data.fill.fill_id
        for _, e in dashboard.envelopes(Channel.TRADES)
        if isinstance(e.data, TradeEvent) and e.data.fill is not None
    }
    recovered = (during_ids & outage.stored_while_down) - on_the_bus
    assert recovered, "no fill made while Redis was down was lost on the bus and in the store"
    assert recovered <= reloaded_ids

    # Nothing in the database was lost: store == paper journal == the engine's reports.
    reported = [f.fill_id for r, _ in run.reports for f in r.fills]
    journal = [f.fill_id for f in read_journal(tmp_path / "paper-journal.jsonl").fills]
    queries = StoreQueries.open(resolve_database_url(None, tmp_path))
    try:
        stored = [row.fill_id async for row in queries.iter_trades(mode=Mode.PAPER)]
        stored_count = await queries.count("fills", mode=Mode.PAPER)
    finally:
        await queries.close()
    assert len(reported) == len(set(reported)) == len(trading.fills)
    assert sorted(stored) == sorted(journal) == sorted(reported)
    assert stored_count == len(stored)
