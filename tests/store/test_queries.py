"""Dashboard and report queries: trades (filters, stable paging, CSV), positions, P&L, stats."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Mode, OrderStatus
from polyarb.store import (
    AuditRecord,
    ErrorRecord,
    FillRecord,
    OpportunityRecord,
    Store,
)
from polyarb.store.queries import CSV_COLUMNS, parse_cursor

from .helpers import DAY_NS, T0, advance, make_fill, make_order


async def _trade_history(store: Store) -> Ledger:
    """30 fills over three days, two strategies, two markets, each with its order."""
    ledger = Ledger()
    for n in range(30):
        strategy = "sum_to_100" if n % 3 else "clipper"
        market = "mkt-a" if n % 2 else "mkt-b"
        token = f"tok-{market}"
        order = advance(
            make_order(f"ord-{n}", strategy=strategy, market=market, token=token),
            OrderStatus.SUBMITTING,
            OrderStatus.ACKED,
            OrderStatus.FILLED,
        )
        store.submit_order(order)
        side = Side.SELL if n % 5 == 4 else Side.BUY
        size = "1" if side is Side.SELL else "4"
        fill = make_fill(
            n,
            side=side,
            size=size,
            price="0.6" if side is Side.SELL else "0.4",
            strategy=strategy,
            market=market,
            token=token,
            ts_ns=T0 + (n // 10) * DAY_NS + n,
        )
        ledger.apply_fill(fill)
        store.submit_fill(fill, ledger)
    await store.flush()
    return ledger


async def test_trades_are_paged_newest_first_with_a_stable_cursor(store: Store) -> None:
    await _trade_history(store)
    q = store.queries
    first = await q.trades(limit=12)
    assert [r.fill_id for r in first.rows] == [f"fill-{n}" for n in range(29, 17, -1)]
    assert first.next_cursor is not None
    # New trades arriving between pages do not shift the next page.
    store.submit(FillRecord(fill=make_fill(100, ts_ns=T0 + 5 * DAY_NS)))
    await store.flush()
    second = await q.trades(limit=12, cursor=first.next_cursor)
    assert [r.fill_id for r in second.rows] == [f"fill-{n}" for n in range(17, 5, -1)]
    third = await q.trades(limit=12, cursor=second.next_cursor)
    assert [r.fill_id for r in third.rows] == [f"fill-{n}" for n in range(5, -1, -1)]
    assert third.next_cursor is None
    row = third.rows[0]
    assert (row.order_status, row.order_type, row.signal_id) == ("FILLED", "FOK", "sig-1")
    assert row.notional == row.price * row.size


async def test_trades_filter_by_strategy_market_and_time(store: Store) -> None:
    await _trade_history(store)
    q = store.queries
    clipper = await q.trades(strategy="clipper", limit=100)
    assert {r.strategy for r in clipper.rows} == {"clipper"}
    assert len(clipper.rows) == 10
    both = await q.trades(strategy="clipper", market="mkt-a", limit=100)
    assert {(r.strategy, r.market) for r in both.rows} == {("clipper", "mkt-a")}
    assert len(both.rows) == 5
    day2 = await q.trades(since_ns=T0 + DAY_NS, until_ns=T0 + 2 * DAY_NS, limit=100)
    assert sorted(r.fill_id for r in day2.rows) == sorted(f"fill-{n}" for n in range(10, 20))
    assert (await q.trades(mode=Mode.LIVE)).rows == ()
    with pytest.raises(ValueError, match="cursor"):
        await q.trades(cursor="garbage")
    assert parse_cursor("12:34") == (12, 34)


async def test_csv_export_has_every_trade_once_oldest_first(store: Store) -> None:
    await _trade_history(store)
    out = io.StringIO()
    written = await store.queries.export_trades_csv(out, strategy="sum_to_100")
    lines = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written == len(lines) == 20
    assert tuple(lines[0]) == CSV_COLUMNS
    assert [line["fill_id"] for line in lines] == [f"fill-{n}" for n in range(30) if n % 3]
    assert Decimal(lines[0]["notional"]) == Decimal(lines[0]["price"]) * Decimal(lines[0]["size"])


async def test_positions_and_pnl_agree_with_the_ledger(store: Store) -> None:
    ledger = await _trade_history(store)
    q = store.queries
    positions = {(p.strategy, p.token_id): p for p in await q.positions()}
    assert {k: (p.size, p.cost) for k, p in positions.items()} == {
        (p.strategy, p.token_id): (p.shares, p.cost) for p in ledger.positions()
    }
    some = next(iter(positions.values()))
    assert some.avg_cost == some.cost / some.size

    by_day = await q.pnl_by_day()
    assert [line.key for line in by_day] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    for line in by_day:
        assert line.realized_pnl == ledger.daily_realized(line.key)
        assert line.fills == 10
    assert sum((line.fees for line in by_day), Decimal(0)) == ledger.fees_paid

    by_strategy = {line.key: line for line in await q.pnl_by_strategy()}
    assert {k: v.realized_pnl for k, v in by_strategy.items()} == ledger.pnl_by_strategy()
    assert {k: v.fees for k, v in by_strategy.items()} == ledger.fees_by_strategy()
    assert sum(v.fills for v in by_strategy.values()) == 30

    # A range: the second day only.
    day2 = date(2026, 1, 2)
    ranged = {line.key: line for line in await q.pnl_by_strategy(since=day2, until=day2)}
    assert sum(v.realized_pnl for v in ranged.values()) == ledger.daily_realized("2026-01-02")
    assert sum(v.fills for v in ranged.values()) == 10
    assert [line.key for line in await q.pnl_by_day(since=day2, until=day2)] == ["2026-01-02"]


async def test_opportunity_stats(store: Store) -> None:
    def opp(
        n: int, strategy: str, edge: str, outcome: str | None, life_ns: int = 250_000_000
    ) -> OpportunityRecord:
        return OpportunityRecord(
            opportunity_id=f"o-{n}",
            mode=Mode.PAPER,
            strategy=strategy,
            market=f"m-{n}",
            first_seen_ns=T0 + n * 1_000_000_000,
            last_seen_ns=T0 + n * 1_000_000_000 + life_ns,
            best_edge=Decimal(edge),
            executable_size=Decimal(10),
            sightings=n + 1,
            outcome=outcome,
            closed_ns=None if outcome is None else T0 + n * 1_000_000_000 + 300_000_000,
        )

    for record in (
        opp(0, "sum_to_100", "0.01", "taken"),
        opp(1, "sum_to_100", "0.03", "missed"),
        opp(2, "sum_to_100", "0.02", None),
        opp(3, "neg_risk", "0.05", "taken"),
        opp(4, "neg_risk", "0.05", "missed", life_ns=9_999_999),  # just under 10 ms
        opp(5, "neg_risk", "0.05", "missed", life_ns=10_000_000_000),  # 10 s: the last bucket
    ):
        store.submit(record)
    await store.flush()
    stats = {s.strategy: s for s in await store.queries.opportunity_stats()}
    s = stats["sum_to_100"]
    assert (s.opportunities, s.open, s.sightings) == (3, 1, 6)
    assert s.by_outcome == {"missed": 1, "open": 1, "taken": 1}
    assert (s.best_edge_max, s.best_edge_mean) == (Decimal("0.03"), Decimal("0.02"))
    assert s.mean_duration_ms == Decimal(250)
    assert list(s.lifetime_histogram.items()) == [
        ("<10 ms", 0),
        ("10-100 ms", 0),
        ("100 ms-1 s", 3),
        ("1-10 s", 0),
        (">=10 s", 0),
    ]
    assert stats["neg_risk"].opportunities == 3
    assert stats["neg_risk"].lifetime_histogram == {
        "<10 ms": 1,
        "10-100 ms": 0,
        "100 ms-1 s": 1,
        "1-10 s": 0,
        ">=10 s": 1,
    }
    later = await store.queries.opportunity_stats(since_ns=T0 + 2 * 1_000_000_000)
    assert {x.strategy: x.opportunities for x in later} == {"neg_risk": 3, "sum_to_100": 1}


async def test_errors_and_audit_newest_first(store: Store) -> None:
    for n in range(5):
        store.submit(
            ErrorRecord(ts_ns=T0 + n, source="feed", kind="k", message=f"e{n}", level="error")
        )
        store.submit(AuditRecord(ts_ns=T0 + n, actor="ops@example.com", action=f"a{n}"))
    store.submit(ErrorRecord(ts_ns=T0 + 9, source="feed", kind="k", message="w", level="warning"))
    await store.flush()
    q = store.queries
    assert [e.message for e in await q.errors(limit=3)] == ["w", "e4", "e3"]
    assert [e.message for e in await q.errors(level="error", since_ns=T0 + 3)] == ["e4", "e3"]
    page = await q.audit(limit=2)
    assert [a.action for a in page] == ["a4", "a3"]
    assert [a.action for a in await q.audit(before_id=page[-1].id)] == ["a2", "a1", "a0"]
