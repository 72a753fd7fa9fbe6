"""Complete sets in paper mode: binary merges, negRisk locked sets, resolutions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import NO_FEES, FeeSchedule, Market, Outcome
from polyarb.domain.numbers import parse_price, parse_size
from polyarb.domain.trading import Leg, Signal
from polyarb.execution.journal import read_journal
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


# --- negRisk conversions and 50/50 resolutions (issue 8, items 4-5) -------------------------


def convert_signal(size: str, prices: tuple[str, ...]) -> Signal:
    legs = tuple(
        Leg(f"cond-{i}-no", Side.BUY, D(size), D(p), D(p), f"cond-{i}")
        for i, p in enumerate(prices)
    )
    return Signal("neg_risk_convert", "event-1", 0, D(0), D(size), legs)


def test_no_tokens_of_every_outcome_are_a_set_to_convert() -> None:
    markets = {t: m for m in (outcome_market(i) for i in range(3)) for t in m.token_ids}
    no = [f"cond-{i}-no" for i in range(3)]
    assert complete_set_kind(no, markets.get) == ("neg_risk_convert", "event-1")
    yes = [f"cond-{i}-yes" for i in range(3)]
    assert complete_set_kind(yes, markets.get) == ("neg_risk", "event-1")
    mixed = [no[0], yes[1], no[2]]
    assert complete_set_kind(mixed, markets.get) is None


async def test_a_filled_no_set_is_converted_into_n_minus_one_now(tmp_path: Path) -> None:
    markets = [outcome_market(i) for i in range(3)]
    prices = ("0.60", "0.65", "0.60")
    books = {
        f"cond-{i}-no": asks(f"cond-{i}-no", (p, "10"), ("0.99", "100"))
        for i, p in enumerate(prices)
    }
    journal = tmp_path / "journal.jsonl"
    ex = PaperExecution(
        books,
        {t: m for m in markets for t in m.token_ids},
        PaperConfig(latency_ms=0),
        Ledger(D(100)),
        journal_path=journal,
    )
    report = await ex.execute(convert_signal("10", prices))
    assert report.outcome == "filled"
    assert report.converted == D(10)
    assert (report.merged, report.locked) == (0, 0)
    assert report.realized_pnl == D("1.50")  # 10 x 2 - 18.50
    assert ex.ledger.positions() == []
    assert ex.ledger.locked_sets() == []
    assert ex.ledger.cash == D("101.50")
    assert ex.ledger.pnl_by_strategy() == {"neg_risk_convert": D("1.50")}
    [convert] = report.merges
    assert convert.merge_id.startswith("convert")
    assert (convert.qty, convert.locked, convert.collateral_per_set) == (D(10), False, 2)
    ex.close()
    # the journal says what the conversion returned, and replays into the same ledger
    [record] = [json.loads(line) for line in journal.read_text().splitlines() if '"merge"' in line]
    assert (record["op"], record["collateral_per_set"]) == ("convert", 2)
    replayed = Ledger.replay(read_journal(journal).events, D(100))
    assert replayed.cash == ex.ledger.cash
    assert replayed.realized_pnl == ex.ledger.realized_pnl


async def test_a_50_50_resolution_pays_half_a_share() -> None:
    m = outcome_market(0)
    books = {"cond-0-yes": asks("cond-0-yes", ("0.40", "100"))}
    ex = PaperExecution(
        books, dict.fromkeys(m.token_ids, m), PaperConfig(latency_ms=0), Ledger(D(100))
    )
    leg = Leg("cond-0-yes", Side.BUY, D(10), D("0.40"), D("0.40"), "cond-0")
    await ex.execute(Signal("sniper", "cond-0", 0, D(0), D(10), (leg,), kind="directional"))
    assert ex.on_resolved("cond-0", "") == D(1)  # 10 x 0.5 - 4
    assert ex.ledger.cash == D(101)
