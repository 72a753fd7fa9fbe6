"""`polyarb run`: the main job — paper trading against Polymarket, the simulator or a recording."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from polyarb.cli import app
from polyarb.cli.common import settings_or_exit
from polyarb.cli.summary import print_summary
from polyarb.domain.errors import PolyarbError
from polyarb.domain.numbers import price_str
from polyarb.engine.core import Engine
from polyarb.engine.runner import run_engine, run_replay_trading
from polyarb.marketdata.feed import MarketFeed

console = Console(stderr=True)


@app.command("run")
def run_command(
    venue: str = typer.Option(
        "polymarket", "--venue", help="polymarket (default) or sim (local simulator, offline)."
    ),
    replay: Path | None = typer.Option(
        None, "--replay", help="Trade over a recording folder instead of a live venue."
    ),
    duration: float | None = typer.Option(
        None, "--duration", min=0.1, help="Stop after this many seconds (default: until Ctrl-C)."
    ),
    display: bool = typer.Option(True, "--display/--no-display", help="Live status table."),
    summary_json: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
) -> None:
    """Run the engine: paper trading by default (DRY_RUN=true, SUMTO100_PAPER_TRADING=true)."""
    settings = settings_or_exit()
    if venue not in ("polymarket", "sim"):
        raise typer.BadParameter(f"{venue!r}; accepted: polymarket, sim", param_hint="--venue")
    if settings.mode == "live":
        raise PolyarbError(
            "live trading is not available in this build; set DRY_RUN=true (paper trading)"
        )
    try:
        if replay is not None:
            summary = asyncio.run(run_replay_trading(settings, replay))
        else:
            live: Live | None = None
            on_tick = None
            if display:
                live = Live(console=console, refresh_per_second=4, transient=False)
                live.start()

                def on_tick(engine: Engine, feed: MarketFeed) -> None:
                    assert live is not None
                    live.update(_status(engine, feed))

            try:
                summary = asyncio.run(
                    run_engine(settings, venue=venue, duration_s=duration, on_tick=on_tick)
                )
            finally:
                if live is not None:
                    live.stop()
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    print_summary(summary, summary_json)
    if summary.halted_by_recovery:  # the run traded nothing: the operator must look
        raise typer.Exit(3)


def _status(engine: Engine, feed: MarketFeed) -> Group:
    totals = feed.totals()
    books = engine.books.books
    stale = sum(1 for b in books.values() if b.stale)
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"mode [bold]{engine.settings.mode}[/]",
        f"state [bold]{engine.risk.state.value}[/]",
        f"markets {len(engine.universe.markets)}",
        f"books {len(books)} ({stale} stale)",
        f"frames {totals.get('frames', 0)}",
        f"reconnects {totals.get('reconnects', 0)}",
    )
    head.add_row(
        f"signals {engine.counters.signals}",
        f"taken {engine.counters.taken}",
        f"denied {engine.counters.denied}",
        f"fills {engine.counters.fills}",
        f"realized ${engine.ledger.realized_pnl:.4f}",
        f"fees ${engine.ledger.fees_paid:.4f}",
    )
    opps = Table("strategy", "market", "best edge", "size", "seen", title="open opportunities")
    for opp in sorted(engine.tracker.open_records(), key=lambda o: o.best_edge, reverse=True)[:6]:
        opps.add_row(
            opp.strategy, opp.market[:14], str(opp.best_edge), str(opp.max_size), str(opp.sightings)
        )
    table = Table("market", "outcome", "bid", "ask", "levels", "age ms", title="books")
    now = engine.clock.now_ns()
    for market in engine.universe.markets[:8]:
        for outcome in market.outcomes:
            book = books.get(outcome.token_id)
            if book is None:
                continue
            bid, ask = book.best_bid(), book.best_ask()
            table.add_row(
                market.question[:40],
                outcome.label[:12],
                price_str(bid) if bid is not None else "-",
                price_str(ask) if ask is not None else "-",
                f"{len(book.bids)}/{len(book.asks)}",
                "stale" if book.stale else str(book.age_ns(now) // 1_000_000),
            )
    return Group(head, opps, table)
