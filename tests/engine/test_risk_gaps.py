"""Risk in the engine's execution path, on a replay clock: leg-risk orders pass the risk check
as reducing orders, the kill switch stops what is in flight and cancels what rests, resting
fills reach risk, and the risk state and locked sets survive a restart through the real store
(SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyarb.bus import MemoryBus, MemoryHub
from polyarb.bus.command_client import CommandClient, new_command
from polyarb.bus.signing import embedded_secret
from polyarb.domain.book import Side
from polyarb.domain.ledger import Merge
from polyarb.domain.trading import Fill, Leg, Mode, Order, OrderStatus, OrderType, Signal
from polyarb.engine.commands import EngineCommands
from polyarb.engine.core import Engine
from polyarb.engine.persistence import EnginePersistence, recover
from polyarb.engine.runner import command_processor
from polyarb.execution.base import ExecutionReport
from polyarb.execution.journal import Journal
from polyarb.execution.paper import PaperExecution
from polyarb.risk.state import TradingState
from polyarb.store import Store, WriterConfig

from .replaykit import EPOCH_NS, MS, EngineDriver, book, price_change, sim_driver, text, universe_of
from .test_engine_core import settings
from .test_engine_replay import leg_market, leg_risk_frames

__all__ = ["leg_market"]  # a fixture: the leg-risk tests trade a two-outcome negRisk event

HUNDRED = Decimal(100)
WRITER = WriterConfig(process=False, flush_interval_s=0.01, retry_min_s=0.05, retry_max_s=0.5)


def collect(engine: Engine) -> list[tuple[ExecutionReport, Signal]]:
    reports: list[tuple[ExecutionReport, Signal]] = []
    engine.trade_sinks.append(lambda report, signal: reports.append((report, signal)))
    return reports


async def run_leg_risk(
    tmp_path: Path, leg_market: Any, policy: str, at_10ms: Any = None, **overrides: Any
) -> tuple[EngineDriver, ExecutionReport]:
    """The first outcome's leg fills, the second's finds nothing; ``at_10ms(engine)`` runs after
    the signal was taken and before its legs match (paper latency 20 ms)."""
    driver, first, second = leg_market
    s = settings(tmp_path, leg_policy=policy, leg_max_loss=Decimal(5), **overrides)
    run = EngineDriver(s, universe_of(driver.gamma_markets(), s))
    reports = collect(run.engine)
    frames = leg_risk_frames(first, second)
    await run.frame(*frames[0])
    assert run.engine.counters.taken == 1
    await run.frame(*frames[1])  # t = 5 ms: the second outcome's ask is gone
    if at_10ms is not None:
        run.clock.advance(EPOCH_NS + 10 * MS)
        at_10ms(run.engine)
    for frame in frames[2:]:
        await run.frame(*frame)
    await run.settle()
    [(report, _)] = reports
    return run, report


# --- leg-risk orders are reducing orders ------------------------------------------------------


def operator_pause(engine: Engine) -> None:
    engine.risk.set_reducing("operator pause", "alice", engine.clock.now_ns())


def daily_loss_breach(engine: Engine) -> None:
    now = engine.clock.now_ns()
    engine.risk.update_pnl(Decimal(0), Decimal(0), now)
    engine.risk.update_pnl(Decimal(-60), Decimal(0), now)  # RISK_MAX_DAILY_LOSS is 50


@pytest.mark.parametrize("policy", ["unwind", "complete"])
@pytest.mark.parametrize("reducing", [operator_pause, daily_loss_breach])
async def test_leg_risk_orders_pass_risk_as_reducing_orders_in_the_reducing_state(
    tmp_path: Path, leg_market: Any, policy: str, reducing: Any
) -> None:
    """Trading turns reducing (an operator pause, the daily loss limit) while the legs are on
    their way: the unwind (a sell of the orphan) or the completion (a buy that only completes
    the set held) still goes out, through the risk check, and risk ends flat."""
    run, report = await run_leg_risk(
        tmp_path, leg_market, policy, reducing, risk_max_daily_loss=Decimal(50)
    )
    _, (_, yes), (_, other) = leg_market
    engine = run.engine
    assert engine.risk.state is TradingState.REDUCING
    assert report.leg_risk is not None
    assert report.leg_risk.remaining == ()
    assert engine.ledger.positions() == []
    # Unwound: flat. Completed: the set is locked until the event resolves, and risk holds it.
    locked = {} if policy == "unwind" else {yes: HUNDRED, other: HUNDRED}
    assert engine.risk.positions() == locked
    assert engine.risk.status(engine.clock.now_ns()).in_flight == 0
    # Risk approved the signal and, separately, the leg-risk order; it counts 3 orders sent.
    assert engine.risk.approvals == 2
    assert engine.risk.status(engine.clock.now_ns()).orders_last_minute == 3
    assert engine.risk.denials == {}


async def test_a_leg_risk_order_breaking_a_limit_is_not_sent(
    tmp_path: Path, leg_market: Any
) -> None:
    """Leg-risk orders are real orders: the order-rate limit (2 a minute here, both used by the
    signal's legs) holds them back and the orphan stays, reported, instead of bypassing risk."""
    run, report = await run_leg_risk(tmp_path, leg_market, "unwind", risk_max_orders_per_minute=2)
    engine = run.engine
    _, (_, yes), _ = leg_market
    assert report.leg_risk is not None
    [orphan] = report.leg_risk.remaining
    assert (orphan.token_id, orphan.shares) == (yes, HUNDRED)
    unwind = report.orders[-1]
    assert (unwind.side, unwind.status) == (Side.SELL, OrderStatus.FAILED)
    assert "rate_limit" in unwind.reason
    assert engine.risk.denials == {"rate_limit": 1}
    assert engine.ledger.shares(yes) == HUNDRED
    assert engine.risk.positions() == {yes: HUNDRED}


async def test_the_kill_switch_stops_an_unwind_in_flight(tmp_path: Path, leg_market: Any) -> None:
    """Engaged after the unwind was sent, before it reached the venue: it fills nothing."""
    driver, first, second = leg_market
    yes = first[1]
    s = settings(tmp_path, leg_policy="unwind", leg_max_loss=Decimal(5))
    run = EngineDriver(s, universe_of(driver.gamma_markets(), s))
    engine = run.engine
    reports = collect(engine)
    frames = leg_risk_frames(first, second)
    for frame in frames[:2]:
        await run.frame(*frame)
    run.clock.advance(EPOCH_NS + 20 * MS)  # the legs match: YES fills, the unwind goes out
    await run._run_tasks()
    engine.risk.engage("operator stop", "alice", engine.clock.now_ns())
    for frame in frames[2:]:
        await run.frame(*frame)
    await run.settle()
    [(report, _)] = reports
    assert report.leg_risk is not None
    unwind = report.orders[-1]
    assert unwind.side == Side.SELL
    assert unwind.status is OrderStatus.CANCELED
    assert unwind.reason == "kill switch: operator stop"
    assert not [f for f in report.fills if f.side == Side.SELL]
    assert engine.ledger.shares(yes) == HUNDRED  # the orphan is held, never forgotten


# --- the kill switch stops what is in flight --------------------------------------------------


async def test_executions_waiting_out_their_latency_fill_nothing_after_the_kill(
    tmp_path: Path, leg_market: Any
) -> None:
    def kill(engine: Engine) -> None:
        engine.risk.engage("operator stop", "alice", engine.clock.now_ns())

    driver, (cid_a, yes), (cid_b, other) = leg_market
    s = settings(tmp_path)
    run = EngineDriver(s, universe_of(driver.gamma_markets(), s))
    engine = run.engine
    reports = collect(engine)
    window = [  # a negRisk set at 0.95 (a binary market's two books could not show one)
        book(yes, cid_a, [("0.40", "500")], [("0.45", "100")], EPOCH_NS // MS),
        book(other, cid_b, [("0.45", "500")], [("0.50", "100")], EPOCH_NS // MS),
    ]
    await run.frame(EPOCH_NS, text(window))
    assert engine.counters.taken == 1
    run.clock.advance(EPOCH_NS + 10 * MS)
    kill(engine)
    await run.settle()
    [(report, _)] = reports
    assert report.fills == []
    assert [o.status for o in report.orders] == [OrderStatus.CANCELED] * 2
    assert all(o.reason == "kill switch: operator stop" for o in report.orders)
    assert engine.ledger.positions() == []
    assert engine.ledger.realized_pnl == 0
    assert engine.risk.status(engine.clock.now_ns()).in_flight == 0


def gtc_buy(token: str, market: str, price: str, size: str) -> Signal:
    leg = Leg(token, Side.BUY, Decimal(size), Decimal(price), Decimal(price), market)
    return Signal(
        "manual", market, 0, Decimal(0), Decimal(size), (leg,), kind="directional", signal_id="g1"
    )


async def until_done(run: EngineDriver, work: Awaitable[ExecutionReport]) -> ExecutionReport:
    """Run ``work`` to its end, moving the replay clock to each wake-up."""
    task = asyncio.ensure_future(work)
    while not task.done():
        await run._run_tasks()
        if not task.done():
            deadline = run.clock.next_deadline_ns()
            run.clock.advance(deadline if deadline is not None else run.clock.now_ns() + MS)
    return task.result()


async def rest_a_bid(run: EngineDriver, market: Any) -> Order:
    """A GTC bid for 50 YES at 0.30 rests (the ask is 0.45)."""
    _, market = market
    cid, (yes, no) = market.condition_id, market.token_ids
    snapshot = [
        book(yes, cid, [("0.20", "500")], [("0.45", "100")], EPOCH_NS // MS),
        book(no, cid, [("0.50", "500")], [("0.80", "100")], EPOCH_NS // MS),
    ]
    await run.frame(EPOCH_NS, text(snapshot))
    execution = run.engine.execution
    assert isinstance(execution, PaperExecution)
    signal = gtc_buy(yes, cid, "0.30", "50")
    report = await until_done(run, execution.execute(signal, order_type=OrderType.GTC))
    [order] = report.orders
    assert order.status is OrderStatus.OPEN
    return order


def cross(market: Any, ts_ms: int) -> str:
    """The YES ask drops to 0.30: a resting bid at 0.30 crosses."""
    _, market = market
    cid, yes = market.condition_id, market.token_ids[0]
    return text(price_change(cid, ts_ms, [(yes, "SELL", "0.30", "80")]))


async def test_engaging_the_kill_switch_cancels_resting_orders(tmp_path: Path, market: Any) -> None:
    s = settings(tmp_path, sumto100_enabled=False, negrisk_enabled=False)
    run = EngineDriver(s, universe_of(market[0].gamma_markets(), s))
    engine = run.engine
    updates: list[tuple[str, OrderStatus, str]] = []
    engine.order_sinks.append(lambda o, _f: updates.append((o.client_id, o.status, o.reason)))
    order = await rest_a_bid(run, market)
    engine.risk.engage("operator stop", "alice", engine.clock.now_ns())  # any path engages
    await run._run_tasks()
    assert order.status is OrderStatus.CANCELED
    assert updates == [(order.client_id, OrderStatus.CANCELED, "canceled")]
    execution = engine.execution
    assert isinstance(execution, PaperExecution)
    assert execution.resting_orders() == []
    await run.frame(EPOCH_NS + 500 * MS, cross(market, EPOCH_NS // MS + 500))
    assert order.filled == 0
    assert engine.ledger.positions() == []


async def test_the_kill_command_returns_once_resting_orders_are_canceled(
    tmp_path: Path, market: Any
) -> None:
    s = settings(tmp_path, sumto100_enabled=False, negrisk_enabled=False)
    run = EngineDriver(s, universe_of(market[0].gamma_markets(), s))
    order = await rest_a_bid(run, market)
    await EngineCommands(run.engine).engage_kill_switch("operator stop", "alice")
    assert order.status is OrderStatus.CANCELED
    assert run.engine.state().kill_switch is True


# --- through the real store ----------------------------------------------------------------


class Restartable:
    """An engine on a replay clock with the store and recovery the runner gives it."""

    def __init__(self, tmp_path: Path, db_url: str, market: Any, **overrides: Any) -> None:
        self.settings = settings(
            tmp_path, sumto100_enabled=False, negrisk_enabled=False, **overrides
        )
        self.universe = universe_of(market[0].gamma_markets(), self.settings)
        self.db_url = db_url
        self.journal = tmp_path / "paper-journal.jsonl"
        self.spool = tmp_path / "spool"
        self.store: Store | None = None

    async def start(self) -> EngineDriver:
        self.store = await Store.open(
            self.db_url, mode=Mode.PAPER, spool_dir=self.spool, writer=WRITER
        )
        recovery = await recover(self.settings, self.store, self.journal)
        run = EngineDriver(
            self.settings, self.universe, ledger=recovery.ledger, journal_path=self.journal
        )
        EnginePersistence(run.engine, self.store, recovery)
        return run

    async def stop(self, run: EngineDriver) -> None:
        """A crash as far as the engine goes: no timer, no shutdown hooks; the store closes."""
        execution = run.engine.execution
        assert isinstance(execution, PaperExecution)
        execution.close()
        if self.store is not None:
            await self.store.close()
            self.store = None


@pytest.fixture
async def restartable(tmp_path: Path, db_url: str, market: Any) -> AsyncIterator[Restartable]:
    r = Restartable(tmp_path, db_url, market, risk_max_daily_loss=Decimal(10))
    yield r
    if r.store is not None:
        await r.store.close()


async def test_the_kill_switch_is_stored_when_engaged_not_on_the_next_timer(
    restartable: Restartable,
) -> None:
    run = await restartable.start()
    assert restartable.store is not None
    run.engine.risk.engage("venue outage", "alice", run.clock.now_ns())
    await restartable.store.flush()  # what was submitted is durable; no timer has run
    saved = await restartable.store.queries.risk_state()
    assert saved is not None
    assert (saved.kill_switch, saved.state, saved.reason) == (True, "halted", "venue outage")
    await restartable.stop(run)

    restarted = await restartable.start()
    assert restarted.engine.risk.state is TradingState.HALTED
    gate = restarted.engine.risk.kill_switch
    assert gate is not None
    assert (gate.reason, gate.actor) == ("venue outage", "alice")


async def test_the_kill_command_is_acknowledged_once_the_switch_is_durable(
    restartable: Restartable,
) -> None:
    run = await restartable.start()
    store = restartable.store
    assert store is not None
    await EngineCommands(run.engine, store.flush).engage_kill_switch("venue outage", "alice")
    assert store.queue_depth == 0
    saved = await store.queries.risk_state()
    assert saved is not None
    assert saved.kill_switch is True
    await EngineCommands(run.engine, store.flush).clear_kill_switch("alice")
    assert store.queue_depth == 0
    saved = await store.queries.risk_state()
    assert saved is not None
    assert (saved.kill_switch, saved.state) == (False, "active")


async def test_a_kill_command_over_the_bus_is_stored_before_it_is_acknowledged(
    restartable: Restartable,
) -> None:
    """The operator's path: ``polyarb ctl kill`` publishes a command; the engine acknowledges
    it only once the kill switch is in the database (no timer runs here)."""
    run = await restartable.start()
    store = restartable.store
    assert store is not None
    hub = MemoryHub()
    engine_bus, ctl_bus = MemoryBus("engine-1", hub=hub), MemoryBus("ctl", hub=hub)
    await engine_bus.start()
    await ctl_bus.start()
    processor = command_processor(restartable.settings, run.engine, engine_bus, store)
    task = asyncio.create_task(processor.run())
    client = CommandClient(ctl_bus, secret=embedded_secret())
    try:
        await client.start()
        await asyncio.sleep(0.05)  # let the processor subscribe
        kill = new_command("kill_switch_engage", "cli", reason="drill")
        acks = await client.send(kill, timeout_s=5.0)
        assert acks["engine-1"].accepted
        saved = await store.queries.risk_state()
        assert saved is not None
        assert (saved.kill_switch, saved.reason, saved.actor) == (True, "drill", "cli")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await engine_bus.close()
        await ctl_bus.close()


async def test_a_loss_limit_breach_is_stored_at_once_and_restarts_reducing(
    restartable: Restartable,
) -> None:
    run = await restartable.start()
    assert restartable.store is not None
    run.engine.risk.update_pnl(Decimal(0), Decimal(0), run.clock.now_ns())
    run.engine.risk.update_pnl(Decimal(-12), Decimal(0), run.clock.now_ns())
    assert run.engine.risk.state is TradingState.REDUCING
    await restartable.store.flush()  # what was submitted is durable; no timer has run
    saved = await restartable.store.queries.risk_state()
    assert saved is not None
    assert (saved.state, saved.kill_switch) == ("reducing", False)
    await restartable.stop(run)

    restarted = await restartable.start()
    assert restarted.engine.risk.state is TradingState.REDUCING
    assert [g.name for g in restarted.engine.risk.gates(restarted.clock.now_ns())][:1] == [
        "loss_limit"
    ]


async def test_resting_fills_reach_risk_and_the_store(
    restartable: Restartable, market: Any
) -> None:
    run = await restartable.start()
    store = restartable.store
    assert store is not None
    order = await rest_a_bid(run, market)
    yes = market[1].token_ids[0]
    assert run.engine.risk.positions() == {}
    await run.frame(EPOCH_NS + 500 * MS, cross(market, EPOCH_NS // MS + 500))
    assert order.status is OrderStatus.FILLED
    assert run.engine.risk.positions() == {yes: Decimal(50)}
    assert run.engine.risk.exposure() == Decimal(15)  # 50 x 0.30, maker: no fee
    assert run.engine.counters.fills == 1
    state = await store.load_state()
    assert [(f.client_order_id, f.size) for f in state.fills] == [(order.client_id, Decimal(50))]
    assert state.open_orders == ()


async def test_locked_sets_are_restored_into_risk_after_a_restart(
    tmp_path: Path, db_url: str
) -> None:
    """A negRisk set held until its event resolves is still exposure after a restart: risk
    must count its shares and cost, or the limits would let the engine buy it again."""
    driver = sim_driver(seed=5, binary_markets=0, negrisk_events=1, outcomes_per_event=3)
    event = driver.neg_risk_events[0]
    yes_tokens = tuple(m.token_ids[0] for m in event.markets)
    prices = ("0.30", "0.33", "0.32")
    events: list[Fill | Merge] = [
        Fill(
            fill_id=f"fill-{i}",
            client_order_id=f"order-{i}",
            token_id=token,
            market=m.condition_id,
            side=Side.BUY,
            price=Decimal(price),
            size=Decimal(40),
            fee=Decimal(0),
            ts_ns=EPOCH_NS + i,
            strategy="negrisk",
            mode=Mode.PAPER,
        )
        for i, (token, m, price) in enumerate(zip(yes_tokens, event.markets, prices, strict=True))
    ]
    events.append(
        Merge("lock-1", event.event_id, yes_tokens, Decimal(40), EPOCH_NS + 9, "negrisk", True)
    )
    journal = Journal(tmp_path / "paper-journal.jsonl")
    journal.append(events)
    journal.close()
    s = settings(tmp_path)
    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=tmp_path / "spool", writer=WRITER)
    try:
        recovery = await recover(s, store, tmp_path / "paper-journal.jsonl")
        assert recovery.problems == []
        assert [x.qty for x in recovery.ledger.locked_sets()] == [Decimal(40)]
        run = EngineDriver(
            s,
            universe_of(driver.gamma_markets(), s),
            ledger=recovery.ledger,
            journal_path=tmp_path / "paper-journal.jsonl",
        )
        EnginePersistence(run.engine, store, recovery)
        risk = run.engine.risk
        assert risk.positions() == dict.fromkeys(yes_tokens, Decimal(40))
        assert risk.exposure() == Decimal(40) * (
            Decimal("0.30") + Decimal("0.33") + Decimal("0.32")
        )
        # The event resolves: the set pays out and leaves risk, every token of it.
        winner = event.markets[1]
        run.engine.on_resolved(winner.condition_id, yes_tokens[1], winner.outcomes[0])
        assert run.engine.ledger.locked_sets() == []
        assert risk.positions() == {}
        assert risk.exposure() == 0
    finally:
        await store.close()
