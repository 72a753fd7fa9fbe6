"""Retention: delete old raw rows, never the books of record.

Pruned: signals, opportunities (last seen before the cutoff), errors, alerts, and the state
history of orders that reached a terminal state. Never pruned: fills, orders, positions, locked
sets, merges, resolutions, daily P&L, risk state, markets, the audit log. Deletes go in chunks,
each its own short transaction, so a large prune never holds a long lock on a live database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from polyarb.domain.trading import OrderStatus
from polyarb.store import tables as t

NS_PER_DAY = 86_400 * 1_000_000_000
TERMINAL = tuple(s.value for s in OrderStatus if s.is_terminal)
NEVER_PRUNED = (
    "fills",
    "orders",
    "positions",
    "locked_sets",
    "merges",
    "resolutions",
    "daily_pnl",
    "risk_state",
    "markets",
    "audit_log",
)


@dataclass(frozen=True, slots=True)
class PruneReport:
    cutoff_ns: int
    deleted: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


async def _delete_chunked(
    engine: AsyncEngine, table: Table, condition: ColumnElement[bool], chunk: int
) -> int:
    total = 0
    while True:
        ids = select(table.c.id).where(condition).limit(chunk).scalar_subquery()
        async with engine.begin() as conn:
            result = await conn.execute(delete(table).where(table.c.id.in_(ids)))
        deleted = int(result.rowcount or 0)
        total += deleted
        if deleted < chunk:
            return total


async def prune(
    engine: AsyncEngine,
    *,
    older_than_days: float,
    now_ns: int | None = None,
    chunk: int = 5000,
) -> PruneReport:
    """Delete raw rows older than ``older_than_days`` days."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be >= 0")
    cutoff = (now_ns if now_ns is not None else time.time_ns()) - int(older_than_days * NS_PER_DAY)
    terminal_orders = select(t.orders.c.client_id).where(t.orders.c.status.in_(TERMINAL))
    plan: list[tuple[Table, ColumnElement[bool]]] = [
        (t.signals, t.signals.c.ts_ns < cutoff),
        (t.opportunities, t.opportunities.c.last_seen_ns < cutoff),
        (t.errors, t.errors.c.ts_ns < cutoff),
        (t.alerts, t.alerts.c.ts_ns < cutoff),
        (
            t.order_events,
            (t.order_events.c.ts_ns < cutoff) & t.order_events.c.client_id.in_(terminal_orders),
        ),
    ]
    deleted = {}
    for table, condition in plan:
        deleted[table.name] = await _delete_chunked(engine, table, condition, chunk)
    return PruneReport(cutoff_ns=cutoff, deleted=deleted)
