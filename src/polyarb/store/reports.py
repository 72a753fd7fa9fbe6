"""Reports from the database alone: the paper-trading validation report and the daily report.

Realized P&L and fees come from a replay of the stored ledger events (fills, merges, resolutions,
``Ledger.recompute``): the value at the end of a window minus the value at its start, so a window
of hours (``--since 72h``) is exact, not rounded to the UTC days of ``daily_pnl``. Everything else
is read from the rows: signals (submitted / filled / denied), the signal's legs (their VWAP and
limit) against the fills of its orders (slippage), opportunities (lifetimes, why missed), the
equity snapshots. Money stays ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from polyarb.domain.ledger import Ledger, Resolution
from polyarb.domain.trading import Mode
from polyarb.store import tables as t
from polyarb.store.apply import apply_records
from polyarb.store.database import insert_ignore
from polyarb.store.ledger_rows import day_of
from polyarb.store.records import AlertRecord, decode_detail
from polyarb.store.recovery import read_fills, read_merges, read_resolutions

ZERO = Decimal(0)
NS_PER_MS = 1_000_000
NS_PER_HOUR = 3_600 * 1_000_000_000
DENIED = "denied:"
# Signal outcomes of an attempt that was approved and sent (the final one is stored).
SUBMITTED = ("taken", "filled", "partial", "failed")
# The seed's Phase 8: "Monitor for 48-72 hours before enabling real trading"; success criteria of
# the one-month test: "Paper trading profitable for 1 week".
MIN_PAPER_HOURS = 48
PROFITABLE_DAYS = 7


@dataclass(frozen=True, slots=True)
class StrategyPnl:
    strategy: str
    realized: Decimal  # net of fees
    fees: Decimal
    fills: int
    volume: Decimal


@dataclass(frozen=True, slots=True)
class FillRatio:
    strategy: str
    signals: int  # all signals in the window
    submitted: int  # approved and sent
    filled: int  # every leg filled
    partial: int
    failed: int
    denied: int

    @property
    def ratio(self) -> Decimal | None:
        return Decimal(self.filled) / self.submitted if self.submitted else None


@dataclass(frozen=True, slots=True)
class Slippage:
    """Fills of a signal's legs against the leg's VWAP and limit; positive = worse for us."""

    strategy: str
    fills: int
    shares: Decimal
    vs_vwap: Decimal  # USD
    vs_limit: Decimal  # USD
    other_fills: int  # fills of the signal's orders that are no leg (unwinds, completions)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    strategy: str
    closed: int
    p50_ms: Decimal | None
    p90_ms: Decimal | None
    max_ms: Decimal | None
    outlive_latency: int  # closed opportunities that lived at least the paper latency


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    met: bool
    value: str
    target: str


@dataclass(frozen=True, slots=True)
class ValidationReport:
    mode: str
    since_ns: int
    until_ns: int
    paper_latency_ms: int
    span_hours: Decimal  # first to last activity in the window
    pnl: tuple[StrategyPnl, ...]
    total_realized: Decimal
    total_fees: Decimal
    worst_day: tuple[str, Decimal] | None
    fill_ratios: tuple[FillRatio, ...]
    slippage: tuple[Slippage, ...]
    lifetimes: tuple[Lifetimes, ...]
    missed: dict[str, dict[str, int]]  # strategy -> reason -> opportunities not traded
    equity: tuple[tuple[int, Decimal], ...]
    orphan_fills: int  # fills whose order is not stored
    order_mismatches: int  # orders whose ``filled`` is not the sum of their fills
    criteria: tuple[Criterion, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class DailyLine:
    strategy: str  # "" = total
    realized: Decimal  # net of fees
    unrealized: Decimal | None  # the total's only: the day's last equity snapshot
    fees: Decimal
    payouts: Decimal  # what resolutions of the day paid (positions and locked sets)
    trades: int
    merges: int
    merged_sets: Decimal
    conversions: int
    converted_sets: Decimal
    seen: int  # opportunities first seen that day
    taken: int  # ... approved and sent
    missed: int  # ... closed without being sent
    life_p50_ms: Decimal | None  # lifetimes of those closed (last - first sighting)
    life_p90_ms: Decimal | None

    def columns(self) -> tuple[Decimal | int | None, ...]:
        """Every column but the strategy, in field order (``DAILY_HEADER``)."""
        return tuple(getattr(self, f.name) for f in fields(self)[1:])


@dataclass(frozen=True, slots=True)
class DailyReport:
    mode: str
    day: str
    lines: tuple[DailyLine, ...]  # per strategy, then the total ("")
    marked_ns: int | None = None  # the equity snapshot the unrealized P&L is from


# --- ledger -----------------------------------------------------------------------------------


Events = tuple[list[Any], list[Any], list[Any]]  # fills, merges, resolutions
# realized, fees and resolution payouts per strategy (cumulative)
Mark = tuple[dict[str, Decimal], dict[str, Decimal], dict[str, Decimal]]


async def _events(conn: AsyncConnection, mode: Mode) -> Events:
    return (
        await read_fills(conn, mode),
        await read_merges(conn, mode),
        await read_resolutions(conn, mode),
    )


def _marks(events: Events, boundaries: Iterable[int]) -> dict[int, Mark]:
    """Realized P&L, fees and resolution payouts per strategy from the events before each
    boundary: one replay in time order (fills, then merges, then resolutions at equal
    timestamps, as ``Ledger.recompute``)."""
    ordered = sorted(
        ((e.ts_ns, rank, i, e) for rank, group in enumerate(events) for i, e in enumerate(group)),
        key=lambda item: item[:3],
    )
    ledger = Ledger()
    paid: dict[str, Decimal] = {}
    out: dict[int, Mark] = {}
    position = 0
    for boundary in sorted(set(boundaries)):
        while position < len(ordered) and ordered[position][0] < boundary:
            event = ordered[position][3]
            if isinstance(event, Resolution):
                for strategy, amount in ledger.resolution_payouts(event).items():
                    paid[strategy] = paid.get(strategy, ZERO) + amount
            ledger.apply(event)
            position += 1
        out[boundary] = (ledger.pnl_by_strategy(), ledger.fees_by_strategy(), dict(paid))
    return out


def _window_pnl(
    events: Events, marks: dict[int, Mark], since_ns: int, until_ns: int
) -> dict[str, tuple[Decimal, Decimal]]:
    """Per strategy, (realized, fees) over ``[since_ns, until_ns)`` (both in ``marks``)."""
    (r0, f0, _), (r1, f1, _) = marks[since_ns], marks[until_ns]
    touched: set[str] = {
        e.strategy for group in events[:2] for e in group if since_ns <= e.ts_ns < until_ns
    }
    keys = sorted(set(r1) | set(f1) | touched)
    out = {}
    for key in keys:
        realized = r1.get(key, ZERO) - r0.get(key, ZERO)
        fees = f1.get(key, ZERO) - f0.get(key, ZERO)
        if realized or fees or key in touched:
            out[key] = (realized, fees)
    return out


def _percentile(values: list[int], q: int) -> Decimal | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, (len(ordered) * q + 99) // 100 - 1)
    return Decimal(ordered[max(index, 0)]) / NS_PER_MS


# --- validation -------------------------------------------------------------------------------


async def _rows_in(
    conn: AsyncConnection, table: Table, column: str, mode: Mode, since_ns: int, until_ns: int
) -> list[dict[str, Any]]:
    """``table``'s rows of ``mode`` whose ``column`` (a time in ns) is in ``[since, until)``."""
    when = table.c[column]
    stmt = select(table).where(table.c.mode == mode.value, when >= since_ns, when < until_ns)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def validation_report(
    engine: AsyncEngine,
    mode: Mode,
    *,
    since_ns: int,
    until_ns: int,
    paper_latency_ms: int,
    max_daily_loss: Decimal,
) -> ValidationReport:
    async with engine.connect() as conn:
        events = await _events(conn, mode)
        window_fills = [f for f in events[0] if since_ns <= f.ts_ns < until_ns]
        signals = await _rows_in(conn, t.signals, "ts_ns", mode, since_ns, until_ns)
        orders = {
            r["client_id"]: dict(r)
            for r in (
                await conn.execute(select(t.orders).where(t.orders.c.mode == mode.value))
            ).mappings()
        }
        opportunities = await _rows_in(
            conn, t.opportunities, "first_seen_ns", mode, since_ns, until_ns
        )
        e = t.equity_snapshots.c
        equity = [
            (int(ts), value)
            for ts, value in await conn.execute(
                select(e.ts_ns, e.equity)
                .where(e.mode == mode.value, e.ts_ns >= since_ns, e.ts_ns < until_ns)
                .order_by(e.ts_ns)
            )
        ]

    # P&L per strategy and per UTC day touched by the window, from one ledger replay
    days = sorted(
        {day_of(x.ts_ns) for group in events for x in group if since_ns <= x.ts_ns < until_ns}
    )
    day_bounds = [
        (
            day.isoformat(),
            max(_day_start_ns(day.isoformat()), since_ns),
            min(_day_start_ns(day.isoformat()) + 24 * NS_PER_HOUR, until_ns),
        )
        for day in days
    ]
    marks = _marks(events, [since_ns, until_ns, *(b for _, *bs in day_bounds for b in bs)])
    window = _window_pnl(events, marks, since_ns, until_ns)
    volume: dict[str, tuple[int, Decimal]] = {}
    for f in window_fills:
        n, v = volume.get(f.strategy, (0, ZERO))
        volume[f.strategy] = (n + 1, v + f.price * f.size)
    pnl = tuple(
        StrategyPnl(s, r, fee, *volume.get(s, (0, ZERO))) for s, (r, fee) in sorted(window.items())
    )
    total_realized = sum((p.realized for p in pnl), ZERO)
    total_fees = sum((p.fees for p in pnl), ZERO)

    # worst UTC day of the window (the part of each day inside it)
    by_day = {
        day: sum((r for r, _ in _window_pnl(events, marks, start, end).values()), ZERO)
        for day, start, end in day_bounds
    }
    worst_day = min(by_day.items(), key=lambda kv: kv[1]) if by_day else None

    # fill ratio
    ratios: dict[str, list[int]] = {}
    for s in signals:
        a = ratios.setdefault(s["strategy"], [0, 0, 0, 0, 0, 0])
        outcome = s["outcome"]
        a[0] += 1
        if outcome in SUBMITTED:
            a[1] += 1
            a[2] += outcome == "filled"
            a[3] += outcome == "partial"
            a[4] += outcome == "failed"
        elif outcome.startswith(DENIED):
            a[5] += 1
    fill_ratios = tuple(FillRatio(k, *v) for k, v in sorted(ratios.items()))

    # slippage: fills of a signal's orders against the matching leg
    legs: dict[str, dict[tuple[str, str], tuple[Decimal, Decimal]]] = {}
    signal_strategy: dict[str, str] = {}
    for s in signals:
        signal_strategy[s["signal_id"]] = s["strategy"]
        for leg in decode_detail(s["detail"]).get("legs", ()):
            legs.setdefault(s["signal_id"], {})[(str(leg["token_id"]), str(leg["side"]))] = (
                Decimal(str(leg["vwap"])),
                Decimal(str(leg["limit_price"])),
            )
    slip: dict[str, list[Any]] = {}
    for f in window_fills:
        order = orders.get(f.client_order_id)
        if order is None or order["signal_id"] not in legs:
            continue
        a = slip.setdefault(signal_strategy[order["signal_id"]], [0, ZERO, ZERO, ZERO, 0])
        leg = legs[order["signal_id"]].get((f.token_id, f.side.value))
        if leg is None:
            a[4] += 1
            continue
        sign = 1 if f.side.value == "BUY" else -1
        a[0] += 1
        a[1] += f.size
        a[2] += sign * (f.price - leg[0]) * f.size
        a[3] += sign * (f.price - leg[1]) * f.size
    slippage = tuple(Slippage(k, *v) for k, v in sorted(slip.items()))

    # opportunity lifetimes and why edges were not traded
    lives: dict[str, list[int]] = {}
    missed: dict[str, dict[str, int]] = {}
    for o in opportunities:
        if o["closed_ns"] is not None:
            lives.setdefault(o["strategy"], []).append(
                max(0, o["last_seen_ns"] - o["first_seen_ns"])
            )
        outcome = o["outcome"] or "open"
        if outcome not in SUBMITTED and outcome != "open":
            reasons = missed.setdefault(o["strategy"], {})
            reasons[outcome] = reasons.get(outcome, 0) + 1
    latency_ns = paper_latency_ms * NS_PER_MS
    lifetimes = tuple(
        Lifetimes(
            k,
            len(v),
            _percentile(v, 50),
            _percentile(v, 90),
            Decimal(max(v)) / NS_PER_MS,
            sum(1 for x in v if x >= latency_ns),
        )
        for k, v in sorted(lives.items())
    )

    # trade history: every fill has its order, every order's ``filled`` is the sum of its fills
    per_order: dict[str, Decimal] = {}
    orphans = 0
    for f in events[0]:
        if f.client_order_id not in orders:
            orphans += 1
        per_order[f.client_order_id] = per_order.get(f.client_order_id, ZERO) + f.size
    mismatches = sum(
        1 for cid, o in orders.items() if (o["filled"] or ZERO) != per_order.get(cid, ZERO)
    )

    stamps = [x.ts_ns for group in events for x in group if since_ns <= x.ts_ns < until_ns]
    stamps += [ts for ts, _ in equity] + [s["ts_ns"] for s in signals]
    stamps += [o["first_seen_ns"] for o in opportunities]
    span_hours = (Decimal(max(stamps) - min(stamps)) / NS_PER_HOUR if stamps else ZERO).quantize(
        Decimal("0.01")
    )

    report = ValidationReport(
        mode=mode.value,
        since_ns=since_ns,
        until_ns=until_ns,
        paper_latency_ms=paper_latency_ms,
        span_hours=span_hours,
        pnl=pnl,
        total_realized=total_realized,
        total_fees=total_fees,
        worst_day=worst_day,
        fill_ratios=fill_ratios,
        slippage=slippage,
        lifetimes=lifetimes,
        missed=missed,
        equity=tuple(equity),
        orphan_fills=orphans,
        order_mismatches=mismatches,
    )
    criteria = _criteria(report, max_daily_loss)
    return ValidationReport(**{**_fields(report), "criteria": criteria})


def _fields(report: ValidationReport) -> dict[str, Any]:
    return {name: getattr(report, name) for name in report.__dataclass_fields__}


def _criteria(r: ValidationReport, max_daily_loss: Decimal) -> tuple[Criterion, ...]:
    worst = r.worst_day[1] if r.worst_day else ZERO
    return (
        Criterion(
            "monitored 48-72 hours before real trading (Phase 8)",
            r.span_hours >= MIN_PAPER_HOURS,
            f"{r.span_hours} h of activity",
            f">= {MIN_PAPER_HOURS} h",
        ),
        Criterion(
            "paper trading profitable over the window",
            r.total_realized > 0,
            f"realized {r.total_realized} USD (fees {r.total_fees} included)",
            "> 0 USD",
        ),
        Criterion(
            "paper trading profitable for 1 week (success criteria)",
            r.total_realized > 0 and r.span_hours >= PROFITABLE_DAYS * 24,
            f"realized {r.total_realized} USD over {r.span_hours} h",
            f"> 0 USD over >= {PROFITABLE_DAYS * 24} h",
        ),
        Criterion(
            "daily loss within RISK_MAX_DAILY_LOSS",
            -worst <= max_daily_loss,
            f"worst day {r.worst_day[0]}: {worst} USD" if r.worst_day else "no trading day",
            f"loss <= {max_daily_loss} USD",
        ),
        Criterion(
            "trade history persisted (every fill has its order, order fills add up)",
            r.orphan_fills == 0 and r.order_mismatches == 0,
            f"{r.orphan_fills} orphan fill(s), {r.order_mismatches} order(s) not adding up",
            "0 and 0",
        ),
    )


def _day_start_ns(day: str) -> int:
    from datetime import UTC, datetime

    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


# --- daily ------------------------------------------------------------------------------------


async def daily_report(engine: AsyncEngine, mode: Mode, day: str) -> DailyReport:
    """Per strategy and in total for the UTC ``day`` (YYYY-MM-DD), from the database alone:
    realized P&L and fees (a ledger replay: the value at the day's end less the value at its
    start), resolution payouts (what each strategy's holdings received from resolutions of the
    day), trades, merges and conversions, opportunities first seen that day (seen, taken, missed
    and the lifetimes of those closed), and the unrealized P&L of the day's last equity
    snapshot (marks are not stored per strategy, so only the total has it)."""
    start_ns = _day_start_ns(day)
    end_ns = start_ns + 24 * NS_PER_HOUR
    async with engine.connect() as conn:
        events = await _events(conn, mode)
        o = t.opportunities.c
        opportunities = list(
            await conn.execute(
                select(o.strategy, o.outcome, o.first_seen_ns, o.last_seen_ns, o.closed_ns).where(
                    o.mode == mode.value, o.first_seen_ns >= start_ns, o.first_seen_ns < end_ns
                )
            )
        )
        e = t.equity_snapshots.c
        snapshot = (
            await conn.execute(
                select(e.ts_ns, e.unrealized)
                .where(e.mode == mode.value, e.ts_ns >= start_ns, e.ts_ns < end_ns)
                .order_by(e.ts_ns.desc())
                .limit(1)
            )
        ).first()
    marks = _marks(events, (start_ns, end_ns))
    pnl = _window_pnl(events, marks, start_ns, end_ns)
    paid0, paid1 = marks[start_ns][2], marks[end_ns][2]
    acc: dict[str, _DayAcc] = {}

    def line(strategy: str) -> _DayAcc:
        return acc.setdefault(strategy, _DayAcc())

    for strategy, (realized, fees) in pnl.items():
        line(strategy).realized, line(strategy).fees = realized, fees
    for strategy, paid in paid1.items():
        if strategy not in paid0 or paid != paid0[strategy]:  # a resolution of the day paid it
            line(strategy).payouts = paid - paid0.get(strategy, ZERO)
    for f in events[0]:
        if start_ns <= f.ts_ns < end_ns:
            line(f.strategy).trades += 1
    for m in events[1]:
        if start_ns <= m.ts_ns < end_ns:
            a = line(m.strategy)
            if m.collateral_per_set > 1:  # negRisk conversion of the NO tokens of n outcomes
                a.conversions += 1
                a.converted_sets += m.qty
            else:
                a.merges += 1
                a.merged_sets += m.qty
    for strategy, outcome, first_ns, last_ns, closed_ns in opportunities:
        a = line(strategy)
        a.seen += 1
        if outcome in SUBMITTED:
            a.taken += 1
        elif outcome is not None:
            a.missed += 1
        if closed_ns is not None:
            a.lives.append(max(0, last_ns - first_ns))
    lines = [acc[s].line(s) for s in sorted(acc)]
    total = _DayAcc()
    for a in acc.values():
        total.add(a)
    unrealized = snapshot[1] if snapshot is not None else None
    return DailyReport(
        mode.value,
        day,
        (*lines, total.line("", unrealized)),
        snapshot[0] if snapshot is not None else None,
    )


@dataclass(slots=True)
class _DayAcc:
    """One line of the daily report while it is added up."""

    realized: Decimal = ZERO
    fees: Decimal = ZERO
    payouts: Decimal = ZERO
    trades: int = 0
    merges: int = 0
    merged_sets: Decimal = ZERO
    conversions: int = 0
    converted_sets: Decimal = ZERO
    seen: int = 0
    taken: int = 0
    missed: int = 0
    lives: list[int] = field(default_factory=list)

    def add(self, other: _DayAcc) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def line(self, strategy: str, unrealized: Decimal | None = None) -> DailyLine:
        return DailyLine(
            strategy,
            self.realized,
            unrealized,
            self.fees,
            self.payouts,
            self.trades,
            self.merges,
            self.merged_sets,
            self.conversions,
            self.converted_sets,
            self.seen,
            self.taken,
            self.missed,
            _percentile(self.lives, 50),
            _percentile(self.lives, 90),
        )


DAILY_HEADER = (
    "strategy",
    "realized",
    "unrealized",
    "fees",
    "payouts",
    "trades",
    "merges",
    "merged",
    "conversions",
    "converted",
    "seen",
    "taken",
    "missed",
    "life_p50_ms",
    "life_p90_ms",
)


def daily_text(report: DailyReport) -> str:
    """The daily report as a fixed-width table (what ``polyarb report daily`` prints and the
    scheduled report posts); "-" where a figure does not exist (no snapshot, nothing closed)."""
    rows = [
        (
            x.strategy or "TOTAL",
            *(
                "-" if v is None else format(v, "f") if isinstance(v, Decimal) else str(v)
                for v in x.columns()
            ),
        )
        for x in report.lines
    ]
    widths = [max(len(r[i]) for r in (DAILY_HEADER, *rows)) for i in range(len(DAILY_HEADER))]
    lines = [f"daily report ({report.mode}) {report.day} (UTC)"]
    for r in (DAILY_HEADER, *rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if report.marked_ns is not None:
        lines.append(f"unrealized: marks of the equity snapshot at {_clock(report.marked_ns)}")
    else:
        lines.append("unrealized: no equity snapshot that day")
    return "\n".join(lines)


def _clock(ts_ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class StoredDailyReport:
    mode: str
    day: str
    created_ns: int
    text: str
    chart: str
    alert_event_id: str


@dataclass(frozen=True, slots=True)
class ReportClaim:
    """A daily report to store once, with the alert that posts it."""

    report: DailyReport
    text: str  # as printed and posted
    detail: str  # the report as JSON
    chart: str  # the PNG's path, "" when none
    alert: AlertRecord
    now_ns: int


async def claim_daily_report(engine: AsyncEngine, claim: ReportClaim) -> bool:
    """Store the day's report and its alert in one transaction, unless the day's row exists:
    True when this call made it (and so must post it), False when it was there already."""
    row = {
        "mode": claim.report.mode,
        "day": _date(claim.report.day),
        "created_ns": claim.now_ns,
        "text": claim.text,
        "detail": claim.detail,
        "chart": claim.chart,
        "alert_event_id": claim.alert.event_id,
    }
    async with engine.begin() as conn:
        stmt = insert_ignore(conn.dialect.name, t.daily_reports, "mode", "day").values(row)
        result = await conn.execute(stmt)
        if result.rowcount != 1:
            return False
        await apply_records(conn, [claim.alert])
    return True


async def stored_daily_report(
    engine: AsyncEngine, mode: Mode, day: str
) -> StoredDailyReport | None:
    c = t.daily_reports.c
    stmt = select(t.daily_reports).where(c.mode == mode.value, c.day == _date(day))
    async with engine.connect() as conn:
        r = (await conn.execute(stmt)).mappings().first()
    if r is None:
        return None
    return StoredDailyReport(
        mode=r["mode"],
        day=r["day"].isoformat(),
        created_ns=r["created_ns"],
        text=r["text"],
        chart=r["chart"],
        alert_event_id=r["alert_event_id"],
    )


def _date(day: str) -> Any:
    from datetime import date

    return date.fromisoformat(day)
