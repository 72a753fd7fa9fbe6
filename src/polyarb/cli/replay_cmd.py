"""`polyarb replay DIR`: feed a recording through the book pipeline and report what it did.

A part that cannot be read to its end (cut short, corrupt) is reported with what was lost, and
the command exits 1 unless ``--tolerate-damage``. Ctrl-C or SIGTERM during a trading replay stops
it cleanly: the signals and trades produced so far are written and the partial summary printed.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from polyarb.cli import EXIT_INTERRUPTED, app, fail
from polyarb.cli.common import configure_logging, settings_or_exit
from polyarb.domain.errors import PolyarbError

if TYPE_CHECKING:
    from rich.progress import Progress

    from polyarb.domain.book import OrderBook
    from polyarb.engine.core import Engine
    from polyarb.marketdata.books import BookStore
    from polyarb.marketdata.replay import ReplaySummary, UpdateHook

EXIT_DAMAGED = 1  # the replay ran, but a part of the recording could not be read to its end


def books_json(books: dict[str, OrderBook]) -> dict[str, dict[str, list[list[str]]]]:
    """{token_id: {"bids": [[price, size], ...], "asks": [...]}}, best first, canonical decimals."""
    from polyarb.domain.numbers import price_str, size_str

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
    from polyarb.marketdata.replay import replay

    with replay_progress(show_progress) as progress:
        return replay(directory, books, speed, progress, on_update=on_update)


@contextlib.contextmanager
def replay_progress(show: bool = True) -> Iterator[Callable[[int, int, int], None]]:
    """A progress bar on stderr fed by ``progress(frames, bytes_done, bytes_total)``; shown only
    when stderr is a terminal (and ``show``)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    bar: Progress
    with Progress(
        TextColumn("replaying"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[frames]:,} frames"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not show or not console.is_terminal,
    ) as bar:
        task = bar.add_task("replay", total=None, frames=0)

        def progress(frames: int, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, frames=frames)

        yield progress


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
    lines += [part.text() for part in summary.damaged]
    return lines


def check_output(path: Path | None) -> None:
    """PolyarbError (one line) unless ``path`` can be written as an output file."""
    if path is None:
        return
    if path.is_dir():
        raise PolyarbError(f"cannot write {path}: it is a folder (give a file name)")
    if not path.parent.is_dir():
        raise PolyarbError(f"cannot write {path}: no such folder {path.parent}")


def check_trading_recording(directory: Path) -> None:
    """A trading replay needs the recording's markets: a missing or empty markets.json would
    drop every frame silently."""
    from polyarb.marketdata.recorder import MARKETS_FILE, load_recording_markets

    if directory.is_dir() and not load_recording_markets(directory):
        what = "no" if not (directory / MARKETS_FILE).is_file() else "an empty"
        raise PolyarbError(
            f"{directory} has {what} {MARKETS_FILE}: a trading replay needs the markets the "
            "frames belong to (a recording made by `polyarb record` has them)"
        )


@contextlib.contextmanager
def stop_requested() -> Iterator[list[int]]:
    """SIGINT/SIGTERM append the signal to the yielded list instead of killing the process, so
    a long loop can stop cleanly; the previous handlers are restored on exit."""
    received: list[int] = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda number, _frame: received.append(number))
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def report_damage(damaged: list[str], tolerate: bool) -> None:
    """Damaged parts: one ``polyarb: error:`` line and exit 1, unless tolerated."""
    if damaged and not tolerate:
        print(
            f"polyarb: error: the recording is damaged ({len(damaged)} part(s) not readable to "
            "their end; see above); --tolerate-damage accepts it",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_DAMAGED)


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
    tolerate_damage: Annotated[
        bool,
        typer.Option(
            "--tolerate-damage",
            help="Exit 0 even when a part cannot be read to its end (the loss is still reported).",
        ),
    ] = False,
) -> None:
    """Replay a recording through the decoder and books (and, with --signals-out/--trades-out,
    the enabled strategies and the paper executor); print a summary."""
    if signals_out is not None or trades_out is not None:
        _replay_trading(directory, books_out, signals_out, trades_out, as_json, tolerate_damage)
        return
    from polyarb.marketdata.books import BookStore

    configure_logging("warning")
    try:
        check_output(books_out)
        books = BookStore()
        summary = run_replay(directory, speed=speed, books=books)
        if books_out is not None:
            write_json(books_out, books_json(books.books))
    except PolyarbError as exc:
        raise fail(exc) from None
    for line in format_summary(summary):
        typer.echo(line)
    report_damage([part.text() for part in summary.damaged], tolerate_damage)


def _replay_trading(
    directory: Path,
    books_out: Path | None,
    signals_out: Path | None,
    trades_out: Path | None,
    as_json: bool,
    tolerate_damage: bool,
) -> None:
    import asyncio

    from polyarb.cli.summary import print_summary
    from polyarb.engine.runner import run_replay_trading

    settings = settings_or_exit()
    captured: list[Engine] = []
    try:
        for out in (books_out, signals_out, trades_out):
            check_output(out)
        check_trading_recording(directory)
        with stop_requested() as received, replay_progress() as progress:
            summary = asyncio.run(
                run_replay_trading(
                    settings,
                    directory,
                    signals_out=signals_out,
                    trades_out=trades_out,
                    progress=progress,
                    inspect=captured.append,
                    should_stop=lambda: bool(received),
                )
            )
        if books_out is not None and captured:
            write_json(books_out, books_json(captured[0].books.books))
    except PolyarbError as exc:
        raise fail(exc) from None
    print_summary(summary, as_json)
    report_damage(summary.damaged, tolerate_damage)
    if summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
