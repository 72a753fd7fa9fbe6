"""The simulator charges the venue's taker fee on live trades and the live ledger books exactly
what it charged: per trade, over several prices and sizes, buying and selling; cash then
reconciles exactly, and a fee charged differently from what the ledger booked is a mismatch."""

from __future__ import annotations

from decimal import Decimal

from tests.execution.test_live import Rig, _asks, _buy, rig

from polyarb.domain.book import Side
from polyarb.domain.market import Market, round_fee
from polyarb.domain.trading import Leg, OrderType, Signal
from polyarb.execution.base import ExecutionReport
from polyarb.execution.live.reconcile import reconcile

__all__ = ["rig"]  # the fixture, shared with test_live
D = Decimal


def _sell(market: Market, token: str, size: Decimal, floor: Decimal) -> Signal:
    leg = Leg(token, Side.SELL, size, floor, floor, market.condition_id)
    return Signal("sniper", market.condition_id, 0, D("0.05"), size, (leg,), kind="directional")


async def _trade_around(rig: Rig) -> list[ExecutionReport]:
    """Buys of several sizes walking several levels (several prices), on every market, and a
    sale back of part of each."""
    reports = []
    markets = list(dict.fromkeys(rig.markets.values()))
    for market in markets:
        token = market.outcomes[0].token_id
        for size in (D(5), D("12.5"), D(23)):
            best, _ = _asks(rig, token)[0]
            limit = min(best + D("0.05"), D("0.99"))
            signal = _buy(market, token, size, best, limit)
            reports.append(await rig.live.execute(signal, order_type=OrderType.FAK))
        floor = D("0.01")
        sell = _sell(market, token, D("7.3"), floor)
        reports.append(await rig.live.execute(sell, order_type=OrderType.FAK))
    return reports


async def test_the_ledger_books_the_fee_the_venue_charged_on_every_trade(rig: Rig) -> None:
    start = await reconcile(rig.live)
    assert start.ok, start.problems
    reports = await _trade_around(rig)
    fills = {f.fill_id: f for r in reports for f in r.fills}
    trades = rig.sim.exchange.trades
    assert set(fills) == set(trades)
    assert len({t.price for t in trades.values()}) >= 5  # several prices
    assert {t.side for t in trades.values()} == {Side.BUY, Side.SELL}
    for trade in trades.values():
        fill = fills[trade.id]
        rate = rig.markets[trade.asset_id].fees.rate  # 0 on a fee-free market
        assert trade.fee_rate_bps == int(rate * 10_000)  # what the trade says it charged
        assert fill.fee == trade.fee == round_fee(rate * fill.price * (1 - fill.price) * fill.size)
    exchange, ours = rig.sim.exchange, rig.live.rest.wallet.address
    assert sum(t.fee for t in trades.values()) == rig.ledger.fees_paid > 0
    assert any(not t.fee for t in trades.values())  # a fee-free market's trades too
    # the cash moved alike to the 1e-6 unit: exactly
    assert exchange.starting_balance - exchange.balance(ours) == D(1000) - rig.ledger.cash
    again = await reconcile(rig.live, cash_since=start)
    assert again.ok, again.problems
    assert again.cash == exchange.balance(ours)


async def test_a_fee_charged_otherwise_than_booked_is_a_cash_mismatch(rig: Rig) -> None:
    start = await reconcile(rig.live)
    market = _fee_market(rig)
    token = market.outcomes[0].token_id
    best, _ = _asks(rig, token)[0]
    rig.sim.exchange.overcharge_fees(D(2))  # the trade still says the schedule's rate
    report = await rig.live.execute(_buy(market, token, D(10), best, best + D("0.02")))
    (fill,) = report.fills
    assert fill.fee > 0
    result = await reconcile(rig.live, cash_since=start)
    assert not result.ok
    (problem,) = result.problems
    assert problem.startswith("cash: ")
    extra = rig.sim.exchange.trades[fill.fill_id].fee - fill.fee  # about the fee again
    assert extra >= fill.fee
    assert f"moved -{extra}" in problem


async def test_a_ledger_fee_rate_off_the_schedule_is_a_cash_mismatch(rig: Rig) -> None:
    start = await reconcile(rig.live)
    market = _fee_market(rig)
    token = market.outcomes[0].token_id
    for outcome in market.outcomes:  # the ledger's schedule says half the venue's rate
        known = rig.markets[outcome.token_id]
        halved = type(known.fees)(rate=known.fees.rate / 2)
        rig.markets[outcome.token_id] = type(known)(**{**_fields(known), "fees": halved})
    best, _ = _asks(rig, token)[0]
    await rig.live.execute(_buy(market, token, D(10), best, best + D("0.02")))
    result = await reconcile(rig.live, cash_since=start)
    assert [p[:6] for p in result.problems] == ["cash: "]


def _fee_market(rig: Rig) -> Market:
    return next(m for m in dict.fromkeys(rig.markets.values()) if m.fees.rate > 0)


def _fields(market: Market) -> dict[str, object]:
    return {name: getattr(market, name) for name in market.__dataclass_fields__}
