"""Retention: old raw rows go, the books of record stay."""

from __future__ import annotations

from decimal import Decimal

from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Mode, OrderStatus
from polyarb.store import (
    AlertRecord,
    AuditRecord,
    ErrorRecord,
    OpportunityRecord,
    SignalRecord,
    Store,
)
from polyarb.store.database import create_engine
from polyarb.store.retention import NS_PER_DAY, prune

from .helpers import T0, advance, count, make_fill, make_order


def _signal(n: int, ts_ns: int) -> SignalRecord:
    return SignalRecord(
        signal_id=f"s-{n}",
        mode=Mode.PAPER,
        strategy="sum_to_100",
        market="mkt-1",
        ts_ns=ts_ns,
        kind="complete_set",
        edge=Decimal("0.01"),
        size=Decimal(10),
        cost=Decimal("9.9"),
        fees=Decimal("0.02"),
        outcome="taken",
    )


def _opportunity(n: int, last_seen_ns: int) -> OpportunityRecord:
    return OpportunityRecord(
        opportunity_id=f"o-{n}",
        mode=Mode.PAPER,
        strategy="sum_to_100",
        market="mkt-1",
        first_seen_ns=last_seen_ns - 1,
        last_seen_ns=last_seen_ns,
        best_edge=Decimal("0.01"),
        executable_size=Decimal(1),
        sightings=1,
        outcome="taken",
        closed_ns=last_seen_ns,
    )


async def test_prune_deletes_old_raw_rows_and_keeps_the_books(store: Store, db_url: str) -> None:
    old, new = T0, T0 + 40 * NS_PER_DAY
    now = T0 + 45 * NS_PER_DAY
    ledger = Ledger()
    for n, ts in enumerate((old, old + 1, new)):
        store.submit(_signal(n, ts))
        store.submit(_opportunity(n, ts))
        store.submit(ErrorRecord(ts_ns=ts, source="s", kind="k", message="m"))
        store.submit(AlertRecord(ts_ns=ts, severity="warning", title="t", message="m"))
        store.submit(AuditRecord(ts_ns=ts, actor="ops", action="pause"))
        fill = make_fill(n, ts_ns=ts)
        ledger.apply_fill(fill)
        store.submit_fill(fill, ledger)
    finished = advance(
        make_order("done", created_ns=old),
        OrderStatus.SUBMITTING,
        OrderStatus.ACKED,
        OrderStatus.FILLED,
        ts_ns=old,
    )
    still_open = advance(make_order("open", created_ns=old), OrderStatus.SUBMITTING, ts_ns=old)
    store.submit_order(finished)
    store.submit_order(still_open)
    await store.flush()

    engine = create_engine(db_url)
    try:  # chunks of one row: the chunk loop runs to its end
        report = await prune(engine, older_than_days=30, now_ns=now, chunk=1)
    finally:
        await engine.dispose()

    assert report.deleted == {
        "signals": 2,
        "opportunities": 2,
        "errors": 2,
        "alerts": 2,
        "order_events": 4,  # the finished order's history; the open order keeps its own
    }
    assert report.total == 12
    for table in ("signals", "opportunities", "errors", "alerts"):
        assert await count(db_url, table) == 1
    assert await count(db_url, "order_events") == 2
    # Never pruned.
    assert await count(db_url, "fills") == 3
    assert await count(db_url, "audit_log") == 3
    assert await count(db_url, "orders") == 2
    assert await count(db_url, "positions") == 1
    assert await count(db_url, "daily_pnl") > 0
    # A second run finds nothing.
    assert (await store.prune(older_than_days=30, now_ns=now)).total == 0
