"""Start-up recovery: load the books of record, and reconcile them with the paper journal.

``load_state`` reads what the engine needs before trading: positions, the day's P&L, the risk
state and kill switch, open orders, open opportunities, and the ledger events (fills, merges,
resolutions) the ledger can be recomputed from.

``reconcile_paper`` makes the database agree with the paper executor's journal, which is written
(and fsync'd) before the ledger applies an event and so holds at least everything the database
could have seen. In one transaction it inserts the journal events the database lacks, rebuilds
every ledger row (positions, locked sets, daily P&L) from a replay of the journal, and closes the
orders a crash left open. Events the database has and the journal does not, or that differ, are
reported, never "fixed": the caller stays halted.

Ledger rows (positions, locked sets, daily P&L) are projections of the events, so before they
are rewritten they are compared with the rebuild: a row that differs although every event it
depends on was already in the database was damaged (or written by something else) and is
reported in ``corrected_rows``, not silently overwritten. Rows that depend on events the crash
kept from the database (those being inserted) may lag and are not judged.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger, LedgerEvent, Merge, Resolution
from polyarb.domain.ledger import event_id as ledger_event_id
from polyarb.domain.trading import Fill, Mode, Order, OrderStatus, OrderType
from polyarb.store import tables as t
from polyarb.store.apply import apply_records
from polyarb.store.ledger_rows import ALL_STRATEGIES, day_of, rebuild
from polyarb.store.records import (
    DailyPnlRow,
    FillRecord,
    LedgerState,
    LockedSetRow,
    MergeRecord,
    OpportunityRecord,
    OrderEvent,
    OrderRecord,
    PositionRow,
    Record,
    ResolutionRecord,
    RiskStateRecord,
    decode_detail,
)

NON_TERMINAL = tuple(s.value for s in OrderStatus if not s.is_terminal)


@dataclass(frozen=True, slots=True)
class RecoveredState:
    """Everything the engine restores before strategies start (rows of the store's mode)."""

    mode: Mode
    day: date  # the UTC day ``daily_pnl`` and ``day_realized_pnl`` refer to
    positions: tuple[PositionRow, ...]
    locked_sets: tuple[LockedSetRow, ...]
    daily_pnl: tuple[DailyPnlRow, ...]  # cumulative rows of ``day`` ("" = whole ledger)
    day_realized_pnl: Decimal  # realized P&L during ``day``
    risk: RiskStateRecord | None
    open_orders: tuple[Order, ...]
    open_opportunities: tuple[OpportunityRecord, ...]
    fills: tuple[Fill, ...]  # in the order they were applied
    merges: tuple[Merge, ...]
    resolutions: tuple[Resolution, ...]

    @property
    def kill_switch(self) -> bool:
        return self.risk is not None and self.risk.kill_switch

    def recompute_ledger(self, starting_balance: Decimal = Decimal(0)) -> Ledger:
        """The ledger rebuilt from the stored events (time order, as ``Ledger.recompute``)."""
        return Ledger.recompute(self.fills, self.merges, self.resolutions, starting_balance)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What ``reconcile_paper`` found and did; ``ok`` False means: stay halted."""

    journal_events: int
    inserted: tuple[str, ...]  # event ids copied from the journal into the database
    missing_from_journal: tuple[str, ...]  # event ids the database has and the journal lacks
    mismatched: tuple[str, ...]  # same id, different content (or another mode)
    closed_orders: tuple[str, ...]  # client ids of open orders closed from the journal
    ledger: Ledger = field(repr=False)
    # Ledger rows that disagreed with the journal although nothing they depend on was missing.
    corrected_rows: tuple[str, ...] = ()  # the journal replayed: what the engine trades on
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.missing_from_journal and not self.mismatched

    def problems(self) -> list[str]:
        out = []
        if self.missing_from_journal:
            ids = ", ".join(self.missing_from_journal[:5])
            out.append(
                f"{len(self.missing_from_journal)} event(s) in the database are not in the "
                f"paper journal (e.g. {ids})"
            )
        if self.mismatched:
            ids = ", ".join(self.mismatched[:5])
            out.append(f"{len(self.mismatched)} event(s) differ from the journal (e.g. {ids})")
        return out


# --- reading ---------------------------------------------------------------------------------


def _token_ids(text: str) -> tuple[str, ...]:
    return tuple(str(x) for x in decode_detail(text).get("token_ids", ()))


def fill_from_row(r: RowMapping) -> Fill:
    return Fill(
        fill_id=r["fill_id"],
        client_order_id=r["client_order_id"],
        token_id=r["token_id"],
        market=r["market"],
        side=Side(r["side"]),
        price=r["price"],
        size=r["size"],
        fee=r["fee"],
        ts_ns=r["ts_ns"],
        strategy=r["strategy"],
        mode=Mode(r["mode"]),
        liquidity=r["liquidity"],
    )


async def read_failed_fill_ids(conn: AsyncConnection, mode: Mode) -> set[str]:
    """Fills of trades that FAILED on chain: they did not happen."""
    s = t.trade_settlements.c
    stmt = select(s.fill_ids).where(s.mode == mode.value, s.status == "FAILED")
    return {
        str(fill_id)
        for (text,) in (await conn.execute(stmt)).all()
        for fill_id in decode_detail(text).get("fill_ids", ())
    }


async def read_fills(conn: AsyncConnection, mode: Mode) -> list[Fill]:
    """The mode's fills in the order they were applied, without those of FAILED trades."""
    stmt = (
        select(t.fills).where(t.fills.c.mode == mode.value).order_by(t.fills.c.ts_ns, t.fills.c.id)
    )
    failed = await read_failed_fill_ids(conn, mode)
    fills = (fill_from_row(r) for r in (await conn.execute(stmt)).mappings())
    return [f for f in fills if f.fill_id not in failed]


async def read_merges(conn: AsyncConnection, mode: Mode) -> list[Merge]:
    m = t.merges.c
    stmt = select(t.merges).where(m.mode == mode.value).order_by(m.ts_ns, m.id)
    return [
        Merge(
            merge_id=r["merge_id"],
            market=r["market"],
            token_ids=_token_ids(r["token_ids"]),
            qty=r["qty"],
            ts_ns=r["ts_ns"],
            strategy=r["strategy"],
            locked=r["locked"],
            tx_cost=r["tx_cost"],
        )
        for r in (await conn.execute(stmt)).mappings()
    ]


async def read_resolutions(conn: AsyncConnection, mode: Mode) -> list[Resolution]:
    c = t.resolutions.c
    stmt = select(t.resolutions).where(c.mode == mode.value).order_by(c.ts_ns, c.id)
    return [
        Resolution(
            resolution_id=r["resolution_id"],
            market=r["market"],
            winning_token_id=r["winning_token_id"],
            ts_ns=r["ts_ns"],
            token_ids=_token_ids(r["token_ids"]),
            tx_cost=r["tx_cost"],
        )
        for r in (await conn.execute(stmt)).mappings()
    ]


async def read_positions(conn: AsyncConnection, mode: Mode) -> list[PositionRow]:
    c = t.positions.c
    stmt = select(t.positions).where(c.mode == mode.value).order_by(c.strategy, c.token_id)
    return [
        PositionRow(
            strategy=r["strategy"],
            token_id=r["token_id"],
            market=r["market"],
            size=r["size"],
            cost=r["cost"],
        )
        for r in (await conn.execute(stmt)).mappings()
    ]


async def read_locked_sets(conn: AsyncConnection, mode: Mode) -> list[LockedSetRow]:
    c = t.locked_sets.c
    stmt = select(t.locked_sets).where(c.mode == mode.value).order_by(c.lock_id)
    return [
        LockedSetRow(
            lock_id=r["lock_id"],
            strategy=r["strategy"],
            market=r["market"],
            token_ids=_token_ids(r["token_ids"]),
            qty=r["qty"],
            cost=r["cost"],
        )
        for r in (await conn.execute(stmt)).mappings()
    ]


async def read_daily(
    conn: AsyncConnection, mode: Mode, day: date
) -> tuple[list[DailyPnlRow], Decimal]:
    """The cumulative rows of ``day`` and the realized P&L made during it."""
    c = t.daily_pnl.c
    stmt = select(t.daily_pnl).where(c.mode == mode.value, c.day == day).order_by(c.strategy)
    rows = [
        DailyPnlRow(
            day=r["day"], strategy=r["strategy"], realized_pnl=r["realized_pnl"], fees=r["fees"]
        )
        for r in (await conn.execute(stmt)).mappings()
    ]
    today = next((r.realized_pnl for r in rows if r.strategy == ALL_STRATEGIES), None)
    if today is None:
        return rows, Decimal(0)
    before = await conn.scalar(
        select(c.realized_pnl)
        .where(c.mode == mode.value, c.strategy == ALL_STRATEGIES, c.day < day)
        .order_by(c.day.desc())
        .limit(1)
    )
    return rows, today - (before if before is not None else Decimal(0))


async def read_risk(conn: AsyncConnection, mode: Mode) -> RiskStateRecord | None:
    r = (
        (await conn.execute(select(t.risk_state).where(t.risk_state.c.mode == mode.value)))
        .mappings()
        .first()
    )
    if r is None:
        return None
    return RiskStateRecord(
        mode=Mode(r["mode"]),
        state=r["state"],
        kill_switch=r["kill_switch"],
        ts_ns=r["updated_ns"],
        reason=r["reason"],
        actor=r["actor"],
        detail=decode_detail(r["detail"]),
    )


async def read_open_orders(conn: AsyncConnection, mode: Mode) -> list[tuple[Order, int]]:
    """Non-terminal orders, each with the sequence number of its current status."""
    o = t.orders.c
    stmt = (
        select(t.orders)
        .where(o.mode == mode.value, o.status.in_(NON_TERMINAL))
        .order_by(o.created_ns, o.client_id)
    )
    rows = list((await conn.execute(stmt)).mappings())
    history: dict[str, list[tuple[OrderStatus, int]]] = {r["client_id"]: [] for r in rows}
    if rows:
        e = t.order_events.c
        events = await conn.execute(
            select(e.client_id, e.status, e.ts_ns)
            .where(e.client_id.in_(list(history)))
            .order_by(e.client_id, e.seq)
        )
        for client_id, status, ts_ns in events:
            history[client_id].append((OrderStatus(status), ts_ns))
    return [
        (
            Order(
                client_id=r["client_id"],
                token_id=r["token_id"],
                market=r["market"],
                side=Side(r["side"]),
                price=r["price"],
                size=r["size"],
                order_type=OrderType(r["order_type"]),
                strategy=r["strategy"],
                mode=Mode(r["mode"]),
                signal_id=r["signal_id"],
                venue_id=r["venue_id"] or "",
                status=OrderStatus(r["status"]),
                filled=r["filled"],
                fees=r["fees"],
                reason=r["reason"],
                created_ns=r["created_ns"],
                history=history[r["client_id"]],
            ),
            r["seq"],
        )
        for r in rows
    ]


async def read_open_opportunities(conn: AsyncConnection, mode: Mode) -> list[OpportunityRecord]:
    c = t.opportunities.c
    stmt = (
        select(t.opportunities)
        .where(c.mode == mode.value, c.closed_ns.is_(None))
        .order_by(c.first_seen_ns, c.id)
    )
    return [
        OpportunityRecord(
            opportunity_id=r["opportunity_id"],
            mode=Mode(r["mode"]),
            strategy=r["strategy"],
            market=r["market"],
            first_seen_ns=r["first_seen_ns"],
            last_seen_ns=r["last_seen_ns"],
            best_edge=r["best_edge"],
            executable_size=r["executable_size"],
            sightings=r["sightings"],
            outcome=r["outcome"],
            closed_ns=r["closed_ns"],
            detail=decode_detail(r["detail"]),
        )
        for r in (await conn.execute(stmt)).mappings()
    ]


async def load_state(engine: AsyncEngine, mode: Mode, now_ns: int) -> RecoveredState:
    day = day_of(now_ns)
    async with engine.connect() as conn:
        daily, day_realized = await read_daily(conn, mode, day)
        return RecoveredState(
            mode=mode,
            day=day,
            positions=tuple(await read_positions(conn, mode)),
            locked_sets=tuple(await read_locked_sets(conn, mode)),
            daily_pnl=tuple(daily),
            day_realized_pnl=day_realized,
            risk=await read_risk(conn, mode),
            open_orders=tuple(order for order, _ in await read_open_orders(conn, mode)),
            open_opportunities=tuple(await read_open_opportunities(conn, mode)),
            fills=tuple(await read_fills(conn, mode)),
            merges=tuple(await read_merges(conn, mode)),
            resolutions=tuple(await read_resolutions(conn, mode)),
        )


# --- reconciling with the paper journal -------------------------------------------------------


def _close_order(order: Order, seq: int, fills: Sequence[Fill], now_ns: int) -> OrderRecord:
    """The terminal state of an order a restart interrupted, from the fills the journal holds.

    Paper orders live only in the process: whatever was not filled before the crash is gone.
    """
    filled = sum((f.size for f in fills), Decimal(0))
    fees = sum((f.fee for f in fills), Decimal(0))
    if filled >= order.size:
        status = OrderStatus.FILLED
    elif filled > 0 or order.status is not OrderStatus.INTENT:
        status = OrderStatus.CANCELED
    else:
        status = OrderStatus.FAILED
    reason = f"recovery: closed after a restart ({filled} of {order.size} filled per the journal)"
    return OrderRecord(
        client_id=order.client_id,
        mode=order.mode,
        strategy=order.strategy,
        market=order.market,
        token_id=order.token_id,
        side=order.side,
        price=order.price,
        size=order.size,
        order_type=order.order_type,
        status=status,
        seq=seq + 1,
        created_ns=order.created_ns,
        updated_ns=now_ns,
        signal_id=order.signal_id,
        venue_id=order.venue_id,
        filled=filled,
        fees=fees,
        reason=reason,
        events=(OrderEvent(seq + 1, status, now_ns, reason),),
    )


async def reconcile_paper(
    engine: AsyncEngine,
    mode: Mode,
    journal: Iterable[LedgerEvent],
    *,
    starting_balance: Decimal,
    now_ns: int,
    close_open_orders: bool = True,
) -> ReconcileReport:
    started = time.perf_counter()
    events = list(journal)
    async with engine.begin() as conn:
        stored: dict[str, LedgerEvent] = {}
        for fill in await read_fills(conn, mode):
            stored[fill.fill_id] = fill
        for merge in await read_merges(conn, mode):
            stored[merge.merge_id] = merge
        for resolution in await read_resolutions(conn, mode):
            stored[resolution.resolution_id] = resolution

        missing: list[Record] = []
        mismatched: list[str] = []
        seen: set[str] = set()
        replayable: list[LedgerEvent] = []
        for event in events:
            event_id = ledger_event_id(event)
            if event_id in seen:
                continue  # the ledger ignores a repeated id; so do we
            seen.add(event_id)
            if isinstance(event, Fill) and event.mode is not mode:
                mismatched.append(event_id)
                continue
            replayable.append(event)
            have = stored.get(event_id)
            if have is None:
                if isinstance(event, Fill):
                    missing.append(FillRecord(fill=event))
                elif isinstance(event, Merge):
                    missing.append(MergeRecord(merge=event, mode=mode))
                else:
                    missing.append(ResolutionRecord(resolution=event, mode=mode))
            elif have != event:
                mismatched.append(event_id)
        not_journaled = sorted(set(stored) - seen)

        ledger, rows = rebuild(replayable, mode, now_ns, starting_balance=starting_balance)
        corrected = await _damaged_rows(conn, mode, rows, missing)
        closing: list[Record] = []
        if close_open_orders:
            by_order: dict[str, list[Fill]] = {}
            for event in replayable:
                if isinstance(event, Fill):
                    by_order.setdefault(event.client_order_id, []).append(event)
            for order, seq in await read_open_orders(conn, mode):
                closing.append(_close_order(order, seq, by_order.get(order.client_id, []), now_ns))
        await apply_records(conn, [*missing, rows, *closing])
    return ReconcileReport(
        journal_events=len(events),
        inserted=tuple(_inserted_id(r) for r in missing),
        missing_from_journal=tuple(not_journaled),
        mismatched=tuple(mismatched),
        closed_orders=tuple(r.client_id for r in closing if isinstance(r, OrderRecord)),
        ledger=ledger,
        corrected_rows=corrected,
        elapsed_s=time.perf_counter() - started,
    )


async def _damaged_rows(
    conn: AsyncConnection, mode: Mode, rebuilt: LedgerState, missing: Sequence[Record]
) -> tuple[str, ...]:
    """Stored ledger rows that differ from ``rebuilt`` and cannot be explained by ``missing``."""
    # A missing event may have been applied (and its rows written by an earlier record of the
    # same execution) or not: rows it touches, and P&L from its day on, may lag or lead.
    unsure_positions: set[tuple[str, str]] = set()
    unsure_from: date | None = None
    locks_unsure = False
    for record in missing:
        if isinstance(record, ResolutionRecord):
            return ()  # a resolution touches every position of its market: judge nothing
        event: LedgerEvent
        if isinstance(record, FillRecord):
            event = record.fill
            unsure_positions.add((event.strategy, event.token_id))
        elif isinstance(record, MergeRecord):
            event = record.merge
            unsure_positions.update((event.strategy, token) for token in event.token_ids)
            locks_unsure = True
        else:
            continue
        day = day_of(event.ts_ns)
        unsure_from = day if unsure_from is None else min(unsure_from, day)

    found: list[str] = []
    stored = {(p.strategy, p.token_id): (p.size, p.cost) for p in await read_positions(conn, mode)}
    expected = {(p.strategy, p.token_id): (p.size, p.cost) for p in rebuilt.positions if p.size}
    for key in sorted((stored.keys() | expected.keys()) - unsure_positions):
        have, want = stored.get(key), expected.get(key)
        if have != want:
            found.append(f"position {key[0]}/{key[1][:16]}: size, cost {have} (journal {want})")
    if not locks_unsure:
        stored_locks = {r.lock_id: (r.qty, r.cost) for r in await read_locked_sets(conn, mode)}
        expected_locks = {r.lock_id: (r.qty, r.cost) for r in rebuilt.locked or ()}
        for lock_id in sorted(stored_locks.keys() | expected_locks.keys()):
            if stored_locks.get(lock_id) != expected_locks.get(lock_id):
                found.append(
                    f"locked set {lock_id}: {stored_locks.get(lock_id)} "
                    f"(journal {expected_locks.get(lock_id)})"
                )
    c = t.daily_pnl.c
    daily = {
        (r["day"], r["strategy"]): (r["realized_pnl"], r["fees"])
        for r in (await conn.execute(select(t.daily_pnl).where(c.mode == mode.value))).mappings()
    }
    expected_daily = {(r.day, r.strategy): (r.realized_pnl, r.fees) for r in rebuilt.daily}
    for day, strategy in sorted(daily.keys() | expected_daily.keys()):
        if unsure_from is not None and day >= unsure_from:
            continue
        have, want = daily.get((day, strategy)), expected_daily.get((day, strategy))
        if have != want:
            found.append(f"daily P&L {day} {strategy or 'all'}: {have} (journal {want})")
    return tuple(found)


def _inserted_id(record: Record) -> str:
    if isinstance(record, FillRecord):
        return record.fill.fill_id
    if isinstance(record, MergeRecord):
        return record.merge.merge_id
    if isinstance(record, ResolutionRecord):
        return record.resolution.resolution_id
    return ""
