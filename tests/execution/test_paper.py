"""Paper execution against hand-built books: order types, latency, consumption, fees, rules."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import pytest

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.clock import ReplayClock
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import NO_FEES, FeeSchedule, Market, Outcome
from polyarb.domain.numbers import parse_price, parse_size
from polyarb.domain.trading import Fill, Leg, Mode, OrderStatus, OrderType, Signal
from polyarb.execution.base import (
    FAK_NO_MATCH,
    FOK_KILLED,
    NOT_ENOUGH_BALANCE,
    ExecutionClient,
    new_client_order_id,
    venue_taker_fee,
)
from polyarb.execution.journal import read_journal
from polyarb.execution.paper import PaperConfig, PaperExecution

D = Decimal
YES, NO = "tok-yes", "tok-no"
COND = "0xcond"


def market(fees: FeeSchedule = NO_FEES, tick: str = "0.01") -> Market:
    return Market(
        condition_id=COND,
        question="Will it?",
        slug="will-it",
        outcomes=(Outcome("Yes", YES), Outcome("No", NO)),
        tick_size=D(tick),
        fees=fees,
    )


def book(
    token: str,
    bids: Iterable[tuple[str, str]] = (),
    asks: Iterable[tuple[str, str]] = (),
    tick: str = "0.01",
) -> OrderBook:
    b = OrderBook(token, COND, tick=parse_price(tick))
    b.apply_snapshot(
        [(parse_price(p), parse_size(s)) for p, s in bids],
        [(parse_price(p), parse_size(s)) for p, s in asks],
        0,
        1,
    )
    return b


def set_level(b: OrderBook, side: Side, price: str, size: str) -> None:
    """A wire level update: side BUY = bid level, SELL = ask level."""
    b.apply_level(side, parse_price(price), parse_size(size), 0, 2)


def one_leg(
    side: Side, size: str, limit: str, token: str = YES, strategy: str = "sniper"
) -> Signal:
    leg = Leg(token, side, D(size), D(limit), D(limit), COND)
    return Signal(strategy, COND, 0, D(0), D(size), (leg,), kind="directional")


def arb(size: str, yes_limit: str, no_limit: str) -> Signal:
    legs = (
        Leg(YES, Side.BUY, D(size), D(yes_limit), D(yes_limit), COND),
        Leg(NO, Side.BUY, D(size), D(no_limit), D(no_limit), COND),
    )
    return Signal("sumto100", COND, 0, D("0.05"), D(size), legs)


def paper(
    books: dict[str, OrderBook],
    *,
    fees: FeeSchedule = NO_FEES,
    balance: str = "1000",
    latency_ms: int = 0,
    clock: ReplayClock | None = None,
    journal: Path | None = None,
    updates: list[tuple[OrderStatus, list[Fill]]] | None = None,
) -> PaperExecution:
    m = market(fees)
    return PaperExecution(
        books,
        {YES: m, NO: m},
        PaperConfig(latency_ms=latency_ms),
        Ledger(D(balance)),
        journal,
        clock,
        on_order_update=(lambda o, f: updates.append((o.status, f)))
        if updates is not None
        else None,
    )


async def wait_sleepers(clock: ReplayClock, n: int) -> None:
    for _ in range(200):
        if clock.pending >= n:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"expected {n} sleepers, have {clock.pending}")


async def test_fak_walks_depth_up_to_the_limit_and_cancels_the_rest() -> None:
    books = {YES: book(YES, asks=[("0.45", "50"), ("0.46", "30"), ("0.48", "100")])}
    ex = paper(books)
    report = await ex.execute(one_leg(Side.BUY, "100", "0.47"), order_type=OrderType.FAK)
    [order] = report.orders
    assert [(f.price, f.size) for f in report.fills] == [(D("0.45"), D(50)), (D("0.46"), D(30))]
    assert order.filled == D(80)
    assert order.status == OrderStatus.CANCELED
    assert "remainder" in order.reason
    assert [s for s, _ in order.history] == [
        OrderStatus.INTENT,
        OrderStatus.SUBMITTING,
        OrderStatus.ACKED,
        OrderStatus.PARTIAL,
        OrderStatus.CANCELED,
    ]
    assert report.outcome == "partial"
    assert ex.ledger.shares(YES) == D(80)
    assert ex.ledger.cash == D(1000) - D("22.5") - D("13.8")
    assert all(f.mode == Mode.PAPER and f.strategy == "sniper" for f in report.fills)


async def test_fak_without_liquidity_in_limit_is_canceled_with_the_venue_wording() -> None:
    ex = paper({YES: book(YES, asks=[("0.55", "50")])})
    report = await ex.execute(one_leg(Side.BUY, "10", "0.50"))
    assert report.outcome == "missed"
    assert report.orders[0].status == OrderStatus.CANCELED
    assert report.orders[0].reason == FAK_NO_MATCH
    assert ex.ledger.cash == D(1000)


async def test_fok_fills_fully_or_not_at_all() -> None:
    books = {YES: book(YES, asks=[("0.45", "50"), ("0.46", "30"), ("0.48", "100")])}
    ex = paper(books)
    killed = await ex.execute(one_leg(Side.BUY, "100", "0.47"), order_type=OrderType.FOK)
    assert killed.orders[0].status == OrderStatus.CANCELED
    assert killed.orders[0].reason == FOK_KILLED
    assert killed.fills == []
    assert killed.outcome == "missed"
    assert ex.ledger.shares(YES) == 0
    assert len(ex.overlay) == 0  # a killed FOK consumes nothing
    done = await ex.execute(one_leg(Side.BUY, "80", "0.47"), order_type=OrderType.FOK)
    assert done.orders[0].status == OrderStatus.FILLED
    assert done.outcome == "filled"
    assert sum(f.size for f in done.fills) == D(80)


async def test_sell_takes_the_bids_from_the_best_down_to_the_limit() -> None:
    bids = [("0.40", "5"), ("0.42", "5"), ("0.38", "50")]
    ex = paper({YES: book(YES, bids=bids, asks=[("0.43", "20")])})
    await ex.execute(one_leg(Side.BUY, "20", "0.43"))
    report = await ex.execute(one_leg(Side.SELL, "20", "0.39"))
    assert [(f.price, f.size) for f in report.fills] == [(D("0.42"), D(5)), (D("0.40"), D(5))]
    assert report.orders[0].status == OrderStatus.CANCELED
    assert ex.ledger.shares(YES) == D(10)
    assert ex.ledger.realized_pnl == D("4.1") - D("4.3")


async def test_gtc_rests_then_fills_as_maker_when_the_book_crosses() -> None:
    updates: list[tuple[OrderStatus, list[Fill]]] = []
    b = book(YES, bids=[("0.35", "100")], asks=[("0.45", "100")])
    ex = paper({YES: b}, fees=FeeSchedule(D("0.07")), updates=updates)
    report = await ex.execute(one_leg(Side.BUY, "10", "0.40"), order_type=OrderType.GTC)
    [order] = report.orders
    assert report.outcome == "resting"
    assert order.status == OrderStatus.OPEN
    assert ex.resting_orders() == [order]
    set_level(b, Side.BUY, "0.36", "10")  # unrelated change: nothing crosses
    ex.on_book(YES)
    assert order.filled == 0
    set_level(b, Side.SELL, "0.39", "6")  # a seller arrives below our bid
    ex.on_book(YES)
    assert order.status == OrderStatus.PARTIAL
    assert order.filled == D(6)
    set_level(b, Side.SELL, "0.39", "0")
    set_level(b, Side.SELL, "0.40", "25")
    ex.on_book(YES)
    assert order.status == OrderStatus.FILLED
    assert ex.resting_orders() == []
    assert [
        (status, [(f.price, f.size, f.fee, f.liquidity) for f in fills])
        for status, fills in updates
    ] == [
        (OrderStatus.PARTIAL, [(D("0.40"), D(6), D(0), "maker")]),
        (OrderStatus.FILLED, [(D("0.40"), D(4), D(0), "maker")]),
    ]
    assert ex.ledger.cost_basis(YES) == D("4.00")  # makers pay no fee, at their own price
    # the level we filled against is consumed until the wire changes it
    again = await ex.execute(one_leg(Side.BUY, "30", "0.40"), order_type=OrderType.FAK)
    assert sum(f.size for f in again.fills) == D(21)


async def test_gtc_can_be_canceled_and_releases_its_cash() -> None:
    b = book(YES, asks=[("0.60", "100")])
    ex = paper({YES: b}, balance="10")
    report = await ex.execute(one_leg(Side.BUY, "20", "0.40"), order_type=OrderType.GTC)
    assert report.orders[0].status == OrderStatus.OPEN
    blocked = await ex.execute(one_leg(Side.BUY, "6", "0.40"), order_type=OrderType.GTC)
    assert blocked.orders[0].reason == NOT_ENOUGH_BALANCE  # $8 of $10 is reserved
    canceled = await ex.cancel_all()
    assert canceled == report.orders
    assert canceled[0].status == OrderStatus.CANCELED
    set_level(b, Side.SELL, "0.30", "100")
    ex.on_book(YES)  # a canceled order never fills
    assert ex.ledger.shares(YES) == 0
    ok = await ex.execute(one_leg(Side.BUY, "20", "0.40"), order_type=OrderType.GTC)
    assert ok.orders[0].status == OrderStatus.FILLED


async def test_fill_is_priced_from_the_book_after_the_latency() -> None:
    clock = ReplayClock(1_000)
    b = book(YES, asks=[("0.45", "100")])
    ex = paper({YES: b}, latency_ms=200, clock=clock)
    task = asyncio.create_task(ex.execute(one_leg(Side.BUY, "100", "0.50")))
    await wait_sleepers(clock, 1)
    assert ex.ledger.shares(YES) == 0  # nothing filled during the latency
    # the book moves while our order is in flight
    set_level(b, Side.SELL, "0.45", "0")
    set_level(b, Side.SELL, "0.49", "70")
    clock.advance(1_000 + 199_000_000)
    await asyncio.sleep(0)
    assert not task.done()  # still in flight 1 ms before the latency is over
    clock.advance(1_000 + 200_000_000)
    report = await task
    assert [(f.price, f.size) for f in report.fills] == [(D("0.49"), D(70))]
    assert report.fills[0].ts_ns >= 1_000 + 200_000_000
    submitted = dict(report.orders[0].history)
    assert submitted[OrderStatus.ACKED] >= submitted[OrderStatus.INTENT] + 200_000_000


async def test_arbitrage_legs_are_sent_concurrently() -> None:
    clock = ReplayClock(0)
    books = {YES: book(YES, asks=[("0.45", "100")]), NO: book(NO, asks=[("0.50", "100")])}
    ex = paper(books, latency_ms=300, clock=clock)
    task = asyncio.create_task(ex.execute(arb("100", "0.45", "0.50")))
    await wait_sleepers(clock, 2)  # both legs are in flight at the same time
    clock.advance(300_000_000)  # one latency is enough for both
    report = await task
    assert report.outcome == "filled"
    assert [o.status for o in report.orders] == [OrderStatus.FILLED, OrderStatus.FILLED]
    acks = [dict(o.history)[OrderStatus.ACKED] for o in report.orders]
    assert max(acks) - min(acks) < 300_000_000


async def test_two_executions_never_fill_the_same_shares() -> None:
    books = {YES: book(YES, asks=[("0.45", "100"), ("0.47", "100")])}
    ex = paper(books)
    first = await ex.execute(one_leg(Side.BUY, "60", "0.45"))
    second = await ex.execute(one_leg(Side.BUY, "60", "0.45"))
    assert sum(f.size for f in first.fills) == D(60)
    assert sum(f.size for f in second.fills) == D(40)  # only what the first left
    third = await ex.execute(one_leg(Side.BUY, "60", "0.45"))
    assert third.fills == []
    assert ex.overlay.taken(YES, False, parse_price("0.45")) == parse_size("100")
    # concurrent executions share the overlay too
    both = await asyncio.gather(
        ex.execute(one_leg(Side.BUY, "70", "0.47")), ex.execute(one_leg(Side.BUY, "70", "0.47"))
    )
    assert sum(f.size for r in both for f in r.fills) == D(100)
    assert ex.ledger.shares(YES) == D(200)


async def test_taken_liquidity_never_comes_back_until_the_level_leaves_the_book() -> None:
    """The venue never saw a paper trade: no later size of the level accounts for it. What we
    took is subtracted from whatever the wire shows until the level is gone."""
    b = book(YES, asks=[("0.45", "100")])
    ex = paper({YES: b})
    await ex.execute(one_leg(Side.BUY, "100", "0.45"))
    assert (await ex.execute(one_leg(Side.BUY, "10", "0.45"))).fills == []
    set_level(b, Side.SELL, "0.45", "80")  # someone else took 20: our 100 are still gone
    ex.on_book(YES)
    assert len(ex.overlay) == 1
    assert (await ex.execute(one_leg(Side.BUY, "10", "0.45"))).fills == []
    set_level(b, Side.SELL, "0.45", "130")  # a maker added 50: only those are there for us
    ex.on_book(YES)
    report = await ex.execute(one_leg(Side.BUY, "100", "0.45"))
    assert sum(f.size for f in report.fills) == D(30)
    set_level(b, Side.SELL, "0.45", "0")  # the level is gone: the entry goes with it
    ex.on_book(YES)
    assert len(ex.overlay) == 0
    set_level(b, Side.SELL, "0.45", "7")  # new orders at that price are new liquidity
    ex.on_book(YES)
    report = await ex.execute(one_leg(Side.BUY, "10", "0.45"))
    assert sum(f.size for f in report.fills) == D(7)


async def test_a_binary_markets_two_views_are_one_book_for_the_overlay() -> None:
    """Buying NO at 0.55 takes the YES bid at 0.45 (the same resting order, seen from the other
    side): a later YES sell cannot hit those shares again."""
    books = {
        YES: book(YES, bids=[("0.45", "100")], asks=[("0.46", "100")]),
        NO: book(NO, bids=[("0.54", "100")], asks=[("0.55", "100")]),
    }
    ex = paper(books)
    bought_no = await ex.execute(one_leg(Side.BUY, "100", "0.55", token=NO))
    assert sum(f.size for f in bought_no.fills) == D(100)
    bought_yes = await ex.execute(one_leg(Side.BUY, "50", "0.46"))
    assert sum(f.size for f in bought_yes.fills) == D(50)
    # The YES bid at 0.45 is the NO ask at 0.55 we took: nothing is left to sell into.
    sold = await ex.execute(one_leg(Side.SELL, "50", "0.45"))
    assert sold.fills == []
    # ... and the NO bid at 0.54 is the YES ask at 0.46: half of it is left.
    assert ex.overlay.available(NO, True, parse_price("0.54"), parse_size("100")) == parse_size(
        "50"
    )


async def test_latency_is_drawn_from_a_seeded_distribution() -> None:
    """Lognormal around the median, reproducible for a seed, never one constant."""
    m = market()

    def delays(seed: int) -> list[float]:
        ex = PaperExecution(
            {},
            {YES: m, NO: m},
            PaperConfig(latency_ms=200, latency_sigma=0.5, latency_seed=seed),
            Ledger(D(1000)),
        )
        order = ex._new_order(  # a marketable FAK
            Leg(YES, Side.BUY, D(10), D("0.5"), D("0.5"), COND),
            one_leg(Side.BUY, "10", "0.5"),
            "s",
            OrderType.FAK,
            0,
        )
        return [ex._delay_s(order) for _ in range(400)]

    first = delays(1)
    assert first == delays(1)
    assert first != delays(2)
    ordered = sorted(first)
    assert 0.17 < ordered[200] < 0.23  # the median
    assert ordered[0] < 0.1 < 0.4 < ordered[-1]  # a spread, not a constant
    with pytest.raises(ValueError, match="latency_sigma"):
        PaperConfig(latency_sigma=-1.0)


async def test_a_market_taker_delay_holds_marketable_orders() -> None:
    """Sports markets in play delay marketable orders (``secondsDelay``): the order is matched
    against the book as it is after latency + delay."""
    clock = ReplayClock(0)
    sports = Market(
        condition_id=COND,
        question="Who wins?",
        slug="game",
        outcomes=(Outcome("A", YES), Outcome("B", NO)),
        raw={"secondsDelay": 3},
    )
    assert sports.taker_delay_s == D(3)
    b = book(YES, asks=[("0.45", "100"), ("0.60", "100")])
    ex = PaperExecution(
        {YES: b}, {YES: sports, NO: sports}, PaperConfig(latency_ms=100), Ledger(D(1000)), None,
        clock,
    )  # fmt: skip
    task = asyncio.ensure_future(ex.execute(one_leg(Side.BUY, "100", "0.60")))
    await wait_sleepers(clock, 1)
    assert clock.next_deadline_ns() == 3_100_000_000  # 100 ms + 3 s
    clock.advance(1_000_000_000)
    set_level(b, Side.SELL, "0.45", "0")  # the cheap level goes while we wait
    clock.advance(3_100_000_000)
    report = await task
    assert [(f.price, f.size) for f in report.fills] == [(D("0.60"), D(100))]


async def test_taker_fees_are_exact_per_level() -> None:
    fees = FeeSchedule(D("0.07"))
    books = {YES: book(YES, asks=[("0.50", "100"), ("0.51", "3.33")])}
    ex = paper(books, fees=fees)
    report = await ex.execute(one_leg(Side.BUY, "103.33", "0.51"))
    assert [f.fee for f in report.fills] == [D("1.75"), D("0.05825")]  # 0.05825169 -> 0.05825
    assert report.fees == D("1.80825")
    assert ex.ledger.fees_paid == D("1.80825")
    assert ex.ledger.cost_basis(YES) == D("50") + D("1.6983") + D("1.80825")
    assert report.orders[0].fees == D("1.80825")


def test_venue_fee_rounding() -> None:
    fees = FeeSchedule(D("0.07"))
    assert venue_taker_fee(fees, D("0.50"), D(100)) == D("1.75")
    # The venue rounds each fill's fee down to 5 decimals (docs.polymarket.com trading/fees).
    assert venue_taker_fee(fees, D("0.01"), D(3)) == D("0.00207")  # 0.0020790 rounds down
    assert venue_taker_fee(fees, D("0.001"), D("0.01")) == 0  # 0.0000007: below 1e-5, not charged
    assert venue_taker_fee(fees, D("0.5"), D("0.0571")) == D("0.00099")  # 0.00099925
    assert venue_taker_fee(NO_FEES, D("0.5"), D(100)) == 0
    assert venue_taker_fee(FeeSchedule(D("0.25"), exponent=2), D("0.5"), D(100)) == D("1.5625")


@pytest.mark.parametrize(
    ("side", "size", "limit", "order_type", "message"),
    [
        (Side.BUY, "1", "0.50", OrderType.FAK, "invalid amount for a marketable BUY order ($0.5)"),
        (Side.BUY, "4", "0.30", OrderType.GTC, "Size (4) lower than the minimum: 5"),
        (Side.BUY, "10", "0.455", OrderType.FAK, "breaks minimum tick size rule: 0.01"),
        (Side.BUY, "10", "1.00", OrderType.FAK, "breaks minimum tick size rule: 0.01"),
        (Side.BUY, "10.123", "0.50", OrderType.FAK, "supports a max accuracy of 2 decimals"),
        (Side.BUY, "NaN", "0.50", OrderType.FAK, "Size (NaN)"),
        (Side.BUY, "10", "Infinity", OrderType.FAK, "Price (Infinity) breaks"),
        (Side.BUY, "3000", "0.50", OrderType.FAK, NOT_ENOUGH_BALANCE),
        (Side.SELL, "10", "0.40", OrderType.FAK, NOT_ENOUGH_BALANCE),
    ],
)
async def test_venue_rules_reject_with_the_venue_wording(
    side: Side, size: str, limit: str, order_type: OrderType, message: str
) -> None:
    ex = paper({YES: book(YES, bids=[("0.40", "500")], asks=[("0.45", "500")])})
    report = await ex.execute(one_leg(side, size, limit), order_type=order_type)
    [order] = report.orders
    assert report.outcome == "rejected"
    assert order.status == OrderStatus.REJECTED
    assert message in order.reason
    assert message in report.reason
    assert report.fills == []
    assert ex.ledger.cash == D(1000)


async def test_a_marketable_gtc_buy_needs_one_dollar_but_a_resting_one_does_not() -> None:
    ex = paper({YES: book(YES, asks=[("0.10", "500")])})
    crossing = await ex.execute(one_leg(Side.BUY, "5", "0.10"), order_type=OrderType.GTC)
    assert "min size: $1" in crossing.orders[0].reason
    resting = await ex.execute(one_leg(Side.BUY, "5", "0.09"), order_type=OrderType.GTC)
    assert resting.orders[0].status == OrderStatus.OPEN


async def test_one_invalid_leg_sends_nothing() -> None:
    books = {YES: book(YES, asks=[("0.45", "100")]), NO: book(NO, asks=[("0.50", "100")])}
    ex = paper(books)
    report = await ex.execute(arb("100", "0.45", "0.505"))
    assert report.outcome == "rejected"
    assert [o.status for o in report.orders] == [OrderStatus.FAILED, OrderStatus.REJECTED]
    assert report.fills == []
    assert len(ex.overlay) == 0


async def test_stale_or_missing_books_never_fill() -> None:
    b = book(YES, asks=[("0.45", "100")])
    b.invalidate()
    ex = paper({YES: b})
    report = await ex.execute(one_leg(Side.BUY, "10", "0.50"))
    assert report.outcome == "missed"
    assert "stale" in report.orders[0].reason
    report = await ex.execute(one_leg(Side.BUY, "10", "0.50", token=NO))
    assert "no book" in report.orders[0].reason


async def test_cancelling_the_execution_fails_the_in_flight_orders() -> None:
    updates: list[tuple[OrderStatus, list[Fill]]] = []
    ex = paper({YES: book(YES, asks=[("0.45", "100")])}, latency_ms=60_000, updates=updates)
    task = asyncio.create_task(ex.execute(one_leg(Side.BUY, "10", "0.50")))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ex.ledger.shares(YES) == 0
    # the cash hold of the cancelled order was released: the whole balance is free again
    ex.config = PaperConfig(latency_ms=0)
    full = await ex.execute(one_leg(Side.BUY, "2500", "0.40"), order_type=OrderType.GTC)
    assert full.orders[0].status == OrderStatus.OPEN


async def test_journal_holds_every_fill_and_replays_to_the_same_ledger(tmp_path: Path) -> None:
    books = {YES: book(YES, asks=[("0.45", "100")]), NO: book(NO, asks=[("0.50", "100")])}
    path = tmp_path / "journal" / "paper.jsonl"
    ex = paper(books, journal=path)
    report = await ex.execute(arb("100", "0.45", "0.50"))
    ex.close()
    contents = read_journal(path)
    assert contents.fills == report.fills
    assert contents.merges == report.merges
    assert len(report.merges) == 1
    replayed = Ledger.replay(contents.events, D(1000))
    assert replayed.snapshot() == ex.ledger.snapshot()


def test_client_order_ids_never_collide() -> None:
    ids = {new_client_order_id(Mode.PAPER) for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(i.startswith("paper-") for i in ids)


async def test_fill_ids_are_unique_across_executions() -> None:
    ex = paper({YES: book(YES, asks=[("0.45", "10"), ("0.46", "12"), ("0.47", "10")])})
    reports = [await ex.execute(one_leg(Side.BUY, "5", "0.47")) for _ in range(6)]
    ids = [f.fill_id for r in reports for f in r.fills]
    assert len(ids) == len(set(ids)) == 7  # 6 orders, one of them across two levels


def test_paper_config_from_settings_and_validation() -> None:
    class Settings:
        paper_latency_ms = 800
        leg_policy = "complete"
        leg_max_loss = D("2.5")

    config = PaperConfig.from_settings(Settings())
    assert (config.latency_ms, config.leg_policy, config.leg_max_loss) == (
        800,
        "complete",
        D("2.5"),
    )
    Settings.leg_policy = "yolo"
    with pytest.raises(ValueError, match="LEG_POLICY"):
        PaperConfig.from_settings(Settings())
    with pytest.raises(ValueError, match="latency"):
        PaperConfig(latency_ms=-1)


def test_paper_execution_is_an_execution_client() -> None:
    client: ExecutionClient = paper({})
    assert client.mode == Mode.PAPER
