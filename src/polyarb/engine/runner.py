"""Wire an ``Engine`` to a venue (Polymarket, the in-process simulator, or a recording), the bus
and the operator's display; run it until stopped and shut it down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from polyarb.bus import (
    Bus,
    CommandAudit,
    CommandProcessor,
    QueryResponder,
    RedisBus,
    SignalEvent,
    StatePublisher,
    authorize_by_role,
    make_bus,
)
from polyarb.bus.signing import command_key
from polyarb.config import SECRET_FIELDS, Settings
from polyarb.domain.clock import ReplayClock, WallClock
from polyarb.domain.errors import CircuitOpen, PolyarbError
from polyarb.domain.trading import Mode, Signal
from polyarb.engine.alerts import EngineAlerts, StoreJournal, kept, undelivered_alerts
from polyarb.engine.book_query import BookAnswers
from polyarb.engine.commands import PARAM_BOUNDS, EngineCommands
from polyarb.engine.core import Engine
from polyarb.engine.daily import DailyReporter
from polyarb.engine.gc_pacing import GcPacer
from polyarb.engine.health import (
    CLOB,
    DATABASE,
    ESPN,
    GAMMA,
    REDIS,
    SLACK,
    EngineProbe,
    SampledCalls,
    link_breaker_events,
    link_clob_breaker,
    make_breakers,
)
from polyarb.engine.lock import DataDirLock, InstanceLock
from polyarb.engine.metrics import Watched, build_registry
from polyarb.engine.persistence import EnginePersistence, open_store, recover
from polyarb.engine.refresh import resolve_held_at_start, run_refresher
from polyarb.engine.watch import BusWatch, start_notices
from polyarb.execution.base import ExecutionReport
from polyarb.marketdata.clob_rest import ClobRestClient
from polyarb.marketdata.espn import EspnClient
from polyarb.marketdata.feed import FeedConfig, MarketFeed
from polyarb.marketdata.gamma import (
    GammaClient,
    MarketFilter,
    Universe,
    discover,
    events_from_markets,
    select_universe,
)
from polyarb.marketdata.recorder import (
    RecordingReader,
    load_recording_events,
    load_recording_markets,
)
from polyarb.monitor.breaker import CircuitBreaker
from polyarb.monitor.health import HealthServer
from polyarb.monitor.slack import SlackNotifier, redactor
from polyarb.store import AuditRecord, Store
from polyarb.store.records import audit_event_id

if TYPE_CHECKING:  # live-only modules (signing libraries) load when the engine goes live
    import httpx

    from polyarb.engine.chain_ops import ChainOps
    from polyarb.execution.journal import SettlementRecord
    from polyarb.execution.live.client import LiveExecution

log = structlog.get_logger(__name__)

TIMER_INTERVAL_S = 0.25


@dataclass(frozen=True, slots=True)
class Endpoints:
    ws_url: str
    clob_url: str
    gamma_url: str
    espn_url: str


@dataclass(slots=True)
class RunSummary:
    elapsed_s: float = 0.0
    markets: int = 0
    tokens: int = 0
    frames: int = 0
    signals: int = 0
    taken: int = 0
    denied: int = 0
    fills: int = 0
    realized_pnl: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    opportunities: dict[str, Any] = field(default_factory=dict)
    decision_us: dict[str, Decimal] = field(default_factory=dict)
    denials: dict[str, int] = field(default_factory=dict)
    book_agreement: str = ""  # "book agreement: 99.998 % (n of m), k repairs"
    # strategy -> realized P&L, fees and complete sets merged / locked / converted
    strategies: dict[str, dict[str, str]] = field(default_factory=dict)
    damaged: list[str] = field(default_factory=list)  # replays: parts not readable to their end
    interrupted: bool = False  # replays: stopped early (Ctrl-C, SIGTERM); the figures so far
    # What the operator must not miss: a start into a halted state, Redis unreachable ...
    notices: list[str] = field(default_factory=list)
    halted_by_recovery: bool = False  # the run traded nothing: recovery engaged the kill switch
    torn_views: int = 0  # evaluations refused: a binary market's two books disagreed
    anomalies: int = 0  # evaluations refused: an edge above the sanity cap
    realized_by_strategy: dict[str, Decimal] = field(default_factory=dict)


def summarize(engine: Engine, elapsed_s: float, frames: int) -> RunSummary:
    return RunSummary(
        elapsed_s=elapsed_s,
        markets=len(engine.universe.markets),
        tokens=len(engine.markets_by_token),
        frames=frames,
        signals=engine.counters.signals,
        taken=engine.counters.taken,
        denied=engine.counters.denied,
        fills=engine.counters.fills,
        book_agreement=engine.books.agreement().text(),
        realized_pnl=engine.ledger.realized_pnl,
        unrealized_pnl=engine.ledger.unrealized_pnl(),
        fees=engine.ledger.fees_paid,
        opportunities={k: v.as_dict() for k, v in engine.tracker.report().items()},
        decision_us=engine.decision_percentiles_us(),
        denials=dict(engine.risk.denials),
        torn_views=engine.counters.torn_views,
        anomalies=engine.counters.anomalies,
        realized_by_strategy=engine.ledger.pnl_by_strategy(),
        strategies=_per_strategy(engine),
    )


def _per_strategy(engine: Engine) -> dict[str, dict[str, str]]:
    pnl = engine.ledger.pnl_by_strategy()
    fees = engine.ledger.fees_by_strategy()
    out: dict[str, dict[str, str]] = {}
    for strategy in engine.strategies:
        name = strategy.name
        row = {
            "realized_pnl": str(pnl.get(name, Decimal(0))),
            "fees": str(fees.get(name, Decimal(0))),
        }
        for what, qty in sorted(engine.counters.sets.get(name, {}).items()):
            row[f"sets_{what}"] = str(qty)
        out[name] = row
    return out


def demo_scenario(seed: int = 7, *, games: int = 2, taker_median_ms: float = 300.0) -> Any:
    """The offline demo: a few binary markets and negRisk events with recurring windows
    (binary ones torn views, negRisk YES sets and negRisk conversions real, in turn), other
    traders taking windows after a random delay."""
    from polyarb.sim.scenario import ScenarioConfig

    return ScenarioConfig(
        seed=seed,
        binary_markets=6,
        negrisk_events=2,
        outcomes_per_event=4,
        updates_per_s=120.0,
        window_every_s=4.0,
        games=games,
        convert_windows=True,
        taker_median_ms=taker_median_ms,  # other traders take windows too (README)
    )


async def _universe_from(
    gamma_url: str, settings: Settings, guard: CircuitBreaker | None = None
) -> Universe:
    async with GammaClient(gamma_url, timeout_s=settings.poly_http_timeout_s, guard=guard) as gamma:
        universe = await discover(gamma, MarketFilter.from_settings(settings))
    if not universe.markets:
        raise PolyarbError(f"no tradable markets found at {gamma_url} with the MARKETS_* filters")
    return universe


def _account(settings: Settings) -> str:
    if settings.mode == "live":
        return settings.poly_funder or "live"
    return settings.mode


async def run_engine(
    settings: Settings,
    *,
    venue: str = "polymarket",
    duration_s: float | None = None,
    on_tick: Callable[[Engine, MarketFeed], None] | None = None,
    tick_interval_s: float = 0.5,
    scenario: Any = None,
    ready: Callable[[Engine, Endpoints], None] | None = None,
) -> RunSummary:
    """Run the engine until SIGINT/SIGTERM or ``duration_s``; return what it did."""
    data_dir = settings.data_dir
    with (
        InstanceLock(data_dir, _account(settings), mode=settings.mode),
        DataDirLock(data_dir, settings.mode),
    ):
        async with AsyncExitStack() as stack:
            endpoints = await _endpoints(settings, venue, scenario, stack)
            breakers = make_breakers(settings)
            universe = await _universe_from(endpoints.gamma_url, settings, breakers[GAMMA])
            health = _HealthRelay()
            store = await open_store(settings, on_health=health)
            stack.push_async_callback(store.close)
            journal_path = data_dir / "paper-journal.jsonl"
            recovery = await recover(settings, store, journal_path)
            bus = make_bus(settings.redis_url, settings.instance_id)
            await bus.start()
            stack.push_async_callback(bus.close)
            engine = Engine(
                settings,
                universe,
                clock=WallClock(),
                bus=bus,
                journal_path=journal_path,
                instance_id=bus.instance_id,
                ledger=recovery.ledger,
            )
            persistence = EnginePersistence(engine, store, recovery)
            notices, halted_by_recovery = start_notices(engine)
            watch = BusWatch(bus, settings.redis_url)
            if settings.redis_url and settings.command_secret is None:
                log.warning(
                    "COMMAND_SECRET is not set: every command over Redis is refused "
                    "(set the same COMMAND_SECRET for the engine, `polyarb ctl` and the dashboard)"
                )
            health.target = persistence
            engine.timer_hooks.append(persistence.on_timer)
            engine.error_sinks.append(persistence.record_error)
            link_clob_breaker(engine, breakers[CLOB])
            store.guard = breakers[DATABASE]
            engine.timer_hooks.append(
                SampledCalls(breakers[DATABASE], lambda: (store.healthy, store.stats.last_error))
            )
            if isinstance(bus, RedisBus):
                bus.guard = breakers[REDIS]
            engine.breakers = tuple(breakers.values())
            for breaker in breakers.values():
                link_breaker_events(engine, breaker)
            rest = ClobRestClient(
                endpoints.clob_url, timeout_s=settings.poly_http_timeout_s, guard=breakers[CLOB]
            )
            stack.push_async_callback(rest.aclose)
            feed = MarketFeed(
                endpoints.ws_url,
                universe.token_ids(),
                engine.books,
                FeedConfig.from_settings(settings),
                rest=rest,
                on_update=engine.on_update,
            )
            watched = Watched(engine, feed, bus, store, tuple(breakers.values()))
            probe = EngineProbe(watched, max_feed_age_s=settings.health_max_feed_age_s)
            alerts = await _engine_alerts(settings, engine, probe, store, breakers[SLACK])
            persistence.risk_alerts = False  # the engine's alerts' rows say it (one row each)
            reporter = None
            if settings.report_daily_at != "off":
                reporter = DailyReporter(
                    store,
                    settings.report_daily_at,
                    settings.data_dir / "reports",
                    instance_id=engine.instance_id,
                    post=alerts.notifier.post_journaled if alerts.notifier is not None else None,
                )
            if settings.health_port:
                health_server = HealthServer(
                    probe,
                    build_registry(replace(watched, notifier=alerts.notifier)),
                    host=settings.health_host,
                    port=settings.health_port,
                    status=lambda: engine.status,
                )
                try:
                    await health_server.start()
                except OSError as exc:  # observability must not stop trading: say it loudly
                    log.error("health server not started; trading without it", error=str(exc))
                else:
                    stack.push_async_callback(health_server.stop)
            engine.refresh_books = feed.refresh
            live_notice = ""
            if settings.mode == "live":
                live_notice = await _go_live(
                    engine, settings, store, recovery, endpoints, journal_path, stack, watched
                )
            if ready is not None:
                ready(engine, endpoints)
            summary = await _run_tasks(
                settings,
                engine,
                feed,
                bus,
                endpoints,
                duration_s,
                on_tick,
                tick_interval_s,
                store,
                espn_guard=breakers[ESPN],
                gamma_guard=breakers[GAMMA],
                alerts=alerts,
                watch=watch,
                reporter=reporter,
            )
            bus_notice = watch.notice()
            summary.notices = notices + ([bus_notice] if bus_notice else [])
            summary.halted_by_recovery = halted_by_recovery
            if live_notice:
                summary.notices.append(live_notice)
                summary.halted_by_recovery = True
            return summary


async def _go_live(
    engine: Engine,
    settings: Settings,
    store: Store,
    recovery: Any,
    endpoints: Endpoints,
    journal_path: Path,
    stack: AsyncExitStack,
    watched: Watched,
) -> str:
    """Attach the live executor, reconcile before trading, watch while running; returns the
    HALTED notice when the start reconciliation found a mismatch ("" when clean)."""
    from polyarb.engine.live import LiveWatch, start_live
    from polyarb.engine.live_settlement import user_channel, user_channel_url

    user_channel_url(endpoints.ws_url)  # a URL it cannot be derived from stops the start here
    in_flight = [o for o in recovery.state.open_orders if o.mode == Mode.LIVE]
    chain = _ChainStart(engine, settings, store, journal_path.parent)
    stack.push_async_callback(chain.aclose)  # its node client, also when the start fails
    live, result = await start_live(
        engine,
        settings,
        store,
        in_flight,
        clob_url=endpoints.clob_url,
        journal_path=journal_path,
        prepare=chain.prepare,
    )
    stack.push_async_callback(live.aclose)
    ops = chain.ops
    watched.user_channel.chain = ops  # its transactions on /metrics
    channel = user_channel(live, endpoints.ws_url)  # our trades' settlement, as it happens
    channel.start()
    stack.push_async_callback(channel.stop)  # stopped before the executor is closed
    watched.user_channel.channel = channel  # its counters on /metrics from now on
    busy = (lambda: ops.busy) if ops is not None else (lambda: False)
    watch = LiveWatch(
        engine, live, settings.live_reconcile_s, baseline=result, store=store, busy=busy
    )
    tasks = [asyncio.create_task(watch.run(), name="live-watch")]
    if ops is not None:
        tasks.append(asyncio.create_task(ops.run(), name="chain-ops"))

    async def stop_tasks() -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    stack.push_async_callback(stop_tasks)
    return "" if result.ok else f"HALTED: {result.summary()}"


class _ChainStart:
    """Live on-chain operations (``engine/chain_ops.py``) when ``POLYGON_RPC_URL`` is set: built
    once the executor exists, its unresolved transactions resolved before the start's
    reconciliation. Without the URL the engine trades live WITHOUT merging or converting (a
    loud warning): the sets stay held on chain, whole and redeemable, and can be merged later."""

    def __init__(self, engine: Engine, settings: Settings, store: Store, data_dir: Path) -> None:
        self.engine, self.settings, self.store = engine, settings, store
        self.data_dir = data_dir
        self.ops: ChainOps | None = None
        self._client: httpx.AsyncClient | None = None

    async def prepare(self, live: LiveExecution) -> None:
        import httpx

        from polyarb.engine.chain import chain_submitter
        from polyarb.engine.chain_ops import JOURNAL_NAME, ChainOps

        settings = self.settings
        if settings.polygon_rpc_url is None:
            log.warning(
                "POLYGON_RPC_URL is not set: live complete sets will NOT be merged or converted "
                "on chain (they stay held, whole); set it to merge them"
            )
            self.engine.emit_error(
                "chain", "no_rpc", "POLYGON_RPC_URL is not set: complete sets are not merged"
            )
            return
        client = self._client = httpx.AsyncClient(timeout=settings.poly_http_timeout_s)
        ops = self.ops = ChainOps(
            self.engine,
            self.store,
            live,
            lambda record: chain_submitter(settings, client, record=record),
            self.data_dir / JOURNAL_NAME,
        )
        tracker = live.settlement
        link_status = tracker.on_status

        def on_status(record: SettlementRecord) -> None:
            if link_status is not None:
                link_status(record)
            ops.on_status(record)

        tracker.on_status = on_status
        live.resolution_sink = ops.on_resolved
        await ops.resume()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


async def _engine_alerts(
    settings: Settings,
    engine: Engine,
    probe: EngineProbe,
    store: Store,
    breaker: CircuitBreaker | None = None,
) -> EngineAlerts:
    """The engine's alerts, each kept in the ``alerts`` table and published for the dashboard;
    posted to Slack when ``SLACK_WEBHOOK_URL`` is set (what a previous run left ``pending`` is
    posted first). Every secret setting is masked in them."""
    secrets = [
        value.get_secret_value()
        for name in SECRET_FIELDS
        if (value := getattr(settings, name)) is not None
    ]
    journal = StoreJournal(store)
    notifier = None
    if settings.slack_webhook_url is not None:
        notifier = SlackNotifier(
            settings.slack_webhook_url.get_secret_value(),
            secrets=secrets,
            journal=journal,
            undelivered=await undelivered_alerts(store),
            keep=kept,
            guard=breaker,
            coalesce_s=settings.slack_coalesce_s,
        )
    return EngineAlerts(
        engine, notifier, settings, probe, journal=journal, redact=redactor(secrets)
    )


class _HealthRelay:
    """The store reports health before the engine exists; relay once it does."""

    def __init__(self) -> None:
        self.target: EnginePersistence | None = None

    def __call__(self, healthy: bool, reason: str) -> None:
        if self.target is not None:
            self.target.on_health(healthy, reason)


async def _endpoints(
    settings: Settings, venue: str, scenario: Any, stack: AsyncExitStack
) -> Endpoints:
    if venue == "sim":
        from polyarb.sim.server import SimServer

        sim_scenario = scenario or demo_scenario(taker_median_ms=settings.sim_taker_median_ms)
        sim = await stack.enter_async_context(SimServer(sim_scenario))
        log.info("simulator started", ws=sim.ws_url, clob=sim.clob_url)
        return Endpoints(sim.ws_url, sim.clob_url, sim.gamma_url, sim.espn_url)
    if venue != "polymarket":
        raise PolyarbError(f"unknown venue {venue!r}; accepted: polymarket, sim")
    return Endpoints(
        settings.poly_ws_url,
        settings.poly_clob_url,
        settings.poly_gamma_url,
        settings.sniper_espn_url,
    )


async def _run_tasks(
    settings: Settings,
    engine: Engine,
    feed: MarketFeed,
    bus: Any,
    endpoints: Endpoints,
    duration_s: float | None,
    on_tick: Callable[[Engine, MarketFeed], None] | None,
    tick_interval_s: float,
    store: Store | None = None,
    *,
    espn_guard: CircuitBreaker | None = None,
    gamma_guard: CircuitBreaker | None = None,
    alerts: EngineAlerts | None = None,
    watch: BusWatch | None = None,
    reporter: DailyReporter | None = None,
) -> RunSummary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    started = time.perf_counter()
    pacer = GcPacer()
    tasks = [
        asyncio.create_task(feed.run(), name="feed"),
        asyncio.create_task(_timer(engine, pacer), name="timer"),
        asyncio.create_task(StatePublisher(bus, engine.state).run(), name="state"),
        asyncio.create_task(command_processor(settings, engine, bus, store).run(), name="commands"),
        asyncio.create_task(QueryResponder(bus, BookAnswers(engine)).run(), name="queries"),
    ]
    if watch is not None and watch.watched:
        tasks.append(asyncio.create_task(watch.run(), name="bus-watch"))
    if settings.sniper_enabled:
        tasks.append(
            asyncio.create_task(_poll_games(settings, engine, endpoints, espn_guard), name="espn")
        )
    # once, with the signal handlers in place (a stop during the Gamma call is a clean stop)
    held_lookup = resolve_held_at_start(
        engine, endpoints.gamma_url, timeout_s=settings.poly_http_timeout_s, guard=gamma_guard
    )
    tasks.append(asyncio.create_task(held_lookup, name="held-at-start"))
    if settings.markets_refresh_s > 0:
        refresher = run_refresher(
            engine,
            endpoints.gamma_url,
            MarketFilter.from_settings(settings),
            interval_s=settings.markets_refresh_s,
            subscribe=feed.add_tokens,
            timeout_s=settings.poly_http_timeout_s,
            guard=gamma_guard,
        )
        tasks.append(asyncio.create_task(refresher, name="universe"))
    if on_tick is not None:
        tasks.append(asyncio.create_task(_ticker(engine, feed, on_tick, tick_interval_s)))
    if alerts is not None:
        if alerts.notifier is not None:
            tasks.append(asyncio.create_task(alerts.notifier.run(), name="slack"))
        tasks.append(asyncio.create_task(alerts.watch(), name="alerts"))
    if reporter is not None:
        tasks.append(asyncio.create_task(reporter.run(), name="daily-report"))
    engine.status = "running"
    if alerts is not None:
        alerts.started()
    pacer.start()  # start-up is over: freeze it; the timer collects from now on
    try:
        if duration_s is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=duration_s)
        else:
            await stop.wait()
    finally:
        pacer.stop()
        engine.status = "stopping"
        engine.paused = True  # no new signals while we wind down
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.drain()
        engine.tracker.close_all(engine.clock.now_ns())
        for hook in engine.timer_hooks:  # persist the closed opportunities and risk state
            hook()
        engine.status = "stopped"
        if alerts is not None:
            alerts.stopped()
            if alerts.notifier is not None:
                await alerts.notifier.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    frames = sum(s.frames for s in feed.stats.values())
    return summarize(engine, time.perf_counter() - started, frames)


def command_processor(
    settings: Settings, engine: Engine, bus: Bus, store: Store | None = None
) -> CommandProcessor:
    """Commands from the dashboard (or `polyarb ctl`), authorized by the configured roles and
    the role the signed command vouches for (``bus.commands.effective_role``)."""
    admins, operators = set(settings.command_admins), set(settings.command_operators)

    def role_of(actor: str) -> str | None:
        if actor in admins:
            return "admin"
        return "operator" if actor in operators else None

    async def audit(record: CommandAudit) -> None:
        log.warning(
            "operator command",
            action=record.command.action,
            actor=record.command.actor,
            accepted=record.accepted,
            reason=record.reason,
            command_id=record.command.id,
        )
        if store is not None:  # the audit log of operator actions (system of record)
            command = record.command
            store.submit(
                AuditRecord(
                    ts_ns=record.applied_ns,
                    actor=command.actor,
                    action=command.action,
                    target=command.strategy or command.target,
                    outcome="accepted" if record.accepted else "rejected",
                    detail={
                        "command_id": command.id,
                        "reason": record.reason,
                        "param": command.param,
                        "value": command.value,
                        "role": command.role,
                        "engine": record.instance_id,
                    },
                    event_id=audit_event_id("command", command.id, record.instance_id),
                )
            )

    return CommandProcessor(
        EngineCommands(engine, store.flush if store is not None else None),
        audit,
        bus,
        authorize=authorize_by_role(role_of),
        bounds=PARAM_BOUNDS,
        secret=command_secret(settings),
    )


def command_secret(settings: Settings) -> bytes | None:
    """The key commands must be signed with (``bus.signing.command_key``)."""
    configured = settings.command_secret
    return command_key(
        configured.get_secret_value() if configured is not None else None,
        over_redis=bool(settings.redis_url),
    )


async def _timer(engine: Engine, pacer: GcPacer) -> None:
    while True:
        await asyncio.sleep(TIMER_INTERVAL_S)
        try:
            engine.on_timer()
        except Exception:  # a timer bug must not stop trading's safety work for good
            log.exception("engine timer failed")
        # After the tick's work (whose timer-driven decisions must not wait for it either).
        pacer.on_timer()


async def _ticker(
    engine: Engine,
    feed: MarketFeed,
    on_tick: Callable[[Engine, MarketFeed], None],
    interval_s: float,
) -> None:
    while True:
        on_tick(engine, feed)
        await asyncio.sleep(interval_s)


async def _poll_games(
    settings: Settings, engine: Engine, endpoints: Endpoints, guard: CircuitBreaker | None = None
) -> None:
    async with EspnClient(
        endpoints.espn_url, timeout_s=settings.poly_http_timeout_s, guard=guard
    ) as espn:
        while True:
            games = []
            for league in settings.sniper_leagues:
                try:
                    games.extend(await espn.scoreboard(league))
                except CircuitOpen:
                    break  # the breaker logged it; nothing to ask until it probes again
                except PolyarbError as exc:
                    log.warning("scoreboard poll failed", league=league, error=str(exc))
            if games:
                engine.on_games(games)
            await asyncio.sleep(settings.sniper_poll_ms / 1000)


# ------------------------------------------------------------------------------------ replay


def _jsonl_writer(path: Path | None) -> Any:
    return path.open("wb") if path is not None else None


async def run_replay_trading(
    settings: Settings,
    recording: Path,
    *,
    signals_out: Path | None = None,
    trades_out: Path | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    inspect: Callable[[Engine], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunSummary:
    """Run the enabled strategies and the paper executor over a recording, in recording time.

    ``progress(frames, bytes_done, bytes_total)`` is called now and then (on-disk bytes);
    ``should_stop()`` true ends the run early, with what was produced written and summarized
    (``interrupted``). ``inspect`` receives the engine after the run (final books, ledger).
    """
    raw_markets = load_recording_markets(recording)
    raw_events = load_recording_events(recording)
    if raw_events is None:
        raw_events = events_from_markets(raw_markets)
    universe = select_universe(raw_markets, raw_events, MarketFilter.from_settings(settings))
    if not universe.markets:
        raise PolyarbError(f"{recording}/markets.json lists no tradable market")
    clock = ReplayClock()
    engine = Engine(settings, universe, clock=clock, instance_id="replay")
    signals_file = _jsonl_writer(signals_out)
    trades_file = _jsonl_writer(trades_out)
    encoder = msgspec.json.Encoder()

    def write_signal(event: SignalEvent) -> None:
        if signals_file is not None:
            signals_file.write(encoder.encode(event) + b"\n")

    def write_trades(report: ExecutionReport, signal: Signal) -> None:
        if trades_file is None:
            return
        for fill in report.fills:
            trades_file.write(encoder.encode(_trade_line(fill, report, signal)) + b"\n")

    engine.signal_sinks.append(write_signal)
    engine.trade_sinks.append(write_trades)
    started = time.perf_counter()
    frames = 0
    interrupted = False
    reader = RecordingReader(recording)
    try:
        for recv_ns, raw in reader:
            if should_stop is not None and frames % 256 == 0 and should_stop():
                interrupted = True
                break
            frames += 1
            if clock.advance(recv_ns):
                await _let_tasks_run(engine)
            engine.on_frame(raw, recv_ns)
            if engine.executions_in_flight:
                await _let_tasks_run(engine)
            if frames % 5000 == 0:
                engine.on_timer()
                if progress is not None:
                    progress(frames, reader.bytes_read, reader.total_bytes)
        # Let executions still waiting on their latency finish against the last books.
        while engine.executions_in_flight:
            deadline = clock.next_deadline_ns()
            clock.advance(deadline if deadline is not None else clock.now_ns() + 10**9)
            await _let_tasks_run(engine)
    finally:
        engine.tracker.close_all(clock.now_ns())
        for handle in (signals_file, trades_file):
            if handle is not None:
                handle.close()
    engine.refresh_pnl(clock.now_ns())
    if inspect is not None:
        inspect(engine)
    summary = summarize(engine, time.perf_counter() - started, frames)
    summary.damaged = [part.text() for part in reader.damaged]
    summary.interrupted = interrupted
    return summary


async def _let_tasks_run(engine: Engine) -> None:
    # Executions are tasks waiting on the replay clock; a few loop turns let them progress.
    for _ in range(8):
        await asyncio.sleep(0)
        if not engine.executions_in_flight:
            return


def _trade_line(fill: Any, report: ExecutionReport, signal: Signal) -> dict[str, Any]:
    return {
        "fill_id": fill.fill_id,
        "signal_id": report.signal_id,
        "strategy": fill.strategy,
        "market": fill.market,
        "token_id": fill.token_id,
        "side": fill.side.value,
        "price": str(fill.price),
        "size": str(fill.size),
        "fee": str(fill.fee),
        "ts_ns": fill.ts_ns,
        "mode": fill.mode.value,
        "outcome": report.outcome,
        "signal_market": signal.market,
    }
