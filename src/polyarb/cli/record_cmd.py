"""`polyarb record`: record the market channel of discovered markets to a folder.

The folder gets ``markets.json`` (the Gamma market objects) and every received WebSocket frame in
the recording format of DESIGN.md section 4, written by the ``Recorder`` (rotating, flushed
regularly, never truncating an existing file). Ctrl-C or SIGTERM stops cleanly: the feed is
cancelled and the recorder closed, so the last frames are on disk.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from polyarb.cli import app, fail
from polyarb.cli.common import settings_or_exit
from polyarb.domain.errors import PolyarbError


class Venue(StrEnum):
    polymarket = "polymarket"
    sim = "sim"


@app.command("record")
def record_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder for markets.json and frames.jsonl(.gz).")],
    venue: Annotated[
        Venue,
        typer.Option("--venue", help="polymarket (POLY_* URLs) or sim (in-process simulator)."),
    ] = Venue.polymarket,
    tokens: Annotated[
        str | None,
        typer.Option(
            "--tokens", help="Comma-separated token ids to record (default: discovered markets)."
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", min=0.0, help="Stop after SECONDS (default: until Ctrl-C)."),
    ] = None,
    max_markets: Annotated[
        int | None,
        typer.Option(
            "--max-markets", min=1, help="Record at most N markets (default: MARKETS_MAX)."
        ),
    ] = None,
    append: Annotated[
        bool,
        typer.Option("--append", help="Add to the recording in OUT_DIR (same markets' tokens)."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the recording in OUT_DIR.")
    ] = False,
) -> None:
    """Record the CLOB market channel (every frame) and the markets' Gamma objects.

    OUT_DIR must be empty or new, unless --append or --force.
    """
    from polyarb.marketdata.recorder import prepare_folder

    settings = settings_or_exit()
    if append and force:
        raise fail("--append and --force exclude each other")
    try:
        prepare_folder(out_dir, append=append, force=force)
    except PolyarbError as exc:
        raise fail(exc) from None
    from rich.console import Console

    from polyarb.cli.record_run import _record, _run

    wanted = tuple(t.strip() for t in (tokens or "").split(",") if t.strip())
    console = Console(stderr=True)
    try:
        summary = _run(_record(settings, out_dir, venue, wanted, duration, max_markets, console))
    except PolyarbError as exc:
        typer.echo(f"polyarb: error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"recorded {summary.frames} frames of {summary.tokens} tokens "
        f"({summary.markets} markets) in {summary.seconds:.1f}s to {summary.out_dir} "
        f"({summary.reconnects} reconnects)"
    )
