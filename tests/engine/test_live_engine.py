"""``polyarb run`` trading live (DRY_RUN=false, the opt-in complete) against the simulator's CLOB
over real HTTP and WebSocket, with a fresh PostgreSQL database per test: a negRisk set and a
Sniper order placed, filled and reconciled; kill -9 at the labelled crash points then a restart
that reconciles (0 duplicate orders, 0 orphans, 0 lost fills); a fill the store does not know
halts the start."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.servers import free_port

from polyarb.clob.signing import Wallet
from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Mode
from polyarb.sim import ScenarioConfig, SimServer
from polyarb.sim.catalog import SimEvent
from polyarb.sim.scenario import ArbWindow
from polyarb.sim.trading import SimOrder, SimTrade
from polyarb.store import Store, WriterConfig

from .procs import Engine, clean_env, polyarb_process

KEY = "0x" + "4e" * 32
GAME_END_S = 1.2
WINDOW_AT_S = 1.5


def _scenario() -> ScenarioConfig:
    return ScenarioConfig(
        seed=8,
        binary_markets=0,
        negrisk_events=1,
        outcomes_per_event=3,
        updates_per_s=20.0,
        closed_markets=0,
        games=1,
        game_start_s=0.2,
        game_duration_s=GAME_END_S - 0.2,
        reprice_delay_s=2.0,
        game_taker_delay_s=0,
        fenced_windows=True,
        windows=(ArbWindow("negrisk", 0, WINDOW_AT_S, 3.0, Decimal("0.06"), Decimal(200)),),
    )


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(_scenario()) as server:
        server.pause()  # scenario time counts from a reconciled, connected engine
        yield server


def _env(sim: SimServer, data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = clean_env(data_dir)
    env.pop("POLY_API_SECRET")  # the API key is derived from the wallet (L1) at start
    env.update(
        DRY_RUN="false",
        SUMTO100_PAPER_TRADING="false",
        LIVE_TRADING_CONFIRM="I-understand-real-money",
        POLY_PRIVATE_KEY=KEY,
        DATABASE_URL=database_url,
        POLY_CLOB_URL=sim.clob_url,
        POLY_WS_URL=sim.ws_url,
        POLY_GAMMA_URL=sim.gamma_url,
        SNIPER_ESPN_URL=sim.espn_url,
        SNIPER_LEAGUES="nba",
        SNIPER_POLL_MS="100",
        SNIPER_MIN_PRICE="0.01",
        SNIPER_ORDER_SIZE="20",
        SUMTO100_ENABLED="false",
        CLIPPER_ENABLED="false",
        NEGRISK_CONVERT_ENABLED="false",
        HEALTH_PORT="0",
        API_ENABLED="false",
        LIVE_RECONCILE_S="1",
        LIVE_SLIPPAGE="0.02",
    )
    env.update(extra)
    return env


def _negrisk_event(sim: SimServer) -> SimEvent:
    return next(e for e in sim.venue.catalog.events if e.neg_risk)


def _lost_trade(sim: SimServer, token: str) -> SimTrade:
    """A trade of our API key at the venue that no order of ours made (a fill the store lost)."""
    maker = Wallet(KEY).address
    api_key = sim.exchange._creds_for(maker, 0).api_key
    market = next(m for e in sim.venue.catalog.events for m in e.markets if token in m.token_ids)
    trade = SimTrade(
        "lost-" + uuid.uuid4().hex, "0x" + "ab" * 32, market.condition_id, token, Side.BUY,
        5000, 10_000_000, "Yes", api_key, maker, int(time.time()),
    )  # fmt: skip
    sim.exchange.trades[trade.id] = trade
    return trade


async def _start(tmp_path: Path, env: dict[str, str]) -> Engine:
    proc = await polyarb_process(tmp_path, env, "run", "--venue", "polymarket", "--no-display")
    return Engine(proc)


async def _resume_when_connected(sim: SimServer, engine: Engine) -> None:
    await engine.wait_for("reconciled:", timeout_s=45)
    for _ in range(200):
        if sim.channel.clients:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the subscription's snapshots
    sim.resume()


async def _until(condition: object, timeout_s: float) -> bool:
    """Wait until ``condition()`` holds or the time is up; whether it held."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if condition():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


async def _metrics(port: int, prefix: str) -> dict[str, float]:
    """The samples of the engine's ``/metrics`` named ``prefix…`` (labels inline)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(prefix):
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


async def _stop(engine: Engine) -> tuple[int, str, str]:
    if engine.proc.returncode is None:
        engine.proc.send_signal(signal.SIGINT)
    return await engine.finish(timeout_s=30)


async def _ledger(database_url: str, tmp_path: Path) -> tuple[Ledger, int]:
    """The ledger the store recomputes, and how many orders it still has open."""
    store = await Store.open(
        database_url,
        mode=Mode.LIVE,
        spool_dir=tmp_path / f"spool-{uuid.uuid4().hex[:6]}",
        writer=WriterConfig(process=False, flush_interval_s=0.01),
    )
    try:
        state = await store.load_state()
        return state.recompute_ledger(Decimal(0)), len(state.open_orders)
    finally:
        await store.close()


def _assert_reconciled(sim: SimServer, ledger: Ledger) -> None:
    """Every venue trade is a fill of the ledger, once (a FAILED one none); every position
    equals the venue's."""
    maker = Wallet(KEY).address
    for trade in sim.exchange.trades.values():
        assert ledger.seen(trade.id) == (trade.status != "FAILED"), trade.id
    tokens = {t.asset_id for t in sim.exchange.trades.values()}
    for token in tokens:
        assert ledger.shares(token) == sim.exchange.position(maker, token)


async def _settlement_rows(database_url: str) -> tuple[dict[str, str], list[str], list[str]]:
    """trade id -> settlement status; the errors' kinds; the alerts' keys (as stored)."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch("SELECT trade_id, status FROM trade_settlements WHERE mode='live'")
        errors = await conn.fetch("SELECT source, kind FROM errors")
        alerts = await conn.fetch("SELECT dedup_key FROM alerts")
    finally:
        await conn.close()
    return (
        {r["trade_id"]: r["status"] for r in rows},
        [f"{r['source']}:{r['kind']}" for r in errors],
        [r["dedup_key"] for r in alerts],
    )


async def test_live_engine_trades_a_negrisk_set_and_a_sniper_order_then_reconciles(
    sim: SimServer, tmp_path: Path, postgres_url: str
) -> None:
    """...and settles them from the user channel: every trade CONFIRMED in the store, but the
    first, made to FAIL on chain: its fill reversed (position and P&L back), an error and a
    critical alert, the engine not halted."""
    sim.exchange.fail_next_trades(1)
    health_port = free_port()
    engine = await _start(tmp_path, _env(sim, tmp_path, postgres_url, HEALTH_PORT=str(health_port)))
    plan = await engine.wait_for("LIVE TRADING", timeout_s=45)
    await _resume_when_connected(sim, engine)
    event_tokens = {m.token_ids[0] for m in _negrisk_event(sim).markets}  # YES of each
    game_market = sim.games[0].market
    assert game_market is not None

    def traded() -> bool:
        orders = sim.exchange.orders.values()
        return {o.asset_id for o in orders} >= event_tokens and any(
            o.market == game_market.condition_id for o in orders
        )

    await _until(traded, 20)
    await _until(lambda: any(t.status == "FAILED" for t in sim.exchange.trades.values()), 5)
    failed = [t for t in sim.exchange.trades.values() if t.status == "FAILED"]
    assert len(failed) == 1
    reversed_at = await engine.wait_for("fills reversed", timeout_s=10)
    assert failed[0].id in engine.stderr[reversed_at]
    settled = {t.id for t in sim.exchange.trades.values()} - {failed[0].id}
    await _until(lambda: all(t.status == "CONFIRMED" for t in sim.exchange.trades.values()
                             if t.id in settled), 10)  # fmt: skip
    mark = len(engine.stderr)
    await engine.wait_for("reconciled:", after=mark, timeout_s=10)  # a continuous pass
    mark = len(engine.stderr)
    assert not any("reconciliation MISMATCH" in line for line in engine.stderr)
    # A trade of ours the engine never booked appears at the venue: the next pass says so and
    # the engine only reduces from then on.
    lost = _lost_trade(sim, _negrisk_event(sim).markets[1].token_ids[1])
    found = await engine.wait_for(lost.id, after=mark, timeout_s=10)
    assert "reconciliation MISMATCH" in engine.stderr[found]
    reducing = await engine.wait_for("REDUCING until a clean reconciliation", after=mark)
    assert lost.id in engine.stderr[reducing]
    del sim.exchange.trades[lost.id]  # (the venue's truth again, for the checks below)
    channel = await _metrics(health_port, "polyarb_user_channel_")
    assert channel["polyarb_user_channel_connected"] == 1
    assert channel["polyarb_user_channel_messages_total{type=trade}"] >= len(settled) + 1
    assert channel["polyarb_user_channel_messages_total{type=order}"] >= 1
    assert channel["polyarb_user_channel_malformed_messages_total"] == 0
    code, _, stderr = await _stop(engine)
    assert code == 0, stderr[-3000:]  # not halted: the failed trade was reversed
    assert "venue query failed" not in stderr
    assert plan >= 0
    statuses, errors, alert_keys = await _settlement_rows(postgres_url)
    assert statuses == dict.fromkeys(settled, "CONFIRMED") | {failed[0].id: "FAILED"}
    assert errors.count("execution:trade_failed") == 1
    assert "execution:trade_failed" in alert_keys
    # no POLYGON_RPC_URL: trading live without merges, and saying so (docs/orders.md)
    assert "POLYGON_RPC_URL is not set: live complete sets will NOT be merged" in stderr
    assert "chain:no_rpc" in alert_keys

    orders = list(sim.exchange.orders.values())
    assert {o.asset_id for o in orders} >= event_tokens  # the set: YES of every outcome
    sniper = [o for o in orders if o.market == game_market.condition_id]
    assert sniper
    assert all(o.side == Side.BUY for o in sniper)
    assert all(o.status == "MATCHED" for o in orders)
    # signed by our wallet, sent once each (the venue refuses a replayed id)
    assert {o.maker for o in orders} == {Wallet(KEY).address}

    ledger, open_orders = await _ledger(postgres_url, tmp_path)
    assert open_orders == 0
    _assert_reconciled(sim, ledger)
    assert ledger.shares(failed[0].asset_id) == 0  # bought in the failed trade only: back
    assert ledger.cost_basis(failed[0].asset_id) == 0
    assert len(sim.exchange.trades) >= len(orders)
    # The simulator charges the venue's taker fee and the ledger books the same (a failed
    # trade's given back on both sides): the cash reconciled exactly on every pass.
    charged = [t.fee for t in sim.exchange.trades.values() if t.status != "FAILED"]
    assert ledger.fees_paid == sum(charged)
    assert not any("cash: " in line for line in stderr)
    assert sim.exchange.starting_balance - sim.exchange.balance(Wallet(KEY).address) == (
        ledger.starting_balance - ledger.cash
    )


@pytest.mark.parametrize("point", ["before_send", "after_send", "after_fill"])
async def test_kill_9_at_a_crash_point_then_restart_reconciles(
    sim: SimServer, tmp_path: Path, postgres_url: str, point: str
) -> None:
    env = _env(sim, tmp_path, postgres_url, NEGRISK_ENABLED="false", LIVE_CRASH_AT=point)
    engine = await _start(tmp_path, env)
    await _resume_when_connected(sim, engine)
    code, _, stderr = await engine.finish(timeout_s=30)
    assert code == -signal.SIGKILL, stderr[-3000:]
    placed = 0 if point == "before_send" else 1
    assert len(sim.exchange.orders) == placed
    assert sim.exchange.requests == placed

    # The restart: nothing new to trade (Sniper off), only what the crash left to settle. After
    # the send, the venue's order lookup is made to forget matched orders (as the real one is
    # reported to): the order is settled from its trades, not closed as "not placed".
    sim.exchange.order_lookup_active_only = point == "after_send"
    env.update(LIVE_CRASH_AT="", SNIPER_ENABLED="false")
    engine = await _start(tmp_path, env)
    await engine.wait_for("reconciled:", timeout_s=45)
    await engine.wait_for("feed_ready")  # running (and listening for Ctrl-C)
    code, _, stderr = await _stop(engine)
    assert code == 0, stderr[-3000:]
    assert sim.exchange.requests == placed  # looked up, never sent again: no duplicate
    assert len(sim.exchange.orders) == placed
    ledger, open_orders = await _ledger(postgres_url, tmp_path)
    assert open_orders == 0  # nothing left in flight
    _assert_reconciled(sim, ledger)  # no orphan, no lost fill
    assert len(ledger.positions()) == placed


async def test_a_venue_fill_the_store_does_not_know_halts_the_start(
    sim: SimServer, tmp_path: Path, postgres_url: str
) -> None:
    market = _negrisk_event(sim).markets[0]
    trade = _lost_trade(sim, market.token_ids[0])
    resting = SimOrder(
        "0x" + "cd" * 32, trade.owner, trade.maker_address, market.condition_id,
        market.token_ids[1], Side.BUY, Decimal(7), Decimal("0.2"), "No", "GTC", 0, status="LIVE",
    )  # fmt: skip
    sim.exchange.orders[resting.id] = resting  # an order of ours resting that we do not know

    engine = await _start(tmp_path, _env(sim, tmp_path, postgres_url))
    await engine.wait_for("HALTED", timeout_s=45)
    await engine.wait_for("feed_ready")  # running (and listening for Ctrl-C), halted
    sim.resume()
    await asyncio.sleep(1.5)  # the game ends: nothing may be sent while halted
    code, stdout, stderr = await _stop(engine)
    assert code == 3, stderr[-3000:]
    assert sim.exchange.requests == 0
    halted = [line for line in stderr.splitlines() if "HALTED" in line]
    assert any(trade.id in line and "does not know" in line for line in halted), halted
    assert any("open order 0xcdcdcdcd" in line for line in halted), halted
    assert json.dumps(trade.id)[1:-1] in stdout + stderr


async def test_a_venue_that_cannot_be_reached_stops_the_live_start_in_one_line(
    sim: SimServer, tmp_path: Path, postgres_url: str
) -> None:
    env = _env(sim, tmp_path, postgres_url, POLY_CLOB_URL="http://127.0.0.1:9")  # nothing there
    engine = await _start(tmp_path, env)
    code, _, stderr = await engine.finish(timeout_s=45)
    last = stderr.strip().splitlines()[-1]
    assert code != 0
    assert last.startswith("polyarb: error: live start failed, nothing was sent: POST /auth/")
    assert KEY[2:] not in stderr


async def test_venue_cash_moved_apart_from_the_ledger_between_runs_halts_the_start(
    sim: SimServer, tmp_path: Path, postgres_url: str
) -> None:
    """The first live start records venue cash - ledger cash; a later start finding the
    venue's cash moved otherwise (here pUSD left the wallet while the engine was down) stays
    halted with the reason, like a position mismatch."""
    env = _env(sim, tmp_path, postgres_url, SNIPER_ENABLED="false", NEGRISK_ENABLED="false")
    engine = await _start(tmp_path, env)
    await engine.wait_for("reconciled:", timeout_s=45)
    await engine.wait_for("feed_ready")
    code, _, stderr = await _stop(engine)
    assert code == 0, stderr[-3000:]
    address = Wallet(KEY).address
    sim.exchange.cash[address] = sim.exchange.balance(address) - Decimal("0.25")
    engine = await _start(tmp_path, env)
    await engine.wait_for("HALTED", timeout_s=45)
    await engine.wait_for("feed_ready")
    code, _, stderr = await _stop(engine)
    assert code == 3, stderr[-3000:]
    halted = [line for line in stderr.splitlines() if "HALTED" in line]
    assert any("cash: the venue's" in line and "moved -0.25" in line for line in halted), halted
    assert sim.exchange.requests == 0


async def test_a_negrisk_set_with_a_killed_leg_is_unwound_live(
    sim: SimServer, tmp_path: Path, postgres_url: str
) -> None:
    """The engine trades a negRisk set live; the simulator kills one leg (the book moved
    between the legs): the other legs' shares are sold back (LEG_POLICY=unwind), the engine
    raises the leg-risk error and alert and counts the event, and the venue and the ledger
    still agree (positions, trades, cash)."""
    event = _negrisk_event(sim)
    killed = event.markets[1].token_ids[0]  # the YES leg of the second outcome
    sim.exchange.cap_next_fill(killed, Decimal(0))
    health_port = free_port()
    env = _env(
        sim,
        tmp_path,
        postgres_url,
        SNIPER_ENABLED="false",
        LEG_MAX_LOSS="50",
        HEALTH_PORT=str(health_port),
    )
    engine = await _start(tmp_path, env)
    await _resume_when_connected(sim, engine)
    sells = lambda: [o for o in sim.exchange.orders.values() if o.side == Side.SELL]  # noqa: E731
    await _until(lambda: len(sells()) >= len(event.markets) - 1, 20)
    assert {o.asset_id for o in sells()} == {m.token_ids[0] for m in event.markets} - {killed}
    await engine.wait_for("leg risk", timeout_s=10)
    mark = len(engine.stderr)
    await engine.wait_for("reconciled:", after=mark, timeout_s=10)  # a continuous pass, clean
    legs = await _metrics(health_port, "polyarb_leg_risk_events")
    assert legs["polyarb_leg_risk_events_total{policy=unwind,result=flat}"] >= 1
    assert legs["polyarb_leg_risk_events_total{policy=unwind,result=unhedged}"] == 0
    code, _, stderr = await _stop(engine)
    assert code == 0, stderr[-3000:]
    assert "reconciliation MISMATCH" not in stderr
    assert "live watch failed" not in stderr
    conn = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
    try:  # venue cash - ledger cash, kept for the next start: unchanged by the trading
        offset = await conn.fetchval("SELECT value FROM meta WHERE key = 'live_cash_offset'")
    finally:
        await conn.close()
    assert Decimal(offset) == 0
    _, errors, alert_keys = await _settlement_rows(postgres_url)
    assert "execution:leg_risk" in errors  # it cost the spread and the fees: an error
    assert any(key.startswith("execution:leg_risk") for key in alert_keys)
    ledger, open_orders = await _ledger(postgres_url, tmp_path)
    assert open_orders == 0
    _assert_reconciled(sim, ledger)
    address = Wallet(KEY).address
    assert sim.exchange.starting_balance - sim.exchange.balance(address) == (
        ledger.starting_balance - ledger.cash
    )
