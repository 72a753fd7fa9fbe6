"""Writing records into the tables: one function that applies a batch inside a transaction.

Every statement is idempotent, so a batch can be applied any number of times with the same
result: appended rows use ``INSERT ... ON CONFLICT DO NOTHING`` on their natural key; state rows
(orders, positions, daily P&L, risk state, opportunities, markets) are upserts that replace the
previous state. Batches are applied in the order they were submitted (the writer and the spool
keep that order), so "the latest record wins" is the right rule for state rows; orders, whose
states arrive with a sequence number, additionally refuse to move backwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from polyarb.domain.trading import Fill
from polyarb.store import tables as t
from polyarb.store.database import dialect_insert, insert_ignore
from polyarb.store.records import (
    AlertDelivery,
    AlertRecord,
    AuditRecord,
    EquitySnapshot,
    ErrorRecord,
    FillRecord,
    LedgerState,
    MarketSeen,
    MergeRecord,
    OpportunityRecord,
    OrderRecord,
    Record,
    ResolutionRecord,
    RiskStateRecord,
    SignalRecord,
    TradeSettlementRecord,
    encode_detail,
)

Row = dict[str, Any]


def fill_row(fill: Fill) -> Row:
    return {
        "fill_id": fill.fill_id,
        "client_order_id": fill.client_order_id,
        "mode": fill.mode.value,
        "strategy": fill.strategy,
        "market": fill.market,
        "token_id": fill.token_id,
        "side": fill.side.value,
        "price": fill.price,
        "size": fill.size,
        "fee": fill.fee,
        "liquidity": fill.liquidity,
        "ts_ns": fill.ts_ns,
    }


class _Rows:
    """A batch sorted into rows per table; state rows keyed so the latest one wins."""

    def __init__(self) -> None:
        self.markets: dict[str, Row] = {}
        self.signals: list[Row] = []
        self.opportunities: dict[str, Row] = {}
        self.orders: dict[str, Row] = {}
        self.order_events: list[Row] = []
        self.fills: list[Row] = []
        self.settlements: dict[str, Row] = {}  # trade id -> its latest status
        self.positions: dict[tuple[str, str, str], Row] = {}
        self.locked: dict[str, list[Row]] = {}
        self.daily: dict[tuple[str, object, str], Row] = {}
        self.replace_positions: set[str] = set()  # modes whose positions are all rewritten
        self.replace_daily: set[str] = set()  # modes whose daily rows are all rewritten
        self.merges: list[Row] = []
        self.resolutions: list[Row] = []
        self.risk: dict[str, Row] = {}
        self.errors: list[Row] = []
        self.alerts: list[Row] = []
        self.deliveries: dict[str, Row] = {}  # event id -> its latest delivery state
        self.audit: list[Row] = []
        self.equity: list[Row] = []

    def add(self, record: Record) -> None:
        handler = _HANDLERS.get(type(record))
        if handler is None:
            raise TypeError(f"the store cannot write {type(record).__name__}")
        handler(self, record)

    def _market(self, r: MarketSeen) -> None:
        previous = self.markets.get(r.condition_id)
        self.markets[r.condition_id] = {
            "condition_id": r.condition_id,
            "question": r.question,
            "slug": r.slug,
            "event_id": r.event_id,
            "neg_risk": r.neg_risk,
            "outcomes": encode_detail({"outcomes": [list(o) for o in r.outcomes]}),
            "first_seen_ns": previous["first_seen_ns"] if previous else r.ts_ns,
            "last_seen_ns": r.ts_ns,
        }

    def _signal(self, r: SignalRecord) -> None:
        self.signals.append(
            {
                "signal_id": r.signal_id,
                "mode": r.mode.value,
                "strategy": r.strategy,
                "market": r.market,
                "ts_ns": r.ts_ns,
                "kind": r.kind,
                "edge": r.edge,
                "size": r.size,
                "cost": r.cost,
                "fees": r.fees,
                "outcome": r.outcome,
                "reason": r.reason,
                "detail": encode_detail(r.detail),
            }
        )

    def _opportunity(self, r: OpportunityRecord) -> None:
        self.opportunities[r.opportunity_id] = {
            "opportunity_id": r.opportunity_id,
            "mode": r.mode.value,
            "strategy": r.strategy,
            "market": r.market,
            "first_seen_ns": r.first_seen_ns,
            "last_seen_ns": r.last_seen_ns,
            "best_edge": r.best_edge,
            "executable_size": r.executable_size,
            "sightings": r.sightings,
            "outcome": r.outcome,
            "closed_ns": r.closed_ns,
            "detail": encode_detail(r.detail),
        }

    def _order(self, r: OrderRecord) -> None:
        previous = self.orders.get(r.client_id)
        if previous is None or previous["seq"] <= r.seq:
            payload = r.signed_payload
            if payload is None and previous is not None:
                payload = previous["signed_payload"]
            self.orders[r.client_id] = {
                "client_id": r.client_id,
                "venue_id": r.venue_id or None,
                "signal_id": r.signal_id,
                "mode": r.mode.value,
                "strategy": r.strategy,
                "market": r.market,
                "token_id": r.token_id,
                "side": r.side.value,
                "price": r.price,
                "size": r.size,
                "order_type": r.order_type.value,
                "status": r.status.value,
                "seq": r.seq,
                "filled": r.filled,
                "fees": r.fees,
                "reason": r.reason,
                "signed_payload": payload,
                "created_ns": r.created_ns,
                "updated_ns": r.updated_ns,
            }
        self.order_events.extend(
            {
                "client_id": r.client_id,
                "seq": e.seq,
                "status": e.status.value,
                "ts_ns": e.ts_ns,
                "mode": r.mode.value,
                "reason": e.reason,
            }
            for e in r.events
        )

    def _fill(self, r: FillRecord) -> None:
        self.fills.append(fill_row(r.fill))
        if r.ledger is not None:
            self._ledger(r.ledger)

    def _settlement(self, r: TradeSettlementRecord) -> None:
        self.settlements[r.trade_id] = {
            "trade_id": r.trade_id,
            "mode": r.mode.value,
            "status": r.status,
            "fill_ids": encode_detail({"fill_ids": list(r.fill_ids)}),
            "reason": r.reason,
            "updated_ns": r.ts_ns,
        }

    def _ledger(self, r: LedgerState) -> None:
        mode = r.mode.value
        if r.all_positions:
            self.replace_positions.add(mode)
            self.positions = {k: v for k, v in self.positions.items() if k[0] != mode}
        if r.all_daily:
            self.replace_daily.add(mode)
            self.daily = {k: v for k, v in self.daily.items() if k[0] != mode}
        for p in r.positions:
            self.positions[(mode, p.strategy, p.token_id)] = {
                "mode": mode,
                "strategy": p.strategy,
                "token_id": p.token_id,
                "market": p.market,
                "size": p.size,
                "cost": p.cost,
                "updated_ns": r.ts_ns,
            }
        if r.locked is not None:
            self.locked[mode] = [
                {
                    "mode": mode,
                    "lock_id": x.lock_id,
                    "strategy": x.strategy,
                    "market": x.market,
                    "token_ids": encode_detail({"token_ids": list(x.token_ids)}),
                    "qty": x.qty,
                    "cost": x.cost,
                    "updated_ns": r.ts_ns,
                }
                for x in r.locked
            ]
        for d in r.daily:
            self.daily[(mode, d.day, d.strategy)] = {
                "mode": mode,
                "day": d.day,
                "strategy": d.strategy,
                "realized_pnl": d.realized_pnl,
                "fees": d.fees,
                "updated_ns": r.ts_ns,
            }

    def _merge(self, r: MergeRecord) -> None:
        m = r.merge
        self.merges.append(
            {
                "merge_id": m.merge_id,
                "mode": r.mode.value,
                "strategy": m.strategy,
                "market": m.market,
                "token_ids": encode_detail({"token_ids": list(m.token_ids)}),
                "qty": m.qty,
                "locked": m.locked,
                "tx_cost": m.tx_cost,
                "tx_hash": r.tx_hash,
                "ts_ns": m.ts_ns,
            }
        )
        if r.ledger is not None:
            self._ledger(r.ledger)

    def _resolution(self, r: ResolutionRecord) -> None:
        x = r.resolution
        self.resolutions.append(
            {
                "resolution_id": x.resolution_id,
                "mode": r.mode.value,
                "market": x.market,
                "winning_token_id": x.winning_token_id,
                "token_ids": encode_detail({"token_ids": list(x.token_ids)}),
                "tx_cost": x.tx_cost,
                "ts_ns": x.ts_ns,
            }
        )
        if r.ledger is not None:
            self._ledger(r.ledger)

    def _risk(self, r: RiskStateRecord) -> None:
        self.risk[r.mode.value] = {
            "mode": r.mode.value,
            "state": r.state,
            "kill_switch": r.kill_switch,
            "reason": r.reason,
            "actor": r.actor,
            "detail": encode_detail(r.detail),
            "updated_ns": r.ts_ns,
        }

    def _error(self, r: ErrorRecord) -> None:
        self.errors.append(
            {
                "event_id": r.event_id,
                "ts_ns": r.ts_ns,
                "level": r.level,
                "source": r.source,
                "kind": r.kind,
                "message": r.message,
                "detail": encode_detail(r.detail),
            }
        )

    def _alert(self, r: AlertRecord) -> None:
        self.alerts.append(
            {
                "event_id": r.event_id,
                "ts_ns": r.ts_ns,
                "severity": r.severity,
                "title": r.title,
                "message": r.message,
                "dedup_key": r.dedup_key,
                "delivery": r.delivery,
                "delivered_ns": None,
            }
        )

    def _alert_delivery(self, r: AlertDelivery) -> None:
        for event_id in r.event_ids:
            self.deliveries[event_id] = {
                "b_event_id": event_id,
                "delivery": r.delivery,
                "delivered_ns": r.ts_ns,
            }

    def _audit(self, r: AuditRecord) -> None:
        self.audit.append(
            {
                "event_id": r.event_id,
                "ts_ns": r.ts_ns,
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "outcome": r.outcome,
                "source_ip": r.source_ip,
                "detail": encode_detail(r.detail),
            }
        )

    def _equity(self, r: EquitySnapshot) -> None:
        self.equity.append(
            {
                "mode": r.mode.value,
                "ts_ns": r.ts_ns,
                "equity": r.equity,
                "realized": r.realized,
                "unrealized": r.unrealized,
                "fees": r.fees,
                "exposure": r.exposure,
            }
        )


_HANDLERS: dict[type, Callable[[_Rows, Any], None]] = {
    AlertDelivery: _Rows._alert_delivery,
    MarketSeen: _Rows._market,
    SignalRecord: _Rows._signal,
    OpportunityRecord: _Rows._opportunity,
    OrderRecord: _Rows._order,
    FillRecord: _Rows._fill,
    LedgerState: _Rows._ledger,
    TradeSettlementRecord: _Rows._settlement,
    MergeRecord: _Rows._merge,
    ResolutionRecord: _Rows._resolution,
    RiskStateRecord: _Rows._risk,
    ErrorRecord: _Rows._error,
    AlertRecord: _Rows._alert,
    AuditRecord: _Rows._audit,
    EquitySnapshot: _Rows._equity,
}


async def _ignore(conn: AsyncConnection, table: Table, rows: Sequence[Row], *keys: str) -> None:
    """Append rows; a row whose key is already there is skipped (the idempotent insert)."""
    if rows:
        await conn.execute(insert_ignore(conn.dialect.name, table, *keys), list(rows))


async def _upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Row],
    keys: Sequence[str],
    *,
    keep: Sequence[str] = (),
    coalesce: Sequence[str] = (),
    where: Callable[[Any], Any] | None = None,
) -> None:
    """Insert or replace; ``keep`` columns keep their first value, ``coalesce`` columns keep
    theirs when the new value is NULL, ``where`` (given the statement) guards the replacement."""
    if not rows:
        return
    stmt = dialect_insert(conn.dialect.name, table)
    changed = {
        name: stmt.excluded[name] for name in rows[0] if name not in keys and name not in keep
    }
    for name in coalesce:
        changed[name] = func.coalesce(stmt.excluded[name], table.c[name])
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_=changed, where=where(stmt) if where else None
    )
    await conn.execute(stmt, list(rows))


async def _write_ledger(conn: AsyncConnection, rows: _Rows) -> None:
    for mode in sorted(rows.replace_positions):
        await conn.execute(delete(t.positions).where(t.positions.c.mode == mode))
    for mode in sorted(rows.replace_daily):
        await conn.execute(delete(t.daily_pnl).where(t.daily_pnl.c.mode == mode))
    closed = [r for r in rows.positions.values() if r["size"] == 0]
    held = [r for r in rows.positions.values() if r["size"] != 0]
    if closed:
        p = t.positions.c
        await conn.execute(
            delete(t.positions).where(
                p.mode == bindparam("b_mode"),
                p.strategy == bindparam("b_strategy"),
                p.token_id == bindparam("b_token_id"),
            ),
            [
                {"b_mode": r["mode"], "b_strategy": r["strategy"], "b_token_id": r["token_id"]}
                for r in closed
            ],
        )
    await _upsert(conn, t.positions, held, ["mode", "strategy", "token_id"])
    for mode, locked in sorted(rows.locked.items()):
        await conn.execute(delete(t.locked_sets).where(t.locked_sets.c.mode == mode))
        if locked:
            await conn.execute(insert(t.locked_sets), locked)
    await _upsert(conn, t.daily_pnl, list(rows.daily.values()), ["mode", "day", "strategy"])


async def apply_records(conn: AsyncConnection, records: Sequence[Record]) -> None:
    """Write ``records`` on ``conn``, inside the caller's transaction."""
    rows = _Rows()
    for record in records:
        rows.add(record)
    await _upsert(
        conn, t.markets, list(rows.markets.values()), ["condition_id"], keep=["first_seen_ns"]
    )
    await _ignore(conn, t.signals, rows.signals, "signal_id")
    await _upsert(
        conn,
        t.opportunities,
        list(rows.opportunities.values()),
        ["opportunity_id"],
        keep=["first_seen_ns"],
    )
    await _upsert(
        conn,
        t.orders,
        list(rows.orders.values()),
        ["client_id"],
        keep=["created_ns"],
        coalesce=["venue_id", "signed_payload"],
        where=lambda stmt: t.orders.c.seq <= stmt.excluded.seq,
    )
    await _ignore(conn, t.order_events, rows.order_events, "client_id", "status", "seq")
    await _ignore(conn, t.fills, rows.fills, "fill_id")
    await _upsert(conn, t.trade_settlements, list(rows.settlements.values()), ["trade_id"])
    await _ignore(conn, t.merges, rows.merges, "merge_id")
    await _ignore(conn, t.resolutions, rows.resolutions, "resolution_id")
    await _write_ledger(conn, rows)
    await _upsert(conn, t.risk_state, list(rows.risk.values()), ["mode"])
    await _ignore(conn, t.errors, rows.errors, "event_id")
    await _ignore(conn, t.alerts, rows.alerts, "event_id")
    if rows.deliveries:
        stmt = update(t.alerts).where(t.alerts.c.event_id == bindparam("b_event_id"))
        await conn.execute(stmt, list(rows.deliveries.values()))
    await _ignore(conn, t.audit_log, rows.audit, "event_id")
    await _ignore(conn, t.equity_snapshots, rows.equity, "mode", "ts_ns")
