"""The ledger as rows: what to write after an event, and a full rebuild from the events.

The rows are projections of ``polyarb.domain.ledger.Ledger`` (the source of truth is the events:
fills, merges, resolutions): positions per (strategy, token), locked negRisk sets, and per UTC
day the cumulative realized P&L and fees per strategy ("" = the whole ledger).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from polyarb.domain.ledger import Ledger, LedgerEvent, utc_day
from polyarb.domain.trading import Mode
from polyarb.store.records import DailyPnlRow, LedgerState, LockedSetRow, PositionRow

ALL_STRATEGIES = ""


def day_of(ts_ns: int) -> date:
    return date.fromisoformat(utc_day(ts_ns))


def daily_rows(ledger: Ledger, ts_ns: int) -> tuple[DailyPnlRow, ...]:
    """Cumulative P&L rows, as of now, for the UTC day of ``ts_ns``."""
    day = day_of(ts_ns)
    realized = ledger.pnl_by_strategy()
    fees = ledger.fees_by_strategy()
    rows = [
        DailyPnlRow(
            day=day,
            strategy=ALL_STRATEGIES,
            realized_pnl=ledger.realized_pnl,
            fees=ledger.fees_paid,
        )
    ]
    rows.extend(
        DailyPnlRow(
            day=day,
            strategy=strategy,
            realized_pnl=realized.get(strategy, Decimal(0)),
            fees=fees.get(strategy, Decimal(0)),
        )
        for strategy in sorted(realized.keys() | fees.keys())
    )
    return tuple(rows)


def locked_rows(ledger: Ledger) -> tuple[LockedSetRow, ...]:
    return tuple(
        LockedSetRow(
            lock_id=s.lock_id,
            strategy=s.strategy,
            market=s.market,
            token_ids=s.token_ids,
            qty=s.qty,
            cost=s.cost,
        )
        for s in ledger.locked_sets()
    )


def ledger_state(
    ledger: Ledger,
    mode: Mode,
    ts_ns: int,
    *,
    touched: Iterable[tuple[str, str]] | None = None,
    markets: Mapping[str, str] | None = None,
    locked_changed: bool = False,
) -> LedgerState:
    """The rows an event changed: the ``touched`` (strategy, token) positions (all when None),
    the locked sets when ``locked_changed``, and the cumulative P&L of the event's day.

    ``markets`` (token -> condition id, e.g. the fill's) saves a scan of every position: on the
    hot path only the touched positions are looked up.
    """
    if touched is None:
        positions = tuple(
            PositionRow(
                strategy=p.strategy,
                token_id=p.token_id,
                market=p.market,
                size=p.shares,
                cost=p.cost,
            )
            for p in sorted(ledger.positions(), key=lambda p: (p.strategy, p.token_id))
        )
    else:
        rows = []
        held: dict[tuple[str, str], str] | None = None
        for strategy, token_id in sorted(set(touched)):
            size = ledger.shares(token_id, strategy)
            market = (markets or {}).get(token_id, "")
            if size and not market:
                if held is None:
                    held = {(p.strategy, p.token_id): p.market for p in ledger.positions()}
                market = held.get((strategy, token_id), "")
            rows.append(
                PositionRow(
                    strategy=strategy,
                    token_id=token_id,
                    market=market,
                    size=size,
                    cost=ledger.cost_basis(token_id, strategy) if size else Decimal(0),
                )
            )
        positions = tuple(rows)
    return LedgerState(
        mode=mode,
        ts_ns=ts_ns,
        positions=positions,
        locked=locked_rows(ledger) if locked_changed or touched is None else None,
        daily=daily_rows(ledger, ts_ns),
        all_positions=touched is None,
    )


def rebuild(
    events: Iterable[LedgerEvent],
    mode: Mode,
    ts_ns: int,
    *,
    starting_balance: Decimal = Decimal(0),
) -> tuple[Ledger, LedgerState]:
    """Replay ``events`` in order into a fresh ledger; return it and every row it implies
    (positions, locked sets, and the cumulative P&L of every day with activity)."""
    ledger = Ledger(starting_balance)
    daily: dict[tuple[date, str], DailyPnlRow] = {}
    for event in events:
        if ledger.apply(event).duplicate:
            continue
        for row in daily_rows(ledger, event.ts_ns):
            daily[(row.day, row.strategy)] = row
    state = ledger_state(ledger, mode, ts_ns)
    return ledger, LedgerState(
        mode=mode,
        ts_ns=ts_ns,
        positions=state.positions,
        locked=state.locked,
        daily=tuple(daily[key] for key in sorted(daily)),
        all_positions=True,
        all_daily=True,
    )
