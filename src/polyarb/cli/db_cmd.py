"""`polyarb db ...`: schema upgrade and status, retention, CSV export of trades.

The database is the one the engine uses: ``DATABASE_URL``, else ``DATA_DIR/polyarb.db``.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Annotated, NoReturn

import typer

from polyarb.cli import app, fail
from polyarb.cli.common import settings_or_exit
from polyarb.domain.errors import PolyarbError

db_app = typer.Typer(
    name="db",
    help="Database: upgrade the schema, show its revision, prune old rows, export trades.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(db_app, name="db")


def _database_url() -> str:
    from polyarb.store import resolve_database_url

    settings = settings_or_exit()
    try:
        return resolve_database_url(settings.database_url, settings.data_dir)
    except PolyarbError as exc:
        _fail(exc)


def _fail(exc: object) -> NoReturn:
    raise fail(exc) from None


# Longest retention `db prune` accepts: a hundred years (and not inf, which no clock can subtract).
MAX_PRUNE_DAYS = 36_500


class _OutputClosed(Exception):
    """The reader of standard output went away (`| head`). Deliberately not an OSError: the store
    takes OSError for "database unreachable"."""


class _PipeOut:
    """Standard output for the CSV writer; a closed pipe becomes ``_OutputClosed``."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise _OutputClosed from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise _OutputClosed from None


def _require_schema(url: str) -> None:
    """One line, not a traceback, on a database that was never migrated (or is behind)."""
    import asyncio

    from polyarb.store import redacted
    from polyarb.store.admin import schema_status

    try:
        status = asyncio.run(schema_status(url))
    except PolyarbError as exc:
        _fail(exc)
    if not status.up_to_date:
        _fail(
            f"database {redacted(url)} is at revision {status.current or 'empty (no tables)'}, "
            f"not {status.head}: run `polyarb db upgrade` first"
        )


@db_app.command("upgrade")
def upgrade_command(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Migrate the database schema (creates every table on an empty database)."""
    import asyncio

    from alembic.util.exc import CommandError

    from polyarb.store import redacted
    from polyarb.store.admin import upgrade_database

    url = _database_url()
    try:
        status = asyncio.run(upgrade_database(url, revision))
    except PolyarbError as exc:
        _fail(exc)
    except CommandError as exc:  # an unknown revision, say
        _fail(f"cannot upgrade to revision {revision!r}: {exc}")
    before = status.previous or "empty"
    typer.echo(f"{redacted(url)}: {before} -> {status.current} (head {status.head})")


@db_app.command("current")
def current_command() -> None:
    """Show the schema revision of the database and whether it is up to date (exit 1 if not)."""
    import asyncio

    from polyarb.store import redacted
    from polyarb.store.admin import schema_status

    url = _database_url()
    try:
        status = asyncio.run(schema_status(url))
    except PolyarbError as exc:
        _fail(exc)
    state = "up to date" if status.up_to_date else "behind: run `polyarb db upgrade`"
    typer.echo(f"{redacted(url)}: {status.current or 'empty'} (head {status.head}, {state})")
    if not status.up_to_date:
        raise typer.Exit(1)


@db_app.command("prune")
def prune_command(
    older_than: Annotated[
        float,
        typer.Option("--older-than", min=0, help="Delete raw rows older than this many days."),
    ],
) -> None:
    """Delete old signals, opportunities, errors, alerts and finished orders' state history.

    Fills, orders, positions, daily P&L and the audit log are never deleted.
    """
    import asyncio

    from polyarb.store.admin import prune_database

    if not math.isfinite(older_than) or older_than > MAX_PRUNE_DAYS:
        raise typer.BadParameter(
            f"{older_than:g} days; give a number of days from 0 to {MAX_PRUNE_DAYS:,}",
            param_hint="--older-than",
        )
    url = _database_url()
    _require_schema(url)
    try:
        report = asyncio.run(prune_database(url, older_than_days=older_than))
    except PolyarbError as exc:
        _fail(exc)
    for table, count in report.deleted.items():
        typer.echo(f"{table}: {count} deleted")
    typer.echo(f"total: {report.total} rows older than {older_than:g} days deleted")


def _day_start_ns(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp()) * 1_000_000_000


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"expected a day as YYYY-MM-DD, got {value!r}", param_hint=option
        ) from None


@db_app.command("export-trades")
def export_trades_command(
    file: Annotated[Path, typer.Argument(help="CSV file to write ('-' for standard output).")],
    strategy: Annotated[str | None, typer.Option(help="Only this strategy.")] = None,
    market: Annotated[str | None, typer.Option(help="Only this market (condition id).")] = None,
    since: Annotated[str | None, typer.Option(help="From this UTC day (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Through this UTC day (YYYY-MM-DD).")] = None,
    mode: Annotated[
        str | None, typer.Option(help="Only this trading mode: paper, log-only or live.")
    ] = None,
) -> None:
    """Export trades (fills with their orders), oldest first, as CSV."""
    import asyncio

    from polyarb.domain.trading import Mode
    from polyarb.store.admin import export_trades

    try:
        mode_filter = Mode(mode) if mode is not None else None
    except ValueError:
        raise typer.BadParameter(
            f"{mode!r}; accepted: {', '.join(m.value for m in Mode)}", param_hint="--mode"
        ) from None
    since_day = _parse_day(since, "--since")
    until_day = _parse_day(until, "--until")
    url = _database_url()
    _require_schema(url)
    filters = {
        "mode": mode_filter,
        "strategy": strategy,
        "market": market,
        "since_ns": _day_start_ns(since_day) if since_day else None,
        "until_ns": _day_start_ns(until_day + timedelta(days=1)) if until_day else None,
    }
    try:
        if str(file) == "-":
            count = asyncio.run(export_trades(url, _PipeOut(sys.stdout), **filters))  # type: ignore[arg-type]
            sys.stdout.flush()
        else:
            with file.open("w", encoding="utf-8", newline="") as out:
                count = asyncio.run(export_trades(url, out, **filters))
    except (_OutputClosed, BrokenPipeError):
        raise BrokenPipeError from None  # main() ends quietly
    except PolyarbError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(f"cannot write {file}: {exc.strerror or exc}")
    typer.echo(f"{count} trades written to {file}", err=True)
