"""The Store's write paths on both databases: batching, idempotency, intent, atomic fill+ledger."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Mode, OrderStatus
from polyarb.store import (
    AuditRecord,
    Durability,
    ErrorRecord,
    FillRecord,
    ModeMismatch,
    RiskStateRecord,
    Store,
    WriterConfig,
    ledger_state,
)
from polyarb.store import apply as apply_module
from polyarb.store.records import decode_batch, encode_batch
from polyarb.store.spool import REJECTED_FILE

from .helpers import advance, count, make_fill, make_order, rows


async def test_submit_is_a_queue_append_and_the_writer_commits_in_batches(
    db_url: str, spool_dir: Path
) -> None:
    config = WriterConfig(batch_size=50, flush_interval_s=0.05)
    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=spool_dir, writer=config)
    try:
        for n in range(120):
            store.submit(FillRecord(fill=make_fill(n)))
        # Nothing awaited yet: the records are queued, the writer has not run.
        assert store.queue_depth == 120
        assert store.stats.written == 0
        assert await store.flush() is Durability.DATABASE
        assert await count(db_url, "fills") == 120
        assert store.stats.written == 120
        assert 3 <= store.stats.batches <= 4  # 50 + 50 + 20 (by size, then by time)
    finally:
        await store.close()


async def test_a_lone_record_is_written_within_the_flush_interval(
    store: Store, db_url: str
) -> None:
    store.submit(ErrorRecord(ts_ns=1, source="test", kind="k", message="m"))
    deadline_rows = 0
    for _ in range(200):
        deadline_rows = await count(db_url, "errors")
        if deadline_rows:
            break
    assert deadline_rows == 1


async def test_replaying_the_same_records_writes_nothing_twice(store: Store, db_url: str) -> None:
    order = advance(make_order("ord-1"), OrderStatus.SUBMITTING, OrderStatus.ACKED)
    batch = [
        FillRecord(fill=make_fill(1)),
        FillRecord(fill=make_fill(2)),
        ErrorRecord(ts_ns=5, source="s", kind="k", message="m"),
        AuditRecord(ts_ns=6, actor="ops@example.com", action="pause"),
    ]
    for _ in range(3):
        for record in batch:
            store.submit(record)
        store.submit_order(order)
        await store.flush()
    assert await count(db_url, "fills") == 2
    assert await count(db_url, "errors") == 1
    assert await count(db_url, "audit_log") == 1
    assert await count(db_url, "orders") == 1
    events = await rows(db_url, "order_events", "seq")
    assert [(e["seq"], e["status"]) for e in events] == [
        (0, "INTENT"),
        (1, "SUBMITTING"),
        (2, "ACKED"),
    ]


async def test_order_states_never_move_backwards(store: Store, db_url: str) -> None:
    order = make_order("ord-9")
    await store.record_order_intent(order)
    advance(order, OrderStatus.SUBMITTING, OrderStatus.ACKED, OrderStatus.FILLED)
    store.submit_order(order)
    await store.flush()
    # A stale copy (an earlier state) arriving late must not overwrite the later state.
    stale = make_order("ord-9")
    advance(stale, OrderStatus.SUBMITTING)
    store.submit_order(stale)
    await store.flush()
    (row,) = await rows(db_url, "orders")
    assert row["status"] == "FILLED"
    assert row["seq"] == 3
    assert await count(db_url, "order_events") == 4


async def test_order_intent_is_committed_before_the_call_returns(store: Store, db_url: str) -> None:
    order = make_order("ord-intent")
    await store.record_order_intent(order, signed_payload='{"sig":"0xabc"}')
    # Read on another connection right away: no flush, no waiting for the writer.
    (row,) = await rows(db_url, "orders")
    assert (row["client_id"], row["status"], row["seq"]) == ("ord-intent", "INTENT", 0)
    assert row["signed_payload"] == '{"sig":"0xabc"}'
    assert row["price"] == Decimal("0.45")
    assert await count(db_url, "order_events") == 1
    # Later states keep the payload and add the venue id.
    order.transition(OrderStatus.SUBMITTING, 10)
    order.venue_id = "0xvenue"
    order.transition(OrderStatus.ACKED, 11)
    store.submit_order(order)
    await store.flush()
    (row,) = await rows(db_url, "orders")
    assert (row["status"], row["venue_id"], row["signed_payload"]) == (
        "ACKED",
        "0xvenue",
        '{"sig":"0xabc"}',
    )


async def test_fill_and_its_ledger_rows_are_one_transaction(
    store: Store, db_url: str, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(Decimal(1000))
    fill = make_fill(1, price="0.4", size="25", fee="0.02")
    ledger.apply_fill(fill)

    async def explode(*_: object) -> None:
        # A value the ledger rows cannot be built from: about this row, so it is set aside (an
        # error that is not about the row is an outage instead: test_pg_not_accepting.py).
        raise ValueError("injected failure after the fill insert")

    monkeypatch.setattr(apply_module, "_write_ledger", explode)
    store.submit_fill(fill, ledger)
    await store.flush()
    # The fill insert ran, then the ledger write failed: the transaction rolled back whole.
    assert await count(db_url, "fills") == 0
    assert await count(db_url, "positions") == 0
    assert await count(db_url, "daily_pnl") == 0
    # Nothing is lost: the refused record is set aside, decodable, for a human.
    rejected = (spool_dir / REJECTED_FILE).read_bytes().splitlines()
    assert len(rejected) == 1
    assert store.stats.rejected_records == 1

    monkeypatch.undo()
    store.submit_fill(fill, ledger)
    await store.flush()
    assert await count(db_url, "fills") == 1
    (position,) = await rows(db_url, "positions")
    assert (position["size"], position["cost"]) == (Decimal(25), Decimal("10.02"))
    daily = {r["strategy"]: r for r in await rows(db_url, "daily_pnl")}
    assert daily[""]["fees"] == Decimal("0.02")


async def test_a_refused_record_does_not_block_the_rest_of_its_batch(
    store: Store, db_url: str, spool_dir: Path
) -> None:
    bad = ErrorRecord(ts_ns=1, source="s" * 500, kind="k", message="too long a source")
    store.submit(FillRecord(fill=make_fill(1)))
    store.submit(bad)
    store.submit(FillRecord(fill=make_fill(2)))
    await store.flush()
    if store.dialect == "sqlite":  # SQLite does not enforce VARCHAR lengths
        assert await count(db_url, "errors") == 1
        return
    assert await count(db_url, "fills") == 2
    assert await count(db_url, "errors") == 0
    (line,) = (spool_dir / REJECTED_FILE).read_text().splitlines()
    assert "too long a source" in line


async def test_money_round_trips_exactly(store: Store, db_url: str) -> None:
    ledger = Ledger()
    buys = [
        make_fill(1, price="0.3333", size="3.000001", fee="0.000123"),
        make_fill(2, price="0.1", size="0.1", fee="0"),
    ]
    for fill in buys:
        ledger.apply_fill(fill)
        store.submit_fill(fill, ledger)
    sell = make_fill(3, side=Side.SELL, price="0.9999", size="1.5", fee="0.0000001")
    ledger.apply_fill(sell)
    store.submit_fill(sell, ledger)
    await store.flush()
    stored = {r["fill_id"]: r for r in await rows(db_url, "fills")}
    for fill in [*buys, sell]:
        assert stored[fill.fill_id]["price"] == fill.price
        assert stored[fill.fill_id]["size"] == fill.size
        assert stored[fill.fill_id]["fee"] == fill.fee
    (position,) = await rows(db_url, "positions")
    assert position["size"] == ledger.shares("tok-yes")
    assert position["cost"] == ledger.cost_basis("tok-yes")  # 1e-10 digits kept
    daily = {r["strategy"]: r for r in await rows(db_url, "daily_pnl")}
    assert daily[""]["realized_pnl"] == ledger.realized_pnl
    assert daily["sum_to_100"]["realized_pnl"] == ledger.pnl_by_strategy()["sum_to_100"]


async def test_a_closed_position_is_removed(store: Store, db_url: str) -> None:
    ledger = Ledger()
    buy = make_fill(1, size="5")
    sell = make_fill(2, side=Side.SELL, size="5", price="0.5")
    for fill in (buy, sell):
        ledger.apply_fill(fill)
        store.submit_fill(fill, ledger)
    await store.flush()
    assert await count(db_url, "positions") == 0
    assert await count(db_url, "fills") == 2


async def test_write_returns_once_durable(store: Store, db_url: str) -> None:
    kill = RiskStateRecord(
        mode=Mode.PAPER, state="halted", kill_switch=True, ts_ns=7, reason="test", actor="ops"
    )
    assert await store.write(kill) is Durability.DATABASE
    (row,) = await rows(db_url, "risk_state")
    assert row["kill_switch"] is True
    assert (row["state"], row["actor"]) == ("halted", "ops")


async def test_records_of_the_other_mode_are_refused_at_submit(store: Store) -> None:
    with pytest.raises(ModeMismatch):
        store.submit(FillRecord(fill=make_fill(1, mode=Mode.LIVE)))
    with pytest.raises(ModeMismatch):
        await store.record_order_intent(make_order("x", mode=Mode.LIVE))
    store.submit(FillRecord(fill=make_fill(2, mode=Mode.LOG_ONLY)))  # simulated too: accepted


def test_ledger_state_lists_the_touched_position_and_the_day() -> None:
    ledger = Ledger()
    fill = make_fill(1)
    ledger.apply_fill(fill)
    state = ledger_state(ledger, Mode.PAPER, fill.ts_ns, touched=[("sum_to_100", "tok-yes")])
    assert [p.token_id for p in state.positions] == ["tok-yes"]
    assert {d.strategy for d in state.daily} == {"", "sum_to_100"}
    assert state.locked is None
    assert not state.all_positions
    # And it survives the spool codec unchanged.
    assert decode_batch(encode_batch([state])) == [state]
