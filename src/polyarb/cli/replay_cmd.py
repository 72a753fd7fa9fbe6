"""`polyarb replay DIR`: feed a recording through the book pipeline and report what it did."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from polyarb.cli import app
from polyarb.cli.common import configure_logging, settings_or_exit
from polyarb.cli.summary import print_summary
from polyarb.domain.book import OrderBook
from polyarb.domain.errors import PolyarbError
from polyarb.domain.numbers import price_str, size_str
from polyarb.engine.core import Engine
from polyarb.engine.runner import run_replay_trading
from polyarb.marketdata.books import BookStore
from polyarb.marketdata.replay import ReplaySummary, UpdateHook, replay


def books_json(books: dict[str, OrderBook]) -> dict[str, dict[str, list[list[str]]]]:
    """{token_id: {"bids": [[price, size], ...], "asks": [...]}}, best first, canonical decimals."""
    out: dict[str, dict[str, list[list[str]]]] = {}
    for token_id in sorted(books):
        bids, asks = books[token_id].snapshot_levels()
        out[token_id] = {
            "bids": [[price_str(p), size_str(s)] for p, s in bids],
            "asks": [[price_str(p), size_str(s)] for p, s in asks],
        }
    return out


def write_json(path: Path, value: object) -> None:
    """Write ``value`` as JSON; PolyarbError with one line if the file cannot be written."""
    try:
        path.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise PolyarbError(f"cannot write {path}: {exc.strerror or exc}") from None


def run_replay(
    directory: Path,
    *,
    speed: float | None,
    books: BookStore,
    on_update: UpdateHook | None = None,
    show_progress: bool = True,
) -> ReplaySummary:
    """The replay with a Rich progress bar on stderr (hidden when stderr is not a terminal)."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("replaying"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[frames]:,} frames"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not show_progress or not console.is_terminal,
    ) as bar:
        task = bar.add_task("replay", total=None, frames=0)

        def progress(frames: int, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, frames=frames)

        return replay(directory, books, speed, progress, on_update=on_update)


def format_summary(summary: ReplaySummary) -> list[str]:
    types = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.events_by_type.items())) or "none"
    lines = [
        f"frames: {summary.frames:,} in {summary.elapsed_s:.2f} s "
        f"({summary.frames_per_s:,.0f} frames/s, {summary.book_events_per_s:,.0f} book events/s)",
        f"events: {summary.events:,} ({types})",
        f"book events: {summary.book_events:,}",
        f"malformed: {summary.malformed:,}, unknown: {summary.unknown:,}, "
        f"bad lines: {summary.bad_lines:,}",
        f"timestamps going backwards: {summary.ts_backwards:,} (applied in arrival order)",
        summary.book_agreement,
        f"books: {summary.books:,} ({summary.stale_books:,} stale)",
    ]
    lines += [
        f"skipped line {bad.line} of {bad.file}: {bad.reason}" for bad in summary.bad_line_samples
    ]
    return lines


@app.command("replay")
def replay_command(
    directory: Annotated[Path, typer.Argument(help="Recording folder (markets.json + frames).")],
    speed: Annotated[
        float | None,
        typer.Option(help="Pace by recorded times (1 = real time); default: as fast as possible."),
    ] = None,
    books_out: Annotated[
        Path | None, typer.Option("--books-out", help="Write the final books as JSON to this file.")
    ] = None,
    signals_out: Annotated[
        Path | None,
        typer.Option("--signals-out", help="Run the strategies; write their signals (JSON lines)."),
    ] = None,
    trades_out: Annotated[
        Path | None,
        typer.Option("--trades-out", help="Run the strategies and paper fills; write the fills."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Trading summary as JSON.")] = False,
) -> None:
    """Replay a recording through the decoder and books (and, with --signals-out/--trades-out,
    the enabled strategies and the paper executor); print a summary."""
    if signals_out is not None or trades_out is not None:
        _replay_trading(directory, books_out, signals_out, trades_out, as_json)
        return
    configure_logging("warning")
    try:
        if books_out is not None and not books_out.parent.is_dir():
            raise PolyarbError(f"cannot write {books_out}: no such folder {books_out.parent}")
        books = BookStore()
        summary = run_replay(directory, speed=speed, books=books)
        if books_out is not None:
            write_json(books_out, books_json(books.books))
    except PolyarbError as exc:
        typer.echo(f"polyarb: error: {exc}", err=True)
        raise typer.Exit(2) from None
    for line in format_summary(summary):
        typer.echo(line)


def _replay_trading(
    directory: Path,
    books_out: Path | None,
    signals_out: Path | None,
    trades_out: Path | None,
    as_json: bool,
) -> None:
    settings = settings_or_exit()
    captured: list[Engine] = []
    try:
        for out in (books_out, signals_out, trades_out):
            if out is not None and not out.parent.is_dir():
                raise PolyarbError(f"cannot write {out}: no such folder {out.parent}")
        summary = asyncio.run(
            run_replay_trading(
                settings,
                directory,
                signals_out=signals_out,
                trades_out=trades_out,
                inspect=captured.append,
            )
        )
        if books_out is not None and captured:
            write_json(books_out, books_json(captured[0].books.books))
    except PolyarbError as exc:
        typer.echo(f"polyarb: error: {exc}", err=True)
        raise typer.Exit(2) from None
    print_summary(summary, as_json)
