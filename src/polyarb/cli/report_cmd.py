"""`polyarb report ...`: the paper-trading validation report and the daily P&L report.

Both are computed from the database alone (``DATABASE_URL``, else ``DATA_DIR/polyarb.db``), for the
mode the settings select (paper by default); see ``polyarb.store.reports``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from polyarb.cli import app, fail
from polyarb.cli.common import settings_or_exit
from polyarb.domain.errors import PolyarbError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from polyarb.store.reports import ValidationReport

T = TypeVar("T")

report_app = typer.Typer(
    name="report",
    help="Reports from the database: paper-trading validation, daily P&L.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(report_app, name="report")

_DURATION = re.compile(r"^(\d+)([mhd])$")
_UNIT_S = {"m": 60, "h": 3_600, "d": 86_400}


def _fail(message: object) -> NoReturn:
    raise fail(message) from None


def parse_since(text: str) -> int:
    """``72h``, ``90m``, ``7d`` → seconds."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        _fail(f"--since {text!r}: expected a positive duration like 72h, 90m or 7d")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def _url_and_mode() -> tuple[str, str, Any]:
    from polyarb.cli.db_cmd import _require_schema
    from polyarb.store import resolve_database_url

    settings = settings_or_exit(configure=False)
    try:
        url = resolve_database_url(settings.database_url, settings.data_dir)
    except PolyarbError as exc:
        _fail(exc)
    _require_schema(url)
    return url, settings.mode, settings


def _run_report(url: str, make: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """``make(engine)`` on a fresh engine for ``url``, disposed after; a store error is one line."""
    import asyncio

    from polyarb.store.database import create_engine

    async def run() -> T:
        engine = create_engine(url)
        try:
            return await make(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except PolyarbError as exc:
        _fail(exc)


def _money(value: object) -> str:
    from decimal import Decimal

    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _jsonable(value: Any) -> Any:
    from dataclasses import fields, is_dataclass
    from decimal import Decimal

    if is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
        if hasattr(value, "ratio"):
            out["ratio"] = _jsonable(value.ratio)
        return out
    if isinstance(value, Decimal):
        return format(value, "f")  # exact, as text
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat(timespec="seconds")


@report_app.command("validation")
def validation_command(
    since: Annotated[str, typer.Option(help="Window: the last N m/h/d (72h, 90m, 7d).")] = "72h",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (amounts as text).")] = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report to FILE.")
    ] = None,
) -> None:
    """The seed's Phase 8 paper-trading validation report, with its criteria met / not met."""
    from polyarb.domain.trading import Mode
    from polyarb.store.reports import validation_report

    seconds = parse_since(since)
    url, mode, settings = _url_and_mode()
    until_ns = time.time_ns()
    since_ns = until_ns - seconds * 1_000_000_000

    report = _run_report(
        url,
        lambda engine: validation_report(
            engine,
            Mode(mode),
            since_ns=since_ns,
            until_ns=until_ns,
            paper_latency_ms=settings.paper_latency_ms,
            max_daily_loss=settings.risk_max_daily_loss,
        ),
    )
    if html is not None:
        from polyarb.cli.report_html import render_validation_html

        try:
            html.write_text(render_validation_html(report), encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {html}: {exc.strerror or exc}")
    if as_json:
        typer.echo(json.dumps(_jsonable(report), indent=2))
        return
    _print_validation(report)


def _print_validation(r: ValidationReport) -> None:
    echo = typer.echo
    echo(f"validation report ({r.mode}) {_iso(r.since_ns)} .. {_iso(r.until_ns)}")
    echo(f"activity span: {r.span_hours} h; paper latency {r.paper_latency_ms} ms")
    echo("")
    echo("criteria:")
    for c in r.criteria:
        echo(f"  [{'MET' if c.met else 'NOT MET'}] {c.name}: {c.value} (target {c.target})")
    echo("")
    echo("P&L per strategy (realized, net of fees):")
    for p in r.pnl:
        echo(
            f"  {p.strategy}: realized {p.realized} fees {p.fees} fills {p.fills} volume {p.volume}"
        )
    echo(f"  total: realized {r.total_realized} fees {r.total_fees}")
    if r.worst_day is not None:
        echo(f"  worst UTC day: {r.worst_day[0]} {r.worst_day[1]}")
    echo("")
    echo("fill ratio (signals filled / submitted):")
    for f in r.fill_ratios:
        ratio = "n/a" if f.ratio is None else f"{f.ratio:.2%}"
        echo(
            f"  {f.strategy}: {f.filled}/{f.submitted} = {ratio} (partial {f.partial}, "
            f"failed {f.failed}, denied {f.denied}, signals {f.signals})"
        )
    echo("")
    echo("slippage of leg fills (USD, positive = worse than the signal):")
    for s in r.slippage:
        echo(
            f"  {s.strategy}: {s.fills} fills, {s.shares} shares, vs VWAP {_money(s.vs_vwap)}, "
            f"vs limit {_money(s.vs_limit)}; {s.other_fills} unwind/completion fills"
        )
    echo("")
    echo(f"opportunity lifetimes (closed) against the paper latency {r.paper_latency_ms} ms:")
    for lt in r.lifetimes:
        echo(
            f"  {lt.strategy}: {lt.closed} closed, ms p50 {lt.p50_ms} p90 {lt.p90_ms} "
            f"max {lt.max_ms}; {lt.outlive_latency} lived >= the latency"
        )
    echo("")
    echo("opportunities not traded, by reason:")
    for strategy, reasons in sorted(r.missed.items()):
        listed = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
        echo(f"  {strategy}: {listed}")
    echo("")
    if r.equity:
        first, last = r.equity[0], r.equity[-1]
        echo(
            f"equity: {len(r.equity)} snapshots, {first[1]} at {_iso(first[0])} -> "
            f"{last[1]} at {_iso(last[0])}"
        )
    else:
        echo("equity: no snapshots in the window")
    echo(
        f"trade history: {r.orphan_fills} orphan fill(s), "
        f"{r.order_mismatches} order(s) whose fills do not add up"
    )


@report_app.command("daily")
def daily_command(
    day: Annotated[
        str | None, typer.Option("--date", help="UTC day YYYY-MM-DD (default: today).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (amounts as text).")] = False,
) -> None:
    """Per strategy and total for one UTC day: realized, unrealized, fees, payouts, trades,
    merges, conversions, opportunities and their lifetimes."""
    from polyarb.domain.trading import Mode
    from polyarb.store.reports import daily_report, daily_text, stored_daily_report

    if day is None:
        day = datetime.now(UTC).date().isoformat()
    else:
        try:
            day = date.fromisoformat(day).isoformat()
        except ValueError:
            _fail(f"--date {day!r}: expected YYYY-MM-DD")
    url, mode, _settings = _url_and_mode()

    chosen = day
    report = _run_report(url, lambda engine: daily_report(engine, Mode(mode), chosen))
    if as_json:
        typer.echo(json.dumps(_jsonable(report), indent=2))
        return
    typer.echo(daily_text(report))
    stored = _run_report(url, lambda engine: stored_daily_report(engine, Mode(mode), chosen))
    if stored is not None:
        typer.echo(
            f"scheduled report stored {_iso(stored.created_ns)}"
            + (f"; chart: {stored.chart}" if stored.chart else "")
        )
