"""The user channel and settlement end to end against the simulator, over real WebSocket and
HTTP: the venue's event shapes (the real fixtures'), a fill confirmed, a fill FAILED after
MATCHED and its P&L reversed, one trade seen on the channel, in REST and after a restart booked
once, a reconnect in the middle of a settlement, bad credentials and malformed frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websockets
from tests.execution.sim_markets import markets_by_token

from polyarb.clob.auth import ApiCreds
from polyarb.clob.signing import SignatureType, Wallet
from polyarb.domain.backoff import Backoff
from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import Market
from polyarb.domain.numbers import price_to_decimal, size_to_decimal
from polyarb.domain.settlement import Settlement
from polyarb.domain.trading import Fill, Leg, Order, OrderStatus, Signal
from polyarb.engine.risk_link import sync_risk_positions
from polyarb.execution.journal import read_journal
from polyarb.execution.live.client import LiveConfig, LiveExecution
from polyarb.execution.live.user_channel import UserChannelClient, subscription
from polyarb.execution.live.venue import ClobRest
from polyarb.execution.settlement import TradeFailure
from polyarb.execution.user_schemas import UserOrderEvent, parse_user_message
from polyarb.risk.limits import RiskLimits
from polyarb.risk.manager import RiskManager
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer

D = Decimal
POLY_WS = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket" / "ws"
STEP_S = 0.15  # the simulator's settlement step
START = D(1000)


class NullIntents:
    async def record_order_intent(self, order: Order, *, signed_payload: str | None = None) -> None:
        return None


@dataclass
class RiskSpy:
    """A RiskGate that remembers what it was told, and tells a real risk manager if given
    (its positions set from the ledger after a failure, as the engine does)."""

    manager: RiskManager | None = None
    fills: list[Fill] = field(default_factory=list)

    def failed(self, failure: TradeFailure, ledger: Ledger, failures: list[TradeFailure]) -> None:
        failures.append(failure)
        if self.manager is not None:
            sync_risk_positions(self.manager, ledger, list(failure.positions))

    def halted(self) -> str | None:
        return None

    def approve(self, signal: Signal, completing: Any) -> str | None:
        return None

    def on_fills(self, signal_id: str, fills: Any) -> None:
        self.fills.extend(fills)
        for fill in fills if self.manager is not None else ():
            self.manager.on_fill(fill, signal_id)

    def on_done(self, signal: Signal) -> None:
        return None


@dataclass
class Trader:
    live: LiveExecution
    channel: UserChannelClient
    ledger: Ledger
    risk: RiskSpy
    failures: list[TradeFailure]

    async def stop(self) -> None:
        await self.channel.stop()
        await self.live.aclose()


@dataclass
class Rig:
    sim: SimServer
    markets: dict[str, Market]
    creds: ApiCreds
    wallet: Wallet
    journal: Path
    traders: list[Trader] = field(default_factory=list)

    async def trader(
        self,
        *,
        backoff: Backoff | None = None,
        connect: bool = True,
        ping_s: float = 10.0,
        manager: RiskManager | None = None,
    ) -> Trader:
        """A live executor with its user channel, restored from the journal (a restart). With
        ``manager``, fills and failures go to that risk manager as the engine's would."""
        contents = read_journal(self.journal)
        ledger = Ledger.replay(contents.events, START)
        risk = RiskSpy(manager)
        failures: list[TradeFailure] = []
        rest = ClobRest(self.sim.clob_url, self.wallet, self.creds, chain_id=137, timeout_s=2)
        live = LiveExecution(
            rest,
            self.markets,
            LiveConfig(chain_id=137, funder="", signature_type=SignatureType.EOA),
            NullIntents(),
            ledger,
            journal_path=self.journal,
            risk=risk,
            on_trade_failed=lambda failure: risk.failed(failure, ledger, failures),
        )
        channel = UserChannelClient(
            self.sim.user_ws_url,
            self.creds,
            live.on_user_event,
            markets=sorted({m.condition_id for m in self.markets.values()}),
            on_connect=live.refresh_settlements,
            backoff=backoff,
            ping_interval_s=ping_s,
        )
        trader = Trader(live, channel, ledger, risk, failures)
        self.traders.append(trader)
        if connect:
            channel.start()
            await asyncio.wait_for(channel.connected.wait(), 5)
        return trader

    def market(self) -> Market:
        return next(m for m in dict.fromkeys(self.markets.values()) if not m.neg_risk)

    def buy(self, size: Decimal) -> Signal:
        market = self.market()
        token = market.outcomes[0].token_id
        book = self.sim.truth(token)
        best = price_to_decimal(next(iter(book.asks.best_first()))[0])
        depth = size_to_decimal(next(iter(book.asks.best_first()))[1])
        size = min(size, depth)
        leg = Leg(token, Side.BUY, size, best, best + D("0.02"), market.condition_id)
        return Signal("sniper", market.condition_id, 0, D("0.05"), size, (leg,), kind="directional")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    config = ScenarioConfig(
        seed=5, binary_markets=2, negrisk_events=0, closed_markets=0, updates_per_s=5.0
    )
    async with SimServer(config) as sim:
        sim.pause()
        sim.exchange.settlement_step_s = STEP_S
        markets = markets_by_token(sim)
        wallet = Wallet("0x" + "5e" * 32)
        rest = ClobRest(sim.clob_url, wallet, None, chain_id=137, timeout_s=2)
        creds = await rest.api_key()
        await rest.aclose()
        rig = Rig(sim, markets, creds, wallet, tmp_path / "journal.jsonl")
        try:
            yield rig
        finally:
            for trader in rig.traders:
                await trader.stop()


async def _until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def _fill_lines(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [line for line in lines if line["kind"] == "fill"]


async def test_the_venue_events_have_the_real_fixtures_shapes(rig: Rig) -> None:
    markets = [rig.market().condition_id]
    async with websockets.connect(rig.sim.user_ws_url) as ws:
        await ws.send(subscription(rig.creds, markets))
        trader = await rig.trader(connect=False)
        await asyncio.sleep(0.05)  # the subscription is in before the order
        await trader.live.execute(rig.buy(D(5)))
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        second = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send("PING")
        third = await asyncio.wait_for(ws.recv(), 5)
        signal = rig.buy(D(5))
        (leg,) = signal.legs
        _, depth = next(iter(rig.sim.truth(leg.token_id).asks.best_first()))
        size = size_to_decimal(depth) + 1  # more than the best level, limited to its price
        too_big = replace(leg, size=size, limit_price=leg.vwap)
        killed = await trader.live.execute(replace(signal, legs=(too_big,), size=size))
        assert killed.orders[0].status == OrderStatus.CANCELED, killed.orders[0].reason
        fourth = json.loads(await asyncio.wait_for(ws.recv(), 5))
    kill_fixture = json.loads(
        (POLY_WS / "user_order_cancellation_fok_killed_sanitized.json").read_text()
    )
    assert set(fourth) == set(kill_fixture)
    assert fourth["type"] == "CANCELLATION"
    assert fourth["status"] == kill_fixture["status"]
    (event,) = parse_user_message(json.dumps(fourth))
    assert isinstance(event, UserOrderEvent)
    assert event.is_fok_kill
    order_fixture = json.loads((POLY_WS / "user_order_placement_live.json").read_text())
    trade_fixture = json.loads((POLY_WS / "user_trade_taker_matched.json").read_text())
    assert first["event_type"] == "order"
    assert set(first) == set(order_fixture)
    assert (first["type"], first["status"]) == ("PLACEMENT", "MATCHED")
    assert second["event_type"] == "trade"
    assert set(second) == set(trade_fixture)
    assert set(second["maker_orders"][0]) == set(trade_fixture["maker_orders"][0]) | {"side"}
    assert (second["status"], second["trader_side"]) == ("MATCHED", "TAKER")
    assert all(
        isinstance(v, str) for k, v in second.items() if k not in ("bucket_index", "maker_orders")
    )
    assert third == "PONG"


async def test_bad_credentials_are_refused_and_retried(rig: Rig) -> None:
    wrong = ApiCreds(rig.creds.api_key, rig.creds.secret, "not-the-passphrase")
    events: list[object] = []
    channel = UserChannelClient(
        rig.sim.user_ws_url, wrong, events.append, backoff=Backoff(min_s=0.05, max_s=0.1)
    )
    channel.start()
    try:
        await _until(lambda: rig.sim.user_channel.refused >= 2)
    finally:
        await channel.stop()
    assert "1008" in channel.stats.last_error
    assert events == []


async def test_a_fill_is_confirmed(rig: Rig) -> None:
    trader = await rig.trader()
    report = await trader.live.execute(rig.buy(D(10)))
    (order,) = report.orders
    assert order.status == OrderStatus.FILLED
    trade_ids = [f.fill_id for f in report.fills]
    tracker = trader.live.settlement
    await _until(lambda: all(tracker.status(t) == Settlement.CONFIRMED for t in trade_ids))
    size = sum(f.size for f in report.fills)
    assert trader.ledger.shares(order.token_id) == size
    assert sorted(f.fill_id for f in trader.risk.fills) == sorted(trade_ids)  # told once
    assert [line["fill_id"] for line in _fill_lines(rig.journal)] == trade_ids
    statuses = [
        json.loads(line)["status"]
        for line in rig.journal.read_text().splitlines()
        if '"kind":"settlement"' in line
    ]
    assert statuses == ["MATCHED", "MINED", "CONFIRMED"] * len(trade_ids)
    assert trader.failures == []


async def test_a_fill_failed_after_matched_is_reversed(rig: Rig) -> None:
    manager = RiskManager(RiskLimits())
    trader = await rig.trader(manager=manager)
    funder = rig.wallet.address
    rig.sim.exchange.fail_next_trades(5)  # every trade of this order
    report = await trader.live.execute(rig.buy(D(10)))
    (order,) = report.orders
    token = order.token_id
    assert order.status == OrderStatus.FILLED  # matched: booked at once
    assert trader.ledger.shares(token) > 0
    assert trader.ledger.cash < START
    assert manager.positions().get(token, D(0)) == trader.ledger.shares(token)
    trade_ids = {f.fill_id for f in report.fills}
    await _until(lambda: {f.trade_id for f in trader.failures} == trade_ids)
    # the P&L, cash and position are what they were, exactly
    assert trader.ledger.shares(token) == 0
    assert trader.ledger.cash == START
    assert trader.ledger.realized_pnl == 0
    assert trader.ledger.fees_paid == 0
    for failure in trader.failures:
        assert failure.positions == {token: (D(0), D(0))}
        assert "FAILED" in failure.message
    assert manager.positions().get(token, D(0)) == 0  # risk was told
    assert manager.exposure() == 0
    # the venue undid it too
    assert rig.sim.exchange.position(funder, token) == 0
    assert rig.sim.exchange.balance(funder) == rig.sim.exchange.starting_balance
    # a restart does not bring the fills back
    contents = read_journal(rig.journal)
    assert contents.fills == []
    assert {f.fill_id for f in contents.reversed_fills} == trade_ids
    restarted = await rig.trader()
    await restarted.live.refresh_settlements()
    assert restarted.ledger.shares(token) == 0
    assert restarted.ledger.cash == START


async def test_a_trade_retried_on_chain_then_confirmed_stays_booked(rig: Rig) -> None:
    trader = await rig.trader()
    rig.sim.exchange.retry_next_trades(5)
    report = await trader.live.execute(rig.buy(D(5)))
    (trade_id,) = [f.fill_id for f in report.fills]
    tracker = trader.live.settlement
    await _until(lambda: tracker.status(trade_id) == Settlement.CONFIRMED)
    statuses = [
        json.loads(line)["status"]
        for line in rig.journal.read_text().splitlines()
        if '"kind":"settlement"' in line
    ]
    assert statuses == ["MATCHED", "MINED", "RETRYING", "MINED", "CONFIRMED"]
    assert trader.failures == []
    assert trader.ledger.shares(report.orders[0].token_id) == report.fills[0].size


async def test_one_trade_on_channel_rest_and_after_restart_is_booked_once(rig: Rig) -> None:
    first = await rig.trader()
    report = await first.live.execute(rig.buy(D(10)))  # REST answer and channel both see it
    trade_ids = [f.fill_id for f in report.fills]
    size = sum(f.size for f in report.fills)
    token = report.orders[0].token_id
    tracker = first.live.settlement
    await _until(lambda: all(tracker.status(t) == Settlement.MINED for t in trade_ids))
    await first.stop()  # the engine stops before the trade is final
    # restart: same journal, the order resumed, the channel and REST see the trade again
    second = await rig.trader(connect=False)
    # as if the last run had crashed after the venue's answer, before reading the fills: the
    # order is looked up and its trades read from REST again
    (order,) = report.orders
    resumed = replace(order, status=OrderStatus.ACKED, history=[])
    again = await second.live.resolve_in_flight([resumed])
    assert sorted(f.fill_id for f in again) == sorted(trade_ids)  # seen again in REST...
    assert second.ledger.shares(token) == size  # ...and not booked again
    second.channel.start()
    tracker2 = second.live.settlement
    await _until(lambda: all(tracker2.status(t) == Settlement.CONFIRMED for t in trade_ids))
    assert second.ledger.shares(token) == size
    assert second.risk.fills == []  # nothing new to tell risk
    assert [line["fill_id"] for line in _fill_lines(rig.journal)] == trade_ids


async def test_reconnect_in_the_middle_of_a_settlement(rig: Rig) -> None:
    trader = await rig.trader(backoff=Backoff(min_s=4 * STEP_S, max_s=4 * STEP_S))
    report = await trader.live.execute(rig.buy(D(10)))
    trade_ids = [f.fill_id for f in report.fills]
    assert await rig.sim.user_channel.drop_all() == 1  # while MATCHED
    # the venue settles while we are away: MINED and CONFIRMED are never sent to us
    await _until(lambda: all(rig.sim.exchange.trades[t].status == "CONFIRMED" for t in trade_ids))
    tracker = trader.live.settlement
    assert all(tracker.status(t) == Settlement.MATCHED for t in trade_ids)
    await _until(lambda: trader.channel.stats.connects == 2)
    # the catch-up after the reconnect read them from REST
    await _until(lambda: all(tracker.status(t) == Settlement.CONFIRMED for t in trade_ids))
    assert trader.channel.stats.disconnects == 1
    assert trader.ledger.shares(report.orders[0].token_id) == sum(f.size for f in report.fills)


async def test_malformed_frames_are_counted_and_skipped(rig: Rig) -> None:
    trader = await rig.trader(ping_s=0.05)
    stats = trader.channel.stats
    await _until(lambda: stats.pings_sent >= 2 and stats.frames >= 2)
    assert (stats.events, stats.malformed) == (0, 0)  # the PONGs are skipped, not malformed
    market = rig.market().condition_id
    key = rig.creds.api_key
    bad = {"event_type": "trade", "id": "x", "market": market, "asset_id": "1", "side": "BUY"}
    rig.sim.user_channel.publish(key, market, bad)  # fields missing
    rig.sim.user_channel.publish(
        key, market, bad | {"price": "abc", "size": "1", "status": "MATCHED"}
    )
    report = await trader.live.execute(rig.buy(D(5)))
    await _until(lambda: trader.channel.stats.malformed == 2)
    trade_ids = [f.fill_id for f in report.fills]
    tracker = trader.live.settlement
    await _until(lambda: all(tracker.status(t) == Settlement.CONFIRMED for t in trade_ids))
    assert "price" in trader.channel.stats.last_malformed
    assert trader.channel.stats.connects == 1  # never dropped for it


async def test_markets_added_later_are_heard_without_reconnecting(rig: Rig) -> None:
    binaries = [m for m in dict.fromkeys(rig.markets.values()) if not m.neg_risk]
    other = next(m for m in binaries if m.condition_id != rig.market().condition_id)
    trader = await rig.trader()
    trader.channel.markets[:] = [other.condition_id]  # only the other market, from the start
    await rig.sim.user_channel.drop_all()
    await _until(lambda: trader.channel.stats.connects == 2)
    report = await trader.live.execute(rig.buy(D(5)))
    await asyncio.sleep(3 * STEP_S)  # MINED, CONFIRMED: not for us
    assert trader.channel.stats.events == 0
    await trader.channel.subscribe([rig.market().condition_id])
    report2 = await trader.live.execute(rig.buy(D(5)))
    tracker = trader.live.settlement
    trade_ids = [f.fill_id for f in report2.fills]
    await _until(lambda: all(tracker.status(t) == Settlement.CONFIRMED for t in trade_ids))
    assert trader.channel.stats.connects == 2  # heard on the same connection
    assert trader.channel.markets == [other.condition_id, rig.market().condition_id]
    # the first buy's trades were never heard: still MATCHED until a catch-up reads them
    assert all(tracker.status(f.fill_id) == Settlement.MATCHED for f in report.fills)
