"""`polyarb run`: the main job — paper trading against Polymarket, the simulator or a recording."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import structlog
import typer
import uvicorn
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from polyarb.api.app import create_app
from polyarb.api.server import make_server, serve
from polyarb.bus import Bus, MemoryBus, make_bus
from polyarb.cli import app
from polyarb.cli.common import settings_or_exit
from polyarb.cli.dashboard_cmd import dashboard_context
from polyarb.cli.summary import print_summary
from polyarb.config import Settings
from polyarb.domain.errors import PolyarbError
from polyarb.domain.numbers import price_str
from polyarb.engine.core import Engine
from polyarb.engine.runner import Endpoints, RunSummary, run_engine, run_replay_trading
from polyarb.marketdata.feed import MarketFeed

log = structlog.get_logger(__name__)

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
                    _run_with_dashboard(settings, venue=venue, duration_s=duration, on_tick=on_tick)
                )
            finally:
                if live is not None:
                    live.stop()
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    print_summary(summary, summary_json)


async def _run_with_dashboard(
    settings: Settings,
    *,
    venue: str,
    duration_s: float | None,
    on_tick: Callable[[Engine, MarketFeed], None] | None,
) -> RunSummary:
    """The engine, with the dashboard API on the same event loop (``API_ENABLED``)."""
    servers: list[uvicorn.Server] = []
    tasks: list[asyncio.Task[None]] = []

    def ready(engine: Engine, _endpoints: Endpoints) -> None:
        if settings.api_enabled and engine.bus is not None:
            tasks.append(asyncio.create_task(_embedded_dashboard(settings, engine.bus, servers)))

    try:
        return await run_engine(
            settings, venue=venue, duration_s=duration_s, on_tick=on_tick, ready=ready
        )
    finally:
        for server in servers:
            server.should_exit = True
        if tasks:
            await asyncio.wait(tasks, timeout=5)


async def _embedded_dashboard(
    settings: Settings, engine_bus: Bus, servers: list[uvicorn.Server]
) -> None:
    """Serve the API in-process; a failure is reported and trading goes on without it."""
    if isinstance(engine_bus, MemoryBus):  # one hub: the API sees the engine's messages
        bus: Bus = MemoryBus(f"{engine_bus.instance_id}-dashboard", hub=engine_bus.hub)
    else:
        bus = make_bus(settings.redis_url, f"{engine_bus.instance_id}-dashboard")
    await bus.start()
    try:
        ctx = dashboard_context(settings, bus)
        server = make_server(create_app(ctx), settings, embedded=True)
        servers.append(server)
        await serve(server, settings, _announce)
    except PolyarbError as exc:
        console.print(f"polyarb: dashboard not started: {exc}")
    except Exception:
        log.exception("dashboard API failed; trading continues")
    finally:
        await bus.close()


def _announce(url: str) -> None:
    console.print(f"dashboard API at {url} (log in with a code: see docs/api.md)")


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
