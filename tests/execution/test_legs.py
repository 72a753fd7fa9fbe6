"""Leg risk: one leg fills, the other does not; every policy acts within the loss cap and the
orphan position is never lost (ledger and report both show it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import NO_FEES, FeeSchedule, Market, Outcome
from polyarb.domain.numbers import parse_price, parse_size
from polyarb.domain.trading import Fill, Leg, Mode, OrderStatus, Signal
from polyarb.execution.base import ExecutionReport, LegPolicy, LegRiskReport
from polyarb.execution.legs import LegPool, completion_cap, unwind_floor
from polyarb.execution.paper import PaperConfig, PaperExecution

D = Decimal
YES, NO, COND = "yes", "no", "cond"
Levels = Iterable[tuple[str, str]]


def make_book(token: str, bids: Levels = (), asks: Levels = ()) -> OrderBook:
    b = OrderBook(token, COND)
    b.apply_snapshot(
        [(parse_price(p), parse_size(s)) for p, s in bids],
        [(parse_price(p), parse_size(s)) for p, s in asks],
        0,
        1,
    )
    return b


def arb_signal(size: str = "100", yes_limit: str = "0.45", no_limit: str = "0.50") -> Signal:
    legs = (
        Leg(YES, Side.BUY, D(size), D(yes_limit), D(yes_limit), COND),
        Leg(NO, Side.BUY, D(size), D(no_limit), D(no_limit), COND),
    )
    return Signal("sumto100", COND, 0, D("0.05"), D(size), legs)


async def run(
    policy: LegPolicy,
    max_loss: str,
    *,
    yes_bids: Levels = (),
    no_asks: Levels = (("0.60", "100"),),
    yes_asks: Levels = (("0.45", "100"),),
    fees: FeeSchedule = NO_FEES,
) -> tuple[PaperExecution, ExecutionReport, list[LegRiskReport]]:
    market = Market(COND, "q", "s", (Outcome("Yes", YES), Outcome("No", NO)), fees=fees)
    books = {YES: make_book(YES, yes_bids, yes_asks), NO: make_book(NO, (), no_asks)}
    alerts: list[LegRiskReport] = []
    ex = PaperExecution(
        books,
        {YES: market, NO: market},
        PaperConfig(latency_ms=0, leg_policy=policy, leg_max_loss=D(max_loss)),
        Ledger(D(1000)),
        on_alert=alerts.append,
    )
    report = await ex.execute(arb_signal())
    return ex, report, alerts


def held(ex: PaperExecution) -> dict[str, Decimal]:
    return {p.token_id: p.shares for p in ex.ledger.positions()}


def orphans(report: LegRiskReport) -> dict[str, Decimal]:
    return {o.token_id: o.shares for o in report.remaining}


async def test_hold_keeps_the_orphan_tracked_and_alerts() -> None:
    ex, report, alerts = await run("hold", "5", yes_bids=[("0.44", "100")])
    leg = report.leg_risk
    assert leg is not None
    assert alerts == [leg]
    assert leg.actions == ("hold",)
    assert [(o.token_id, o.shares, o.avg_cost) for o in leg.detected] == [(YES, D(100), D("0.45"))]
    assert orphans(leg) == {YES: D(100)}
    assert held(ex) == {YES: D(100)}  # in the ledger, never forgotten
    assert len(report.orders) == 2  # nothing else was sent
    assert report.outcome == "partial"
    assert report.merged == 0
    assert leg.loss == 0


async def test_unwind_sells_down_to_the_floor_the_cap_allows() -> None:
    bids = [("0.44", "50"), ("0.43", "30"), ("0.30", "100")]
    ex, report, alerts = await run("unwind", "1", yes_bids=bids)
    leg = report.leg_risk
    assert leg is not None
    assert leg.actions == ("unwind",)
    unwind = report.orders[2]
    assert (unwind.side, unwind.price, unwind.size) == (Side.SELL, D("0.44"), D(100))
    assert [(f.price, f.size) for f in report.fills if f.side == Side.SELL] == [(D("0.44"), D(50))]
    assert leg.loss == D("0.5")
    assert leg.loss <= leg.max_loss
    assert orphans(leg) == {YES: D(50)}
    assert held(ex) == {YES: D(50)}
    assert report.realized_pnl == D("-0.5")
    assert ex.ledger.realized_pnl == D("-0.5")
    assert len(alerts) == 1


async def test_unwind_with_room_sells_every_orphan() -> None:
    bids = [("0.44", "50"), ("0.43", "30"), ("0.30", "100")]
    ex, report, _ = await run("unwind", "20", yes_bids=bids)
    leg = report.leg_risk
    assert leg is not None
    assert leg.resolved
    assert leg.loss == D("0.5") + D("0.6") + D("3.0")
    assert held(ex) == {}
    assert ex.ledger.cash == D(1000) - leg.loss


async def test_complete_buys_the_missing_leg_within_the_cap_then_merges() -> None:
    ex, report, _ = await run("complete", "5")
    leg = report.leg_risk
    assert leg is not None
    assert leg.actions == ("complete",)
    completion = report.orders[2]
    assert (completion.token_id, completion.side, completion.price) == (NO, Side.BUY, D("0.60"))
    assert completion.status == OrderStatus.FILLED
    assert leg.resolved
    assert leg.loss == D(5)  # 0.45 + 0.60 - 1 per set: exactly the cap
    assert report.merged == D(100)
    assert report.realized_pnl == D(-5)
    assert held(ex) == {}


async def test_complete_beyond_the_cap_falls_back_to_unwind() -> None:
    bids = [("0.44", "50"), ("0.43", "30"), ("0.30", "100")]
    ex, report, _ = await run("complete", "2", yes_bids=bids)
    leg = report.leg_risk
    assert leg is not None
    assert leg.actions == ("complete", "unwind")
    completion, unwind = report.orders[2], report.orders[3]
    assert completion.price == D("0.57")  # 100 x p <= 100 + 2 - 45
    assert completion.filled == 0  # the NO ask is at 0.60
    assert unwind.price == D("0.43")
    assert leg.loss == D("1.1")
    assert orphans(leg) == {YES: D(20)}
    assert held(ex) == {YES: D(20)}


async def test_partial_second_leg_merges_the_sets_and_unwinds_the_excess() -> None:
    ex, report, _ = await run(
        "unwind", "5", yes_bids=[("0.44", "100")], no_asks=[("0.50", "60"), ("0.60", "100")]
    )
    leg = report.leg_risk
    assert leg is not None
    assert [(o.token_id, o.shares) for o in leg.detected] == [(YES, D(40))]
    assert leg.loss == D("0.4")
    assert report.merged == D(60)
    assert report.realized_pnl == D(3) - D("0.4")
    assert held(ex) == {}


async def test_neg_risk_completion_locks_the_full_set() -> None:
    markets = [
        Market(
            f"c{i}", "q", "s", (Outcome("Yes", f"c{i}-yes"), Outcome("No", f"c{i}-no")),
            neg_risk=True, event_id="ev",
        )
        for i in range(3)
    ]  # fmt: skip
    books = {
        "c0-yes": make_book("c0-yes", asks=[("0.30", "10")]),
        "c1-yes": make_book("c1-yes", asks=[("0.30", "10")]),
        "c2-yes": make_book("c2-yes", asks=[("0.40", "10")]),
    }
    ex = PaperExecution(
        books,
        {t: m for m in markets for t in m.token_ids},
        PaperConfig(latency_ms=0, leg_policy="complete", leg_max_loss=D(1)),
        Ledger(D(100)),
    )
    limits = ("0.30", "0.30", "0.35")  # the third leg's limit is below its ask
    legs = tuple(
        Leg(f"c{i}-yes", Side.BUY, D(10), D(p), D(p), f"c{i}") for i, p in enumerate(limits)
    )
    report = await ex.execute(Signal("negrisk", "ev", 0, D("0.05"), D(10), legs))
    leg = report.leg_risk
    assert leg is not None
    assert leg.resolved
    assert report.orders[3].price == D("0.50")  # cap: 10 x p <= 10 + 1 - 6
    assert report.locked == D(10)
    assert leg.loss == 0  # 0.30 + 0.30 + 0.40 = 1
    assert [s.cost for s in ex.ledger.locked_sets()] == [D(10)]


async def test_a_failing_alert_callback_never_breaks_execution() -> None:
    market = Market(COND, "q", "s", (Outcome("Yes", YES), Outcome("No", NO)))

    def explode(_: LegRiskReport) -> None:
        raise RuntimeError("slack down")

    ex = PaperExecution(
        {YES: make_book(YES, asks=[("0.45", "100")]), NO: make_book(NO)},
        {YES: market, NO: market},
        PaperConfig(latency_ms=0, leg_policy="hold"),
        Ledger(D(1000)),
        on_alert=explode,
    )
    report = await ex.execute(arb_signal())
    assert report.leg_risk is not None
    assert held(ex) == {YES: D(100)}


# ------------------------------------------------------------------------------ properties
level = st.tuples(st.integers(1, 99), st.integers(1, 20_000))  # cents, 1e-2 shares
bid_level = st.tuples(st.integers(1, 44), st.integers(1, 20_000))  # below the 0.45 ask


@settings(max_examples=60, deadline=None)
@given(
    yes_bids=st.lists(bid_level, max_size=5),
    no_asks=st.lists(level, max_size=4),
    policy=st.sampled_from(["unwind", "complete", "hold"]),
    max_loss=st.integers(0, 1500),  # cents
    rate=st.sampled_from(["0", "0.02", "0.07"]),
)
def test_property_loss_cap_holds_and_orphans_are_always_in_the_ledger(
    yes_bids: list[tuple[int, int]],
    no_asks: list[tuple[int, int]],
    policy: LegPolicy,
    max_loss: int,
    rate: str,
) -> None:
    def levels(raw: list[tuple[int, int]]) -> list[tuple[str, str]]:
        merged: dict[int, int] = {}
        for cents, size in raw:
            merged[cents] = merged.get(cents, 0) + size
        return [(str(D(c) / 100), str(D(s) / 100)) for c, s in merged.items()]

    ex, report, alerts = asyncio.run(
        run(
            policy,
            str(D(max_loss) / 100),
            yes_bids=levels(yes_bids),
            no_asks=levels(no_asks),
            fees=FeeSchedule(D(rate)),
        )
    )
    leg = report.leg_risk
    if leg is None:  # both legs filled alike (entirely: the YES ask covers the size)
        assert report.outcome == "filled"
        assert report.merged == D(100)
        assert alerts == []
    else:
        assert leg.loss <= leg.max_loss
        assert alerts == [leg]
        # what remains unhedged is exactly what the ledger holds (the sets were merged)
        assert held(ex) == orphans(leg)
    assert ex.ledger.realized_pnl == report.realized_pnl
    assert (
        ex.ledger.cash + sum((p.cost for p in ex.ledger.positions()), D(0))
        == D(1000) + ex.ledger.realized_pnl
    )


@settings(max_examples=200, deadline=None)
@given(
    shares=st.integers(1, 100_000),
    avg=st.integers(1, 99),
    budget=st.integers(0, 5_000),
    rate=st.sampled_from(["0", "0.03", "0.07"]),
    tick=st.sampled_from(["0.01", "0.001"]),
)
def test_property_floor_and_cap_are_the_tightest_prices_within_budget(
    shares: int, avg: int, budget: int, rate: str, tick: str
) -> None:
    fees, t = FeeSchedule(D(rate)), D(tick)
    qty, cost, money = D(shares) / 100, D(avg) / 100, D(budget) / 100
    reserve = D("0.001") if fees.rate else D(0)

    def sell_loss(p: Decimal) -> Decimal:  # worst loss selling qty at prices >= p
        worst = max(fees.taker_fee_per_share(q) for q in (p, max(p, D("0.5")), D(1) - t))
        return qty * (cost - p + worst)

    floor = unwind_floor(qty, cost, money, fees, t)
    if floor is None:
        assert sell_loss(D(1) - t) > money - reserve
    else:
        assert floor % t == 0
        assert sell_loss(floor) <= money - reserve
        assert floor == t or sell_loss(floor - t) > money - reserve

    def buy_cost(p: Decimal) -> Decimal:  # worst cost buying qty at prices <= p
        worst = max(fees.taker_fee_per_share(q) for q in (t, min(p, D("0.5")), p))
        return qty * (p + worst)

    cap = completion_cap(qty, money, fees, t)
    if cap is None:
        assert buy_cost(t) > money - reserve
    else:
        assert cap % t == 0
        assert buy_cost(cap) <= money - reserve
        assert cap == D(1) - t or buy_cost(cap + t) > money - reserve


def test_leg_pool_values_orphans_at_cost() -> None:
    def f(i: int, token: str, side: Side, price: str, size: str, fee: str = "0") -> Fill:
        return Fill(f"f{i}", "o", token, COND, side, D(price), D(size), D(fee), i, "s", Mode.PAPER)

    pool = LegPool.of(
        [(YES, COND), (NO, COND)],
        [f(1, YES, Side.BUY, "0.45", "100", "0.5"), f(2, NO, Side.BUY, "0.50", "60")],
    )
    assert pool.sets() == D(60)
    assert [(o.token_id, o.shares, o.avg_cost) for o in pool.orphans()] == [
        (YES, D(40), D("0.455"))
    ]
    assert pool.pnl() == D(60) - D("27.3") - D(30)
    pool.add(f(3, YES, Side.SELL, "0.40", "40"))
    assert pool.orphans() == ()
    assert pool.realized == D(16) - D("18.2")


@pytest.mark.parametrize("policy", ["unwind", "complete", "hold"])
async def test_no_leg_risk_when_both_legs_fill(policy: LegPolicy) -> None:
    ex, report, alerts = await run(policy, "5", no_asks=[("0.50", "100")])
    assert report.leg_risk is None
    assert alerts == []
    assert report.merged == D(100)
    assert held(ex) == {}
