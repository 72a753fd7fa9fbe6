"""Read-side queries for the dashboard, the reports and the CLI.

Money is summed in Python with ``Decimal`` (SQLite keeps it as text; see ``tables``). Trades page
newest first with a keyset cursor ("<ts_ns>:<id>"), stable while new trades arrive.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from polyarb.domain.trading import Mode
from polyarb.store import tables as t
from polyarb.store.database import create_engine
from polyarb.store.ledger_rows import ALL_STRATEGIES, day_of
from polyarb.store.records import Detail, RiskStateRecord, decode_detail
from polyarb.store.recovery import read_risk

MAX_PAGE = 1000
_ALERT_COLUMNS = (
    t.alerts.c.id,
    t.alerts.c.ts_ns,
    t.alerts.c.severity,
    t.alerts.c.title,
    t.alerts.c.message,
    t.alerts.c.dedup_key,
    t.alerts.c.delivery,
    t.alerts.c.delivered_ns,
    t.alerts.c.event_id,
)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TradeRow:
    """A fill with the order it belongs to."""

    id: int
    fill_id: str
    ts_ns: int
    mode: str
    strategy: str
    market: str
    token_id: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: str
    client_order_id: str
    venue_id: str
    order_type: str
    order_price: Decimal | None
    order_size: Decimal | None
    order_status: str
    signal_id: str

    @property
    def notional(self) -> Decimal:
        return self.price * self.size


CSV_COLUMNS = (*(f.name for f in fields(TradeRow)), "notional")


@dataclass(frozen=True, slots=True)
class TradePage:
    rows: tuple[TradeRow, ...]
    next_cursor: str | None  # pass back as ``cursor`` for the next (older) page


@dataclass(frozen=True, slots=True)
class PositionView:
    mode: str
    strategy: str
    token_id: str
    market: str
    size: Decimal
    cost: Decimal
    updated_ns: int

    @property
    def avg_cost(self) -> Decimal:
        return self.cost / self.size if self.size else ZERO


@dataclass(frozen=True, slots=True)
class PnlLine:
    """Realized P&L (net of fees), fees, traded notional and fill count over a period."""

    key: str  # the day (YYYY-MM-DD) or the strategy
    realized_pnl: Decimal
    fees: Decimal
    volume: Decimal
    fills: int


# Opportunity lifetimes (last seen - first seen) are counted in these buckets: upper bound in
# milliseconds (exclusive) and label; the last bucket has no upper bound.
LIFETIME_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (10, "<10 ms"),
    (100, "10-100 ms"),
    (1_000, "100 ms-1 s"),
    (10_000, "1-10 s"),
    (None, ">=10 s"),
)


def lifetime_bucket(duration_ns: int) -> str:
    for upper_ms, label in LIFETIME_BUCKETS:
        if upper_ms is None or duration_ns < upper_ms * 1_000_000:
            return label
    raise AssertionError("the last bucket has no bound")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class OpportunityStats:
    strategy: str
    opportunities: int
    open: int
    by_outcome: dict[str, int]
    sightings: int
    best_edge_max: Decimal
    best_edge_mean: Decimal
    mean_duration_ms: Decimal
    lifetime_histogram: dict[str, int]  # every bucket of LIFETIME_BUCKETS, in order


@dataclass(frozen=True, slots=True)
class ErrorRow:
    id: int
    event_id: str
    ts_ns: int
    level: str
    source: str
    kind: str
    message: str
    detail: Detail


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    ts_ns: int
    actor: str
    action: str
    target: str
    outcome: str
    source_ip: str
    detail: Detail


@dataclass(frozen=True, slots=True)
class SignalRow:
    id: int
    signal_id: str
    mode: str
    strategy: str
    market: str
    ts_ns: int
    kind: str
    edge: Decimal
    size: Decimal
    cost: Decimal
    fees: Decimal
    outcome: str  # taken / denied / skipped ...
    reason: str
    detail: Detail


@dataclass(frozen=True, slots=True)
class SignalPage:
    rows: tuple[SignalRow, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    ts_ns: int
    severity: str
    title: str
    message: str
    dedup_key: str
    delivery: str = "none"  # what became of its Slack post (tables.alerts)
    delivered_ns: int | None = None
    event_id: str = ""


@dataclass(frozen=True, slots=True)
class MarketRow:
    condition_id: str
    question: str
    slug: str
    event_id: str
    neg_risk: bool
    outcomes: tuple[tuple[str, str], ...]  # (label, token id)
    first_seen_ns: int
    last_seen_ns: int


@dataclass(frozen=True, slots=True)
class EquityPoint:
    ts_ns: int
    equity: Decimal
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    exposure: Decimal


def parse_cursor(cursor: str) -> tuple[int, int]:
    ts, sep, row_id = cursor.partition(":")
    if not sep or not ts.isdigit() or not row_id.isdigit():
        raise ValueError(f"invalid trades cursor {cursor!r}")
    return int(ts), int(row_id)


def _day_bounds_ns(since: date | None, until: date | None) -> tuple[int | None, int | None]:
    """Unix-ns bounds [start of ``since``, start of the day after ``until``) in UTC."""

    def start(d: date) -> int:
        return int(datetime.combine(d, time(0), tzinfo=UTC).timestamp()) * 1_000_000_000

    return (
        start(since) if since else None,
        start(until + timedelta(days=1)) if until else None,
    )


class StoreQueries:
    """Queries over one database; ``mode`` (when given) is the default mode filter."""

    def __init__(self, engine: AsyncEngine, mode: Mode | None = None, *, owns_engine: bool = False):
        self._engine = engine
        self._mode = mode
        self._owns_engine = owns_engine

    @classmethod
    def open(cls, url: str, mode: Mode | None = None) -> StoreQueries:
        """Queries on their own connection pool (the dashboard process, the CLI)."""
        return cls(create_engine(url), mode, owns_engine=True)

    async def close(self) -> None:
        if self._owns_engine:
            await self._engine.dispose()

    def _mode_value(self, mode: Mode | None) -> str | None:
        chosen = mode or self._mode
        return chosen.value if chosen is not None else None

    # --- trades ----------------------------------------------------------------------------

    def _trades_select(
        self,
        mode: Mode | None,
        strategy: str | None,
        market: str | None,
        since_ns: int | None,
        until_ns: int | None,
    ) -> Select[Any]:
        f, o = t.fills.c, t.orders.c
        stmt = select(
            t.fills,
            o.venue_id,
            o.order_type,
            o.price.label("order_price"),
            o.size.label("order_size"),
            o.status.label("order_status"),
            o.signal_id,
        ).select_from(t.fills.outerjoin(t.orders, o.client_id == f.client_order_id))
        mode_value = self._mode_value(mode)
        if mode_value is not None:
            stmt = stmt.where(f.mode == mode_value)
        if strategy:
            stmt = stmt.where(f.strategy == strategy)
        if market:
            stmt = stmt.where(f.market == market)
        if since_ns is not None:
            stmt = stmt.where(f.ts_ns >= since_ns)
        if until_ns is not None:
            stmt = stmt.where(f.ts_ns < until_ns)
        return stmt

    async def trades(
        self,
        *,
        mode: Mode | None = None,
        strategy: str | None = None,
        market: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> TradePage:
        """Trades newest first; ``until_ns`` is exclusive, ``since_ns`` inclusive."""
        limit = max(1, min(limit, MAX_PAGE))
        f = t.fills.c
        stmt = self._trades_select(mode, strategy, market, since_ns, until_ns)
        if cursor:
            ts, row_id = parse_cursor(cursor)
            stmt = stmt.where(or_(f.ts_ns < ts, and_(f.ts_ns == ts, f.id < row_id)))
        stmt = stmt.order_by(f.ts_ns.desc(), f.id.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = [_trade(r) for r in (await conn.execute(stmt)).mappings()]
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = f"{rows[-1].ts_ns}:{rows[-1].id}" if more and rows else None
        return TradePage(tuple(rows), next_cursor)

    async def iter_trades(
        self,
        *,
        mode: Mode | None = None,
        strategy: str | None = None,
        market: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        page: int = MAX_PAGE,
    ) -> AsyncIterator[TradeRow]:
        """Every matching trade, oldest first, read page by page."""
        f = t.fills.c
        after: tuple[int, int] | None = None
        while True:
            stmt = self._trades_select(mode, strategy, market, since_ns, until_ns)
            if after is not None:
                ts, row_id = after
                stmt = stmt.where(or_(f.ts_ns > ts, and_(f.ts_ns == ts, f.id > row_id)))
            stmt = stmt.order_by(f.ts_ns, f.id).limit(page)
            async with self._engine.connect() as conn:
                rows = [_trade(r) for r in (await conn.execute(stmt)).mappings()]
            for row in rows:
                yield row
            if len(rows) < page:
                return
            after = (rows[-1].ts_ns, rows[-1].id)

    async def export_trades_csv(self, out: IO[str], **filters: Any) -> int:
        """Write matching trades (oldest first) as CSV with a header; returns the row count."""
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        count = 0
        async for row in self.iter_trades(**filters):
            writer.writerow(
                [_csv_value(getattr(row, name)) for name in CSV_COLUMNS[:-1]]
                + [_csv_value(row.notional)]
            )
            count += 1
        return count

    # --- positions and P&L -----------------------------------------------------------------

    async def positions(self, *, mode: Mode | None = None) -> list[PositionView]:
        c = t.positions.c
        stmt = select(t.positions).order_by(c.mode, c.strategy, c.token_id)
        mode_value = self._mode_value(mode)
        if mode_value is not None:
            stmt = stmt.where(c.mode == mode_value)
        async with self._engine.connect() as conn:
            return [
                PositionView(
                    mode=r["mode"],
                    strategy=r["strategy"],
                    token_id=r["token_id"],
                    market=r["market"],
                    size=r["size"],
                    cost=r["cost"],
                    updated_ns=r["updated_ns"],
                )
                for r in (await conn.execute(stmt)).mappings()
            ]

    async def risk_state(self, *, mode: Mode | None = None) -> RiskStateRecord | None:
        chosen = mode or self._mode
        if chosen is None:
            raise ValueError("risk_state needs a mode")
        async with self._engine.connect() as conn:
            return await read_risk(conn, chosen)

    async def _cumulative(self, mode: str) -> dict[str, list[tuple[date, Decimal, Decimal]]]:
        """Per strategy, the (day, cumulative realized, cumulative fees) rows in day order."""
        c = t.daily_pnl.c
        stmt = (
            select(c.strategy, c.day, c.realized_pnl, c.fees)
            .where(c.mode == mode)
            .order_by(c.strategy, c.day)
        )
        out: dict[str, list[tuple[date, Decimal, Decimal]]] = {}
        async with self._engine.connect() as conn:
            for strategy, day, realized, fees in await conn.execute(stmt):
                out.setdefault(strategy, []).append((day, realized, fees))
        return out

    async def _volume(
        self, mode: str, since: date | None, until: date | None, by: str
    ) -> dict[str, tuple[Decimal, int]]:
        since_ns, until_ns = _day_bounds_ns(since, until)
        f = t.fills.c
        stmt = select(f.ts_ns, f.strategy, f.price, f.size).where(f.mode == mode)
        if since_ns is not None:
            stmt = stmt.where(f.ts_ns >= since_ns)
        if until_ns is not None:
            stmt = stmt.where(f.ts_ns < until_ns)
        out: dict[str, tuple[Decimal, int]] = {}
        async with self._engine.connect() as conn:
            for ts_ns, strategy, price, size in await conn.execute(stmt):
                key = day_of(ts_ns).isoformat() if by == "day" else strategy
                volume, count = out.get(key, (ZERO, 0))
                out[key] = (volume + price * size, count + 1)
        return out

    def _require_mode(self, mode: Mode | None) -> str:
        value = self._mode_value(mode)
        if value is None:
            raise ValueError("P&L queries need a mode (paper, log-only or live)")
        return value

    async def pnl_by_day(
        self, *, mode: Mode | None = None, since: date | None = None, until: date | None = None
    ) -> list[PnlLine]:
        """Realized P&L per UTC day with activity, oldest first."""
        mode_value = self._require_mode(mode)
        series = (await self._cumulative(mode_value)).get(ALL_STRATEGIES, [])
        volume = await self._volume(mode_value, since, until, "day")
        lines = []
        previous = (ZERO, ZERO)
        for day, realized, fees in series:
            if (since is None or day >= since) and (until is None or day <= until):
                traded, count = volume.get(day.isoformat(), (ZERO, 0))
                lines.append(
                    PnlLine(
                        day.isoformat(), realized - previous[0], fees - previous[1], traded, count
                    )
                )
            previous = (realized, fees)
        return lines

    async def pnl_by_strategy(
        self, *, mode: Mode | None = None, since: date | None = None, until: date | None = None
    ) -> list[PnlLine]:
        """Realized P&L per strategy over the days ``since``..``until`` (inclusive)."""
        mode_value = self._require_mode(mode)
        cumulative = await self._cumulative(mode_value)
        volume = await self._volume(mode_value, since, until, "strategy")
        lines = []
        for strategy, series in sorted(cumulative.items()):
            if strategy == ALL_STRATEGIES:
                continue
            start = (ZERO, ZERO)
            end = (ZERO, ZERO)
            for day, realized, fees in series:
                if since is not None and day < since:
                    start = (realized, fees)
                if until is None or day <= until:
                    end = (realized, fees)
            traded, count = volume.get(strategy, (ZERO, 0))
            lines.append(PnlLine(strategy, end[0] - start[0], end[1] - start[1], traded, count))
        return lines

    # --- opportunities, errors, audit ----------------------------------------------------------

    async def opportunity_stats(
        self,
        *,
        mode: Mode | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> list[OpportunityStats]:
        c = t.opportunities.c
        stmt = select(
            c.strategy,
            c.first_seen_ns,
            c.last_seen_ns,
            c.best_edge,
            c.sightings,
            c.outcome,
            c.closed_ns,
        )
        mode_value = self._mode_value(mode)
        if mode_value is not None:
            stmt = stmt.where(c.mode == mode_value)
        if since_ns is not None:
            stmt = stmt.where(c.first_seen_ns >= since_ns)
        if until_ns is not None:
            stmt = stmt.where(c.first_seen_ns < until_ns)
        acc: dict[str, dict[str, Any]] = {}
        async with self._engine.connect() as conn:
            for strategy, first, last, edge, sightings, outcome, closed in await conn.execute(stmt):
                a = acc.setdefault(
                    strategy,
                    {
                        "n": 0,
                        "open": 0,
                        "out": {},
                        "sightings": 0,
                        "max": None,
                        "sum": ZERO,
                        "dur": 0,
                        "hist": dict.fromkeys((label for _, label in LIFETIME_BUCKETS), 0),
                    },
                )
                a["n"] += 1
                a["open"] += closed is None
                key = outcome or "open"
                a["out"][key] = a["out"].get(key, 0) + 1
                a["sightings"] += sightings
                a["max"] = edge if a["max"] is None or edge > a["max"] else a["max"]
                a["sum"] += edge
                a["dur"] += max(0, last - first)
                a["hist"][lifetime_bucket(max(0, last - first))] += 1
        return [
            OpportunityStats(
                strategy=strategy,
                opportunities=a["n"],
                open=a["open"],
                by_outcome=dict(sorted(a["out"].items())),
                sightings=a["sightings"],
                best_edge_max=a["max"] if a["max"] is not None else ZERO,
                best_edge_mean=a["sum"] / a["n"],
                mean_duration_ms=Decimal(a["dur"]) / a["n"] / 1_000_000,
                lifetime_histogram=a["hist"],
            )
            for strategy, a in sorted(acc.items())
        ]

    async def errors(
        self, *, since_ns: int | None = None, level: str | None = None, limit: int = 100
    ) -> list[ErrorRow]:
        c = t.errors.c
        stmt = select(t.errors).order_by(c.ts_ns.desc(), c.id.desc()).limit(min(limit, MAX_PAGE))
        if since_ns is not None:
            stmt = stmt.where(c.ts_ns >= since_ns)
        if level:
            stmt = stmt.where(c.level == level)
        async with self._engine.connect() as conn:
            return [
                ErrorRow(
                    id=r["id"],
                    event_id=r["event_id"],
                    ts_ns=r["ts_ns"],
                    level=r["level"],
                    source=r["source"],
                    kind=r["kind"],
                    message=r["message"],
                    detail=decode_detail(r["detail"]),
                )
                for r in (await conn.execute(stmt)).mappings()
            ]

    async def audit(self, *, before_id: int | None = None, limit: int = 100) -> list[AuditRow]:
        """Operator actions, newest first; page with ``before_id`` = the last row's id."""
        c = t.audit_log.c
        stmt = select(t.audit_log).order_by(c.id.desc()).limit(min(limit, MAX_PAGE))
        if before_id is not None:
            stmt = stmt.where(c.id < before_id)
        async with self._engine.connect() as conn:
            return [
                AuditRow(
                    id=r["id"],
                    ts_ns=r["ts_ns"],
                    actor=r["actor"],
                    action=r["action"],
                    target=r["target"],
                    outcome=r["outcome"],
                    source_ip=r["source_ip"],
                    detail=decode_detail(r["detail"]),
                )
                for r in (await conn.execute(stmt)).mappings()
            ]

    async def signals(
        self,
        *,
        mode: Mode | None = None,
        strategy: str | None = None,
        market: str | None = None,
        outcome: str | None = None,
        since_ns: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> SignalPage:
        """Signals newest first with what became of them; keyset cursor "<ts_ns>:<id>"."""
        limit = max(1, min(limit, MAX_PAGE))
        c = t.signals.c
        stmt = select(t.signals)
        mode_value = self._mode_value(mode)
        for column, value in (
            (c.mode, mode_value),
            (c.strategy, strategy),
            (c.market, market),
            (c.outcome, outcome),
        ):
            if value:
                stmt = stmt.where(column == value)
        if since_ns is not None:
            stmt = stmt.where(c.ts_ns >= since_ns)
        if cursor:
            ts, row_id = parse_cursor(cursor)
            stmt = stmt.where(or_(c.ts_ns < ts, and_(c.ts_ns == ts, c.id < row_id)))
        stmt = stmt.order_by(c.ts_ns.desc(), c.id.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = [
                SignalRow(**{**dict(r), "detail": decode_detail(r["detail"])})
                for r in (await conn.execute(stmt)).mappings()
            ]
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = f"{rows[-1].ts_ns}:{rows[-1].id}" if more and rows else None
        return SignalPage(tuple(rows), next_cursor)

    async def alerts(
        self, *, before_id: int | None = None, severity: str | None = None, limit: int = 100
    ) -> list[AlertRow]:
        """Alerts newest first; page with ``before_id`` = the last row's id."""
        c = t.alerts.c
        stmt = select(*_ALERT_COLUMNS).order_by(c.id.desc())
        if before_id is not None:
            stmt = stmt.where(c.id < before_id)
        if severity:
            stmt = stmt.where(c.severity == severity)
        async with self._engine.connect() as conn:
            result = await conn.execute(stmt.limit(max(1, min(limit, MAX_PAGE))))
            return [AlertRow(**dict(r)) for r in result.mappings()]

    async def undelivered_alerts(self, *, limit: int = 1000) -> list[AlertRow]:
        """Alerts still waiting for Slack (delivery ``pending``), oldest first: what the
        notifier is handed at the next start."""
        c = t.alerts.c
        stmt = select(*_ALERT_COLUMNS).where(c.delivery == "pending").order_by(c.id)
        async with self._engine.connect() as conn:
            result = await conn.execute(stmt.limit(max(1, limit)))
            return [AlertRow(**dict(r)) for r in result.mappings()]

    async def markets(self) -> list[MarketRow]:
        """Every market the engine has traded or watched, most recently seen first."""
        c = t.markets.c
        stmt = select(t.markets).order_by(c.last_seen_ns.desc(), c.condition_id)
        async with self._engine.connect() as conn:
            out = []
            for r in (await conn.execute(stmt)).mappings():
                outcomes = decode_detail(r["outcomes"]).get("outcomes", [])
                out.append(
                    MarketRow(
                        condition_id=r["condition_id"],
                        question=r["question"],
                        slug=r["slug"],
                        event_id=r["event_id"],
                        neg_risk=bool(r["neg_risk"]),
                        outcomes=tuple((str(o[0]), str(o[1])) for o in outcomes),
                        first_seen_ns=r["first_seen_ns"],
                        last_seen_ns=r["last_seen_ns"],
                    )
                )
            return out

    async def equity_curve(
        self,
        *,
        mode: Mode | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        max_points: int = 1000,
    ) -> list[EquityPoint]:
        """Equity snapshots oldest first, thinned evenly to at most ``max_points`` (the last
        snapshot always kept)."""
        mode_value = self._require_mode(mode)
        c = t.equity_snapshots.c
        stmt = select(c.ts_ns, c.equity, c.realized, c.unrealized, c.fees, c.exposure).where(
            c.mode == mode_value
        )
        if since_ns is not None:
            stmt = stmt.where(c.ts_ns >= since_ns)
        if until_ns is not None:
            stmt = stmt.where(c.ts_ns < until_ns)
        async with self._engine.connect() as conn:
            points = [
                EquityPoint(**dict(r))
                for r in (await conn.execute(stmt.order_by(c.ts_ns))).mappings()
            ]
        if len(points) <= max_points or max_points < 2:
            return points
        step = (len(points) - 1) / (max_points - 1)
        return [points[round(i * step)] for i in range(max_points)]

    async def count(self, table: str, *, mode: Mode | None = None) -> int:
        """Row count of one table (for health pages and tests)."""
        tbl = t.metadata.tables[table]
        stmt = select(func.count()).select_from(tbl)
        mode_value = self._mode_value(mode)
        if mode_value is not None and "mode" in tbl.c:
            stmt = stmt.where(tbl.c.mode == mode_value)
        async with self._engine.connect() as conn:
            return int(await conn.scalar(stmt) or 0)


def _trade(r: Any) -> TradeRow:
    return TradeRow(
        id=r["id"],
        fill_id=r["fill_id"],
        ts_ns=r["ts_ns"],
        mode=r["mode"],
        strategy=r["strategy"],
        market=r["market"],
        token_id=r["token_id"],
        side=r["side"],
        price=r["price"],
        size=r["size"],
        fee=r["fee"],
        liquidity=r["liquidity"],
        client_order_id=r["client_order_id"],
        venue_id=r["venue_id"] or "",
        order_type=r["order_type"] or "",
        order_price=r["order_price"],
        order_size=r["order_size"],
        order_status=r["order_status"] or "",
        signal_id=r["signal_id"] or "",
    )


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
