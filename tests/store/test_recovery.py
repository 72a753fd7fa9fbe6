"""Recovery: load_state, and reconciliation with the paper journal (0 lost, 0 duplicated)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger, LedgerEvent, Merge, Resolution
from polyarb.domain.trading import Mode, OrderStatus
from polyarb.execution.journal import Journal, read_journal
from polyarb.store import (
    OpportunityRecord,
    RiskStateRecord,
    Store,
    rebuild,
)
from polyarb.store.recovery import ReconcileReport

from .helpers import DAY_NS, T0, advance, count, execute, make_fill, make_order, rows


def _events() -> list[LedgerEvent]:
    """Two days of paper trading: complete sets bought and merged, a sale, a resolution."""
    yes, no = "tok-yes", "tok-no"
    events: list[LedgerEvent] = [
        make_fill(1, token=yes, price="0.40", size="10", fee="0.01"),
        make_fill(2, token=no, price="0.55", size="10", fee="0.01"),
        # The merge's on-chain cost (CHAIN_TX_COST_USD) is stored and rebuilt with it.
        Merge(
            "merge-1",
            "mkt-1",
            (yes, no),
            Decimal(6),
            T0 + 3_000_000,
            "sum_to_100",
            tx_cost=Decimal("0.01"),
        ),
        make_fill(4, token=yes, side=Side.SELL, price="0.62", size="2", fee="0.002"),
        make_fill(5, token="tok-b", market="mkt-2", price="0.30", size="7", strategy="clipper"),
        make_fill(6, token=yes, price="0.41", size="3", ts_ns=T0 + DAY_NS + 1),
        Resolution("res-2", "mkt-2", "tok-b", T0 + DAY_NS + 2),
    ]
    return events


def _positions(ledger: Ledger) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {(p.strategy, p.token_id): (p.shares, p.cost) for p in ledger.positions()}


async def _db_positions(url: str) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {
        (r["strategy"], r["token_id"]): (r["size"], r["cost"]) for r in await rows(url, "positions")
    }


def _submit(store: Store, ledger: Ledger, event: LedgerEvent) -> None:
    ledger.apply(event)
    if isinstance(event, Merge):
        store.submit_merge(event, ledger)
    elif isinstance(event, Resolution):
        store.submit_resolution(event, ledger)
    else:
        store.submit_fill(event, ledger)


async def test_load_state_returns_the_books_of_record(store: Store) -> None:
    ledger = Ledger(Decimal(1000))
    for event in _events():
        _submit(store, ledger, event)
    open_order = advance(make_order("ord-open"), OrderStatus.SUBMITTING, OrderStatus.ACKED)
    done_order = advance(
        make_order("ord-done"), OrderStatus.SUBMITTING, OrderStatus.ACKED, OrderStatus.FILLED
    )
    await store.record_order_intent(make_order("ord-intent"))
    store.submit_order(open_order)
    store.submit_order(done_order)
    store.submit(
        RiskStateRecord(
            mode=Mode.PAPER, state="halted", kill_switch=True, ts_ns=T0, reason="loss", actor="ops"
        )
    )
    opportunity = OpportunityRecord(
        opportunity_id="o-1",
        mode=Mode.PAPER,
        strategy="sum_to_100",
        market="mkt-1",
        first_seen_ns=T0,
        last_seen_ns=T0 + 5,
        best_edge=Decimal("0.021"),
        executable_size=Decimal(40),
        sightings=3,
    )
    closed = OpportunityRecord(
        opportunity_id="o-0",
        mode=Mode.PAPER,
        strategy="sum_to_100",
        market="mkt-9",
        first_seen_ns=T0 - 10,
        last_seen_ns=T0 - 5,
        best_edge=Decimal("0.01"),
        executable_size=Decimal(5),
        sightings=1,
        outcome="missed",
        closed_ns=T0,
    )
    store.submit(opportunity)
    store.submit(closed)

    state = await store.load_state(now_ns=T0 + DAY_NS + 10)

    assert state.kill_switch
    assert state.risk is not None
    assert state.risk.reason == "loss"
    assert [o.client_id for o in state.open_orders] == ["ord-intent", "ord-open"]
    acked = state.open_orders[1]
    assert acked.status is OrderStatus.ACKED
    assert [s for s, _ in acked.history] == [
        OrderStatus.INTENT,
        OrderStatus.SUBMITTING,
        OrderStatus.ACKED,
    ]
    assert state.open_opportunities == (opportunity,)
    assert [f.fill_id for f in state.fills] == [f"fill-{n}" for n in (1, 2, 4, 5, 6)]
    assert [m.merge_id for m in state.merges] == ["merge-1"]
    assert [r.resolution_id for r in state.resolutions] == ["res-2"]
    # The stored rows are the ledger's, and the events recompute the same ledger.
    stored = {(p.strategy, p.token_id): (p.size, p.cost) for p in state.positions}
    assert stored == _positions(ledger)
    recomputed = state.recompute_ledger(Decimal(1000))
    assert _positions(recomputed) == _positions(ledger)
    assert recomputed.realized_pnl == ledger.realized_pnl
    assert recomputed.cash == ledger.cash
    # The day's P&L: what was realized on the second day only.
    day2 = state.day.isoformat()
    assert state.day_realized_pnl == ledger.daily_realized(day2)
    assert {d.strategy for d in state.daily_pnl} == {"", "sum_to_100", "clipper"}


async def _reconcile(store: Store, journal: Path) -> ReconcileReport:
    return await store.reconcile_paper(
        read_journal(journal).events, starting_balance=Decimal(1000), now_ns=T0 + 2 * DAY_NS
    )


def _journal_all_store_some(
    store: Store, tmp_path: Path, events: list[LedgerEvent], stored: int
) -> Path:
    """Journal every event; submit the first ``stored`` to the store (the rest: lost by a crash)."""
    journal = tmp_path / "paper.journal.jsonl"
    with Journal(journal) as writer:
        writer.append(events)
    ledger = Ledger(Decimal(1000))
    for event in events[:stored]:
        _submit(store, ledger, event)
    return journal


async def test_reconcile_inserts_what_the_crash_lost_and_rebuilds_the_ledger(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    events = _events()
    # The process journaled everything but died before the last three events reached the DB.
    journal = _journal_all_store_some(store, tmp_path, events, 4)
    order = advance(make_order("ord-6", size="3"), OrderStatus.SUBMITTING)
    store.submit_order(order)
    await store.record_order_intent(make_order("ord-never-sent"))
    await store.flush()

    report = await _reconcile(store, journal)

    assert report.ok, report.problems()
    assert report.inserted == ("fill-5", "fill-6", "res-2")
    assert set(report.closed_orders) == {"ord-6", "ord-never-sent"}
    truth = Ledger.replay(events, Decimal(1000))
    assert _positions(report.ledger) == _positions(truth)
    assert report.ledger.cash == truth.cash
    assert await _db_positions(db_url) == _positions(truth)
    assert await count(db_url, "fills") == 5
    assert await count(db_url, "resolutions") == 1
    _, expected = rebuild(events, Mode.PAPER, 0, starting_balance=Decimal(1000))
    daily = {(r["day"], r["strategy"]): r["realized_pnl"] for r in await rows(db_url, "daily_pnl")}
    assert daily == {(d.day, d.strategy): d.realized_pnl for d in expected.daily}
    orders = {r["client_id"]: r for r in await rows(db_url, "orders")}
    assert (orders["ord-6"]["status"], orders["ord-6"]["filled"]) == ("FILLED", Decimal(3))
    assert orders["ord-never-sent"]["status"] == "FAILED"

    # Running it again finds nothing to do: 0 duplicated.
    again = await _reconcile(store, journal)
    assert again.ok
    assert again.inserted == ()
    assert again.closed_orders == ()
    assert again.corrected_rows == ()
    assert await count(db_url, "fills") == 5
    assert await _db_positions(db_url) == _positions(truth)


async def test_reconcile_reports_damaged_ledger_rows_before_rewriting_them(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    journal = _journal_all_store_some(store, tmp_path, _events(), len(_events()))
    await store.flush()
    assert (await _reconcile(store, journal)).corrected_rows == ()  # the books agree
    truth = await _db_positions(db_url)
    daily_truth = await rows(db_url, "daily_pnl", "day, strategy")

    # Damage: a position's size, a day's P&L, a position that never existed, one deleted.
    await execute(db_url, "UPDATE positions SET size = size + 1 WHERE token_id = 'tok-yes'")
    await execute(db_url, "UPDATE daily_pnl SET realized_pnl = 999 WHERE strategy = 'clipper'")
    await execute(db_url, "DELETE FROM positions WHERE token_id = 'tok-no'")
    await execute(
        db_url,
        "INSERT INTO positions (mode, strategy, token_id, market, size, cost, updated_ns) "
        "VALUES ('paper', 'sniper', 'tok-ghost', 'mkt-9', 5, 2, 1)",
    )

    report = await _reconcile(store, journal)

    assert report.ok  # the journal is the truth: the rows are rewritten, and said so
    damaged = "\n".join(report.corrected_rows)
    assert len(report.corrected_rows) == 3 + len(
        [r for r in daily_truth if r["strategy"] == "clipper"]
    ), damaged
    assert "position sum_to_100/tok-yes" in damaged
    assert "position sum_to_100/tok-no: size, cost None" in damaged
    assert "position sniper/tok-ghost" in damaged
    assert "daily P&L 2026-01-01 clipper" in damaged
    assert await _db_positions(db_url) == truth
    assert await rows(db_url, "daily_pnl", "day, strategy") == daily_truth


async def test_rows_that_depend_on_events_the_crash_lost_are_not_called_damaged(
    store: Store, tmp_path: Path
) -> None:
    # The engine wrote fill 1 with the ledger rows as they were after fill 2 was applied too
    # (one execution's report), then died before fill 2 reached the database.
    events = [make_fill(1, size="10"), make_fill(2, size="5")]
    journal = tmp_path / "paper.journal.jsonl"
    with Journal(journal) as writer:
        writer.append(events)
    ledger = Ledger(Decimal(1000))
    for event in events:
        ledger.apply(event)
    store.submit_fill(events[0], ledger)
    await store.flush()

    report = await _reconcile(store, journal)

    assert report.inserted == ("fill-2",)
    assert report.corrected_rows == ()


async def test_reconcile_reports_events_the_journal_does_not_have(
    store: Store, tmp_path: Path
) -> None:
    events = _events()[:2]
    journal = tmp_path / "paper.journal.jsonl"
    with Journal(journal) as writer:
        writer.append(events)
    ledger = Ledger()
    for event in [*events, make_fill(77, token="tok-no", price="0.5", size="1")]:
        _submit(store, ledger, event)
    store.submit_fill(make_fill(2, price="0.99"))  # same id as the journal's, other content: kept
    await store.flush()

    report = await _reconcile(store, journal)

    assert not report.ok
    assert report.missing_from_journal == ("fill-77",)
    assert report.mismatched == ()
    assert "fill-77" in report.problems()[0]


async def test_reconcile_flags_a_fill_whose_content_differs(store: Store, tmp_path: Path) -> None:
    journal = tmp_path / "paper.journal.jsonl"
    with Journal(journal) as writer:
        writer.append([make_fill(1, price="0.40")])
    store.submit_fill(make_fill(1, price="0.41"))
    await store.flush()
    report = await _reconcile(store, journal)
    assert report.mismatched == ("fill-1",)
    assert not report.ok


async def test_an_empty_journal_on_an_empty_database_is_ok(store: Store, tmp_path: Path) -> None:
    report = await _reconcile(store, tmp_path / "missing.jsonl")
    assert report.ok
    assert report.journal_events == 0
    assert report.ledger.cash == Decimal(1000)
