"""Complete sets in paper mode: binary merges, negRisk locked sets, resolutions."""

from __future__ import annotations

from decimal import Decimal

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import NO_FEES, FeeSchedule, Market, Outcome
from polyarb.domain.numbers import parse_price, parse_size
from polyarb.domain.trading import Leg, Signal
from polyarb.execution.merge import complete_set_kind
from polyarb.execution.paper import PaperConfig, PaperExecution

D = Decimal


def binary(cond: str, fees: FeeSchedule = NO_FEES) -> Market:
    return Market(
        condition_id=cond,
        question=cond,
        slug=cond,
        outcomes=(Outcome("Yes", f"{cond}-yes"), Outcome("No", f"{cond}-no")),
        fees=fees,
    )


def outcome_market(i: int) -> Market:
    cond = f"cond-{i}"
    return Market(
        condition_id=cond,
        question=f"Will candidate {i} win?",
        slug=cond,
        outcomes=(Outcome("Yes", f"{cond}-yes"), Outcome("No", f"{cond}-no")),
        neg_risk=True,
        event_id="event-1",
        group_item_title=f"Candidate {i}",
    )


def asks(token: str, *levels: tuple[str, str]) -> OrderBook:
    b = OrderBook(token)
    b.apply_snapshot([], [(parse_price(p), parse_size(s)) for p, s in levels], 0, 1)
    return b


def by_token(*markets: Market) -> dict[str, Market]:
    return {t: m for m in markets for t in m.token_ids}


def buy_all(strategy: str, market: str, size: str, *legs: tuple[str, str, str]) -> Signal:
    return Signal(
        strategy,
        market,
        0,
        D(0),
        D(size),
        tuple(Leg(t, Side.BUY, D(size), D(p), D(p), c) for t, p, c in legs),
    )


async def test_binary_merge_realizes_the_exact_edge() -> None:
    m = binary("c1")
    books = {"c1-yes": asks("c1-yes", ("0.45", "100")), "c1-no": asks("c1-no", ("0.50", "100"))}
    ex = PaperExecution(books, by_token(m), PaperConfig(latency_ms=0), Ledger(D(1000)))
    signal = buy_all("sumto100", "c1", "100", ("c1-yes", "0.45", "c1"), ("c1-no", "0.50", "c1"))
    report = await ex.execute(signal)
    assert report.outcome == "filled"
    assert report.merged == D(100)
    assert report.locked == 0
    assert report.realized_pnl == D("5.00")
    assert ex.ledger.realized_pnl == D("5.00")
    assert ex.ledger.cash == D("1005.00")
    assert ex.ledger.positions() == []
    [merge] = report.merges
    assert (merge.market, merge.qty, merge.locked) == ("c1", D(100), False)


async def test_binary_merge_with_fees_realizes_edge_minus_fees() -> None:
    m = binary("c1", FeeSchedule(D("0.02")))
    books = {"c1-yes": asks("c1-yes", ("0.45", "100")), "c1-no": asks("c1-no", ("0.50", "100"))}
    ex = PaperExecution(books, by_token(m), PaperConfig(latency_ms=0), Ledger(D(1000)))
    signal = buy_all("sumto100", "c1", "100", ("c1-yes", "0.45", "c1"), ("c1-no", "0.50", "c1"))
    report = await ex.execute(signal)
    # 100 x 0.02 x 0.45 x 0.55 = 0.495 ; 100 x 0.02 x 0.5 x 0.5 = 0.5
    assert report.fees == D("0.995")
    assert report.realized_pnl == D("5") - D("0.995")
    assert ex.ledger.cash == D(1000) + report.realized_pnl


async def test_neg_risk_set_is_locked_then_redeemed_on_resolution() -> None:
    markets = [outcome_market(i) for i in range(3)]
    prices = ("0.30", "0.30", "0.35")
    books = {
        f"cond-{i}-yes": asks(f"cond-{i}-yes", (p, "10"), ("0.90", "100"))
        for i, p in enumerate(prices)
    }
    ex = PaperExecution(books, by_token(*markets), PaperConfig(latency_ms=0), Ledger(D(100)))
    legs = [(f"cond-{i}-yes", p, f"cond-{i}") for i, p in enumerate(prices)]
    report = await ex.execute(buy_all("negrisk", "event-1", "10", *legs))
    assert report.outcome == "filled"
    assert report.locked == D(10)
    assert report.merged == 0
    assert report.realized_pnl == 0  # nothing is realized until the event resolves
    [lock] = ex.ledger.locked_sets()
    assert (lock.market, lock.qty, lock.cost) == ("event-1", D(10), D("9.50"))
    assert ex.ledger.positions() == []
    assert ex.ledger.cash == D("90.50")
    # a losing outcome resolves first: the set is still whole
    assert ex.on_resolved("cond-0", "cond-0-no") == 0
    assert len(ex.ledger.locked_sets()) == 1
    # the winner resolves: $1 per set
    assert ex.on_resolved("cond-2", "cond-2-yes") == D("0.50")
    assert ex.ledger.locked_sets() == []
    assert ex.ledger.cash == D("100.50")
    assert ex.ledger.pnl_by_strategy() == {"negrisk": D("0.50")}
    assert ex.on_resolved("cond-2", "cond-2-yes") == 0  # a repeated message pays once


async def test_resolution_pays_a_directional_position() -> None:
    m = binary("c1")
    books = {"c1-yes": asks("c1-yes", ("0.40", "100"))}
    ex = PaperExecution(books, by_token(m), PaperConfig(latency_ms=0), Ledger(D(100)))
    leg = Leg("c1-yes", Side.BUY, D(10), D("0.40"), D("0.40"), "c1")
    await ex.execute(Signal("sniper", "c1", 0, D(0), D(10), (leg,), kind="directional"))
    assert ex.ledger.shares("c1-yes") == D(10)
    assert ex.on_resolved("c1", "c1-yes") == D(6)
    assert ex.ledger.cash == D(106)


def test_complete_set_detection() -> None:
    m = binary("c1")
    neg = [outcome_market(i) for i in range(3)]
    lookup = by_token(m, *neg)
    assert complete_set_kind(["c1-yes", "c1-no"], lookup.get) == ("binary", "c1")
    yes_tokens = [f"cond-{i}-yes" for i in range(3)]
    assert complete_set_kind(yes_tokens, lookup.get) == ("neg_risk", "event-1")
    assert complete_set_kind([*yes_tokens[:2], "cond-2-no"], lookup.get) is None
    assert complete_set_kind(["c1-yes", "cond-0-yes"], lookup.get) is None
    assert complete_set_kind(["c1-yes", "c1-yes"], lookup.get) is None
    assert complete_set_kind(["c1-yes", "unknown"], lookup.get) is None
