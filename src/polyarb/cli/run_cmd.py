"""`polyarb run`: the main job — paper trading against Polymarket, the simulator or a recording."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from polyarb.cli import EXIT_INTERRUPTED, app, fail
from polyarb.cli.common import settings_or_exit
from polyarb.domain.errors import PolyarbError

if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.live import Live

    from polyarb.cli.dashboard_process import DashboardChild
    from polyarb.config import Settings
    from polyarb.engine.core import Engine
    from polyarb.engine.runner import Endpoints, RunSummary
    from polyarb.marketdata.feed import MarketFeed

BOOK_ROWS = 8  # markets shown in the live books table
OPPORTUNITY_ROWS = 6
COLUMN_NOTE = (
    "levels: price levels held, bids/asks · age ms: since the book last changed "
    "(stale: not traded until repaired)"
)


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
    from polyarb.cli.summary import print_summary

    settings = settings_or_exit()
    if venue not in ("polymarket", "sim"):
        raise typer.BadParameter(f"{venue!r}; accepted: polymarket, sim", param_hint="--venue")
    if settings.mode == "live":
        _live_gate(settings, venue)
    try:
        if replay is not None:
            summary = _replay(settings, replay)
        else:
            summary = _live(settings, venue, duration, display)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    print_summary(summary, summary_json, account=replay is None)
    if summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.halted_by_recovery:  # the run traded nothing: the operator must look
        raise typer.Exit(3)


def _live_gate(settings: Settings, venue: str) -> None:
    """Refuse live trading unless every opt-in condition holds; then say what it will do."""
    from polyarb.cli.live_gate import live_plan, live_refusal

    refusal = live_refusal(settings)
    if refusal is not None:
        raise PolyarbError(refusal)
    where = "the simulator (--venue sim)" if venue == "sim" else None
    typer.echo("\n".join(live_plan(settings, where)), err=True)


def _replay(settings: Settings, recording: Path) -> RunSummary:
    import asyncio

    from polyarb.cli.replay_cmd import check_trading_recording, replay_progress, stop_requested
    from polyarb.engine.runner import run_replay_trading

    try:
        check_trading_recording(recording)
    except PolyarbError as exc:
        raise fail(exc) from None
    show = settings.log_format != "json"  # JSON logs: stderr carries nothing else
    with stop_requested() as received, replay_progress(show) as progress:
        return asyncio.run(
            run_replay_trading(
                settings, recording, progress=progress, should_stop=lambda: bool(received)
            )
        )


def display_console(settings: Settings) -> Console | None:
    """Where the live display goes: stderr, or with LOG_FORMAT=json (stderr is pure JSON then)
    stdout when it is a terminal, else nowhere."""
    from rich.console import Console

    if settings.log_format != "json":
        return Console(stderr=True)
    return Console() if sys.stdout.isatty() else None


def _live(settings: Settings, venue: str, duration: float | None, display: bool) -> RunSummary:
    import asyncio

    from rich.live import Live

    console = display_console(settings) if display else None
    live: Live | None = None
    on_tick = None
    if console is not None:
        live = Live(console=console, refresh_per_second=4, transient=False)
        live.start()

        def on_tick(engine: Engine, feed: MarketFeed) -> None:
            assert live is not None
            live.update(status_view(engine, feed))

    try:
        return asyncio.run(
            _run_with_dashboard(settings, venue=venue, duration_s=duration, on_tick=on_tick)
        )
    finally:
        if live is not None:
            live.stop()


async def _run_with_dashboard(
    settings: Settings,
    *,
    venue: str,
    duration_s: float | None,
    on_tick: Callable[[Engine, MarketFeed], None] | None,
) -> RunSummary:
    """The engine, with the dashboard API in a child process (``API_ENABLED``)."""
    import asyncio

    from polyarb.engine.runner import run_engine

    dashboards: list[DashboardChild] = []
    tasks: list[asyncio.Task[None]] = []

    def ready(engine: Engine, _endpoints: Endpoints) -> None:
        if settings.api_enabled and engine.bus is not None:
            tasks.append(asyncio.create_task(dashboard_process(settings, engine, dashboards)))

    try:
        return await run_engine(
            settings, venue=venue, duration_s=duration_s, on_tick=on_tick, ready=ready
        )
    finally:
        for dashboard in dashboards:
            await dashboard.stop()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)


async def dashboard_process(
    settings: Settings,
    engine: Engine,
    dashboards: list[DashboardChild],
    on_started: Callable[[str], None] | None = None,
) -> None:
    """Serve the API from its own process (the engine's loop stays for trading); without Redis
    it reaches the engine's in-process bus through a local socket. A dashboard that cannot
    start is reported and trading goes on without it; one that crashes is restarted.
    ``on_started`` gets the URL (default: the "dashboard API at URL" line)."""
    import structlog

    from polyarb.bus import LocalBusServer, MemoryBus
    from polyarb.bus.signing import command_key
    from polyarb.cli.dashboard_process import DashboardChild, Start

    logger = structlog.get_logger(__name__)
    bus = engine.bus
    assert bus is not None
    server: LocalBusServer | None = None
    if isinstance(bus, MemoryBus):
        server = LocalBusServer(bus.hub)
        await server.start()
    configured = settings.command_secret
    start = Start(
        settings=settings,
        instance_id=bus.instance_id,
        bus_path=server.path if server is not None else "",
        command_key=command_key(  # the engine's own (its per-run key without COMMAND_SECRET)
            configured.get_secret_value() if configured is not None else None,
            over_redis=bool(settings.redis_url),
        ),
    )

    def crashed(message: str) -> None:
        engine.emit_error("dashboard", "process_exited", message)

    child = DashboardChild(start, on_started=on_started or _announce, on_crash=crashed)
    dashboards.append(child)
    try:
        await child.run()
    except Exception:  # never let the dashboard's supervision stop trading
        logger.exception("dashboard process failed; trading continues")
    finally:
        await child.stop()
        if server is not None:
            await server.close()


def _announce(url: str) -> None:
    # A log line, so that LOG_FORMAT=json keeps stderr pure JSON.
    import structlog

    structlog.get_logger(__name__).info(
        f"dashboard API at {url}", url=url, login="a one-time code: see docs/api.md"
    )


def status_view(engine: Engine, feed: MarketFeed) -> Group:
    """The live status: one header grid, the open opportunities, the books of the first markets."""
    from rich.console import Group
    from rich.table import Table

    from polyarb.cli.summary import money, shorten
    from polyarb.domain.numbers import price_str

    totals = feed.totals()
    books = engine.books.books
    stale = sum(1 for b in books.values() if b.stale)
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"mode [bold]{engine.settings.mode}[/]",
        f"state [bold]{engine.risk.state.value}[/]",
        f"markets {len(engine.universe.markets):,}",
        f"books {len(books):,} ({stale:,} stale)",
        f"frames {totals.get('frames', 0):,}",
        f"reconnects {totals.get('reconnects', 0):,}",
    )
    head.add_row(
        f"signals {engine.counters.signals:,}",
        f"taken {engine.counters.taken:,}",
        f"denied {engine.counters.denied:,}",
        f"fills {engine.counters.fills:,}",
        f"realized P&L {money(engine.ledger.realized_pnl)}",
        f"fees {money(engine.ledger.fees_paid)}",
    )
    records = sorted(engine.tracker.open_records(), key=lambda o: o.best_edge, reverse=True)
    shown_opps = records[:OPPORTUNITY_ROWS]
    opps = Table(
        "strategy",
        "market",
        "best edge",
        "size",
        "seen",
        title=f"open opportunities ({len(shown_opps)} of {len(records)} shown)"
        if len(records) > len(shown_opps)
        else "open opportunities",
        caption="best edge: $ per set, fees included · size: sets · seen: sightings",
    )
    questions = {m.condition_id: m.question for m in engine.universe.markets}
    for opp in shown_opps:
        opps.add_row(
            opp.strategy,
            shorten(questions.get(opp.market, opp.market), 40),
            str(opp.best_edge),
            str(opp.max_size),
            f"{opp.sightings:,}",
        )
    markets = engine.universe.markets
    shown = markets[:BOOK_ROWS]
    title = "books" + (
        f" ({len(shown)} of {len(markets)} markets shown)" if len(markets) > len(shown) else ""
    )
    table = Table(
        "market", "outcome", "bid", "ask", "levels", "age ms", title=title, caption=COLUMN_NOTE
    )
    now = engine.clock.now_ns()
    for market in shown:
        for outcome in market.outcomes:
            book = books.get(outcome.token_id)
            if book is None:
                continue
            bid, ask = book.best_bid(), book.best_ask()
            table.add_row(
                shorten(market.question, 40),
                shorten(outcome.label, 12),
                price_str(bid) if bid is not None else "-",
                price_str(ask) if ask is not None else "-",
                f"{len(book.bids)}/{len(book.asks)}",
                "stale" if book.stale else f"{book.age_ns(now) // 1_000_000:,}",
            )
    return Group(head, opps, table)
