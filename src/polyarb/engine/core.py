"""The trading engine: event-driven evaluation of the strategies that watch a changed market."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from polyarb.bus import (
    Bus,
    Counters,
    DailyPnl,
    EngineState,
    ErrorEvent,
    Opportunity,
    PositionMark,
    SignalEvent,
    StrategyStatus,
    TradeEvent,
)
from polyarb.bus.topics import Channel
from polyarb.config import Settings
from polyarb.domain.book import Side
from polyarb.domain.clock import Clock, WallClock
from polyarb.domain.ledger import Ledger, utc_day
from polyarb.domain.market import Market
from polyarb.domain.numbers import price_to_decimal
from polyarb.domain.secrets import scrub
from polyarb.domain.sports import Game
from polyarb.domain.trading import Fill, Mode, Order, Signal
from polyarb.engine.fees import unknown_fee_markets, with_default_fees
from polyarb.engine.risk_link import EngineRiskGate, sync_risk_positions
from polyarb.execution.base import ExecutionClient, ExecutionReport, LegRiskReport
from polyarb.execution.log_only import LogOnlyExecution
from polyarb.execution.paper import PaperConfig, PaperExecution
from polyarb.marketdata.books import BookCheckConfig, BookMismatch, BookStore
from polyarb.marketdata.gamma import Universe
from polyarb.monitor.breaker import CircuitBreaker
from polyarb.risk.limits import RiskLimits
from polyarb.risk.manager import RiskManager
from polyarb.risk.state import RiskEvent
from polyarb.strategies import build_enabled
from polyarb.strategies.base import (
    ANOMALY,
    FAILED,
    TAKEN,
    TORN_VIEW,
    BookView,
    Sighting,
    Strategy,
    denied,
)
from polyarb.strategies.opportunities import OpportunityTracker
from polyarb.strategies.sniper import Sniper

log = structlog.get_logger(__name__)

NS_PER_S = 1_000_000_000
# An anomaly (edge above the sanity cap) is reported once per market and strategy per minute.
ANOMALY_REPORT_INTERVAL_NS = 60 * NS_PER_S
# A torn view asks for fresh snapshots of its books at most this often per token.
REFRESH_INTERVAL_NS = NS_PER_S

SignalSink = Callable[[SignalEvent], None]
TradeSink = Callable[[ExecutionReport, Signal], None]
OrderSink = Callable[[Order, list[Fill]], None]


@dataclass(slots=True)
class EngineCounters:
    frames: int = 0
    evaluations: int = 0
    signals: int = 0
    taken: int = 0
    denied: int = 0
    orders: int = 0
    fills: int = 0
    execution_errors: int = 0
    resolutions: int = 0
    # strategy -> {"merged" | "locked" | "converted": complete sets}, from execution reports.
    sets: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    torn_views: int = 0  # evaluations that found a binary market's two books disagreeing
    anomalies: int = 0  # evaluations that found an edge above the sanity cap
    refreshes: int = 0  # tokens asked to be refetched because their view was torn
    # Tick-to-decision samples (ns): from the frame's receive time to the order command.
    decision_ns: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))
    decision_samples: int = 0  # samples ever taken (the metrics read what the deque dropped)


class Engine:
    """One engine per account. Synchronous on the hot path; execution runs in its own tasks."""

    def __init__(
        self,
        settings: Settings,
        universe: Universe,
        *,
        clock: Clock,
        bus: Bus | None = None,
        journal_path: Path | None = None,
        instance_id: str = "",
        ledger: Ledger | None = None,
    ) -> None:
        self.settings = settings
        universe = with_default_fees(universe, settings.default_fee_rate)
        self.universe = universe
        self.clock = clock
        self.bus = bus
        self.instance_id = instance_id or settings.instance_id or "engine"
        self.status = "starting"
        self.started_ns = clock.now_ns()
        self.counters = EngineCounters()
        check = BookCheckConfig(
            max_mismatches=settings.book_check_max_mismatches,
            max_mismatch_ms=settings.book_check_max_mismatch_ms,
        )
        self.books = BookStore(listener=self, check=check)
        self.view = BookView(self.books.books, clock.now_ns)
        self.ledger = ledger if ledger is not None else Ledger(settings.paper_starting_balance)
        self.risk = RiskManager(RiskLimits.from_settings(settings), now_ns=self.started_ns)
        self.risk.listeners.append(self._on_risk_event)
        self._cancelling: asyncio.Task[None] | None = None
        self.tracker = OpportunityTracker()
        self.markets_by_token: dict[str, Market] = {}
        # What the dashboard shows for an opportunity's market key: a question or event title.
        self.labels: dict[str, str] = {m.condition_id: m.question for m in universe.markets}
        self.labels.update((e.event_id, e.title) for e in universe.events)
        for market in universe.markets:
            for token_id in market.token_ids:
                self.markets_by_token[token_id] = market
                self.books.register(token_id, market.condition_id, _tick_units(market))
        self.strategies: list[Strategy] = build_enabled(settings, id_prefix=self.instance_id)
        self.disabled: set[str] = set()
        # token id -> [(strategy, market key)]: who re-evaluates what when a book changes.
        self._watchers: dict[str, list[tuple[Strategy, str]]] = {}
        for strategy in self.strategies:
            mapping = strategy.set_universe(list(universe.markets), list(universe.events))
            for token_id, key in mapping.items():
                self._watchers.setdefault(token_id, []).append((strategy, key))
        self.paused = False
        self.execution: ExecutionClient = self._build_execution(journal_path)
        self._tasks: set[asyncio.Task[None]] = set()
        self.signal_sinks: list[SignalSink] = []
        # (signal, final outcome, reason): the store's signal table.
        self.signal_record_sinks: list[Callable[[Signal, str, str], None]] = []
        self.timer_hooks: list[Callable[[], None]] = []
        # The dependencies' circuit breakers (the runner's), for the published state.
        self.breakers: tuple[CircuitBreaker, ...] = ()
        self.error_sinks: list[Callable[[str, str, str], None]] = []
        self.trade_sinks: list[TradeSink] = []
        # Orders that change after their execution returned (resting fills, cancels).
        self.order_sinks: list[OrderSink] = []
        # Announced markets (``new_market``): the universe refresher listens here.
        self.new_market_sinks: list[Callable[[dict[str, object]], None]] = []
        # Fresh REST snapshots of books whose views are torn (the feed's repair path; set by the
        # runner: a replay has no venue to ask).
        self.refresh_books: Callable[[list[str]], None] | None = None
        self._refreshed: dict[str, int] = {}  # token -> when its last refresh was asked
        self._anomalies: dict[tuple[str, str], int] = {}  # (strategy, key) -> last report
        # token id -> when it appeared after start (LIVE_NEW_MARKET_WAIT_S: its book hydrates).
        self._appeared_ns: dict[str, int] = {}
        self._hydration_ns = int(settings.live_new_market_wait_s * NS_PER_S)
        log.info(
            "engine configured",
            mode=settings.mode,
            markets=len(universe.markets),
            events=len(universe.events),
            tokens=len(self.markets_by_token),
            strategies=[s.name for s in self.strategies],
            config=settings.masked(),
        )
        unknown = unknown_fee_markets(universe)
        if unknown:
            log.warning("markets without fee data are not traded", markets=unknown)

    # ------------------------------------------------------------------ construction helpers
    def _build_execution(self, journal_path: Path | None) -> ExecutionClient:
        mode = self.settings.mode
        if mode == "paper":
            return PaperExecution(
                self.books.books,
                self.markets_by_token,
                PaperConfig.from_settings(self.settings),
                self.ledger,
                journal_path=journal_path,
                clock=self.clock,
                on_alert=self.on_leg_alert,
                on_order_update=self._on_order_update,
                risk=EngineRiskGate(self.risk, self.clock),
            )
        if mode == "log-only":
            return LogOnlyExecution(clock=self.clock)
        # Live: the runner attaches ``LiveExecution`` after its asynchronous start (API key,
        # heartbeat, reconciliation; engine/live.py). Until then nothing is evaluated.
        self.paused = True
        return LogOnlyExecution(clock=self.clock)

    def attach_execution(self, execution: ExecutionClient) -> None:
        """The live executor, once started (``engine.live.start_live``); trading may begin."""
        self.execution = execution
        self.paused = False

    def record_order_update(self, order: Order, fills: list[Fill]) -> None:
        """An order of the live executor changed (before its execution returns, or settled by
        reconciliation): the store's sinks learn it at once. The counters and the bus hear of
        the execution's result once, from its report."""
        for sink in self.order_sinks:
            sink(order, fills)

    @property
    def mode(self) -> Mode:
        if self.settings.mode == "live":  # also before the live executor is attached
            return Mode.LIVE
        return self.execution.mode

    # ------------------------------------------------------------------------- hot path
    def on_frame(self, raw: str | bytes, recv_ns: int) -> None:
        """Decode one frame into the books and evaluate what it changed."""
        self.counters.frames += 1
        changed = self.books.on_frame(raw, recv_ns)
        if changed:
            self.on_update(changed, recv_ns)

    def on_update(self, changed: Iterable[str], recv_ns: int) -> None:
        """Evaluate only the strategies watching the markets whose books changed."""
        per_strategy: dict[Strategy, set[str]] = {}
        execution = self.execution
        for token_id in changed:
            execution.on_book(token_id)
            for strategy, key in self._watchers.get(token_id, ()):
                keys = per_strategy.get(strategy)
                if keys is None:
                    per_strategy[strategy] = {key}
                else:
                    keys.add(key)
        if not per_strategy or self.paused:
            return
        for strategy, keys in per_strategy.items():
            if strategy.name in self.disabled:
                continue
            self.counters.evaluations += 1
            signals = strategy.on_book(self.view, keys, recv_ns)
            self._after_evaluation(strategy, signals)

    def _after_evaluation(self, strategy: Strategy, signals: list[Signal]) -> None:
        # Orders first: the opportunity ledger is bookkeeping the decision must not wait for. It
        # learns the signals' first outcomes after it has seen the sightings that carry them.
        outcomes = [(signal, *self._dispatch(strategy, signal)) for signal in signals]
        now = self.clock.now_ns()
        sightings = strategy.last_sightings
        for sighting in sightings:
            if sighting.held_back == TORN_VIEW:
                self._on_torn_view(sighting, now)
            elif sighting.held_back == ANOMALY:
                self._on_anomaly(strategy.name, sighting, now)
        self.tracker.observe(strategy.name, strategy.last_evaluated, sightings, now)
        for signal, outcome, detail in outcomes:
            self.tracker.resolve(signal, outcome, detail)

    def _on_torn_view(self, sighting: Sighting, now: int) -> None:
        """A binary market's two books disagree: not traded (the strategy held it back); ask
        the feed for fresh snapshots of both, at most once a second per token."""
        self.counters.torn_views += 1
        refresh = self.refresh_books
        if refresh is None:
            return
        due = [
            t
            for t in sighting.tokens
            if now - self._refreshed.get(t, -REFRESH_INTERVAL_NS) >= REFRESH_INTERVAL_NS
        ]
        if not due:
            return
        for token_id in due:
            self._refreshed[token_id] = now
        self.counters.refreshes += len(due)
        log.info("torn view: refreshing books", market=sighting.market, edge=str(sighting.edge))
        try:
            refresh(due)
        except Exception:  # a refresh is a repair: its failure must not stop the evaluation
            log.exception("book refresh request failed", market=sighting.market)

    def _on_anomaly(self, strategy: str, sighting: Sighting, now: int) -> None:
        """An edge above the sanity cap: never traded; an error event once a minute per market."""
        self.counters.anomalies += 1
        key = (strategy, sighting.market)
        last = self._anomalies.get(key)
        if last is not None and now - last < ANOMALY_REPORT_INTERVAL_NS:
            return
        self._anomalies[key] = now
        self.emit_error(
            "strategy",
            "edge_anomaly",
            f"{strategy} {sighting.market}: edge {sighting.edge} per set above the sanity cap, "
            "not traded",
            details={
                "strategy": strategy,
                "market": sighting.market,
                "edge": str(sighting.edge),
                "size": str(sighting.size),
            },
        )

    def _dispatch(self, strategy: Strategy, signal: Signal) -> tuple[str, str]:
        """Check ``signal`` and send it if approved; returns its outcome and the denial detail
        (for the opportunity ledger, which the caller updates afterwards)."""
        self.counters.signals += 1
        now = self.clock.now_ns()
        denial = self.risk.check(signal, now)
        reason, detail = (denial.reason, denial.detail) if denial is not None else ("", "")
        if not reason:
            hydrating = self._hydrating(signal, now)
            if hydrating:
                reason = "new_market"
                detail = f"{hydrating} appeared less than {self._hydration_ns / NS_PER_S:g} s ago"
        if reason:
            self.counters.denied += 1
            outcome = denied(reason)
            strategy.on_result(signal, outcome, now)
            for record in self.signal_record_sinks:
                record(signal, outcome, detail)
            self._emit_signal(SignalEvent.from_signal(signal, decision="denied", denial=reason))
            return outcome, detail
        # The order command is issued here: this is the end of tick-to-decision.
        if signal.ts_recv_ns and isinstance(self.clock, WallClock):
            self.counters.decision_ns.append(time.time_ns() - signal.ts_recv_ns)
            self.counters.decision_samples += 1
        self.counters.taken += 1
        self.risk.on_submit(signal, now)
        strategy.on_result(signal, TAKEN, now)
        task = asyncio.get_running_loop().create_task(self._execute(strategy, signal))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._emit_signal(SignalEvent.from_signal(signal, decision="taken"))
        return TAKEN, ""

    def _hydrating(self, signal: Signal, now: int) -> str:
        """A token of ``signal`` that appeared too recently to trade, or ""."""
        if not self._appeared_ns:
            return ""
        for leg in signal.legs:
            appeared = self._appeared_ns.get(leg.token_id)
            if appeared is not None:
                if now - appeared < self._hydration_ns:
                    return leg.token_id
                del self._appeared_ns[leg.token_id]
        return ""

    async def _execute(self, strategy: Strategy, signal: Signal) -> None:
        outcome = FAILED
        try:
            report = await self.execution.execute(signal)
        except Exception as exc:  # an execution bug must not take the engine down
            self.counters.execution_errors += 1
            log.exception("execution failed", signal_id=signal.signal_id)
            self.emit_error("execution", "exception", f"{type(exc).__name__}: {exc}")
        else:
            outcome = _strategy_outcome(report.outcome)
            self.counters.orders += len(report.orders)
            self.counters.fills += len(report.fills)
            self._count_sets(signal.strategy, report)
            # Risk saw the fills as they happened (the executor's ``RiskGate``).
            for merge in report.merges:
                if not merge.locked:  # merged shares became collateral: risk must forget them
                    self._sync_risk_positions(merge.token_ids)
            for sink in self.trade_sinks:
                sink(report, signal)
            self._publish_report(report, signal)
        finally:
            now = self.clock.now_ns()
            self.risk.on_done(signal)
            strategy.on_result(signal, outcome, now)
            self.tracker.resolve(signal, outcome)
            for record in self.signal_record_sinks:
                record(signal, outcome, "")

    def _count_sets(self, strategy: str, report: ExecutionReport) -> None:
        done = {"merged": report.merged, "locked": report.locked, "converted": report.converted}
        if not any(done.values()):
            return
        counts = self.counters.sets.setdefault(strategy, {})
        for what, qty in done.items():
            if qty:
                counts[what] = counts.get(what, Decimal(0)) + qty

    # ------------------------------------------------------------------------- timers
    def on_timer(self) -> None:
        """Time-driven work: cooldowns ending, quiet books, marks and the daily P&L."""
        now = self.clock.now_ns()
        self.refresh_pnl(now)
        for hook in self.timer_hooks:
            hook()
        if self.paused:
            return
        for strategy in self.strategies:
            if strategy.name in self.disabled:
                continue
            signals = strategy.on_timer(self.view, now)
            self._after_evaluation(strategy, signals)

    def on_games(self, games: list[Game]) -> None:
        """Scoreboard poll result: feed Sniper."""
        now = self.clock.now_ns()
        for strategy in self.strategies:
            if isinstance(strategy, Sniper) and strategy.name not in self.disabled:
                signals = strategy.on_games(self.view, games, now)
                self._after_evaluation(strategy, signals)

    def refresh_pnl(self, now_ns: int) -> None:
        for token_id in {p.token_id for p in self.ledger.positions()}:
            book = self.books.books.get(token_id)
            if book is None or book.stale:
                continue
            bid = book.best_bid()
            if bid is not None:
                self.ledger.mark(token_id, price_to_decimal(bid))
        realized_today = self.ledger.daily_realized(utc_day(now_ns))
        self.risk.update_pnl(realized_today, self.ledger.unrealized_pnl(), now_ns)

    @property
    def executions_in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for in-flight executions (shutdown, end of replay)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    # ------------------------------------------------------------------ FeedListener
    def on_trade(self, token_id: str, price: int, size: int, side: Side, ts_event_ms: int) -> None:
        return None

    def _sync_risk_positions(self, token_ids: Iterable[str]) -> None:
        sync_risk_positions(self.risk, self.ledger, list(token_ids))

    def on_resolved(self, market: str, winning_token_id: str, winning_outcome: str) -> None:
        self.counters.resolutions += 1
        # A resolution can pay a locked negRisk set: all of its tokens leave risk, not only
        # the resolved market's.
        touched = {t for lock in self.ledger.locked_sets() for t in lock.token_ids}
        realized = self.execution.on_resolved(market, winning_token_id)
        resolved = self.markets_by_token.get(winning_token_id) or next(
            (m for m in self.markets_by_token.values() if m.condition_id == market), None
        )
        if resolved is not None:
            touched.update(resolved.token_ids)
        self._sync_risk_positions(sorted(touched))
        log.info("market resolved", market=market, winner=winning_outcome, realized=str(realized))

    def on_tick_size_change(self, token_id: str, new_tick: int) -> None:
        log.info("tick size changed", token_id=token_id[:12], new_tick=new_tick)

    def on_new_market(self, raw: dict[str, object]) -> None:
        """The market channel announced a market (a new outcome of an event, a new market): the
        universe refresher polls Gamma for it at once (``new_market_sinks``)."""
        log.info("new market announced", market=str(raw.get("market") or raw.get("id") or ""))
        for sink in self.new_market_sinks:
            sink(raw)

    # ------------------------------------------------------------------ universe refresh
    def held_markets(self) -> set[str]:
        """Condition ids of the markets the ledger holds shares of (positions, locked sets):
        the markets whose closures and resolutions must be followed. A position's own market
        counts too: after a restart, a market discovery left out (closed) is not known by its
        tokens, and it may have resolved while the engine was down."""
        positions = self.ledger.positions()
        tokens = {p.token_id for p in positions}
        tokens.update(t for lock in self.ledger.locked_sets() for t in lock.token_ids)
        held = {m.condition_id for t in tokens if (m := self.markets_by_token.get(t)) is not None}
        held.update(p.market for p in positions if p.market and p.shares > 0)
        return held

    def update_universe(self, universe: Universe, resolved: Iterable[Market] = ()) -> list[str]:
        """Trade a refreshed universe (Gamma poll, ``new_market``): new outcomes and markets
        are registered and watched, closed ones are no longer traded (every strategy's sets are
        rebuilt, so an event that lost its complete set stops at once), and the markets in
        ``resolved`` that the data says resolved (``Market.payouts``) pay what they hold.
        Returns the new token ids, for the feed to subscribe."""
        added: list[str] = []
        for market in universe.markets:
            for token_id in market.token_ids:
                if token_id not in self.markets_by_token:
                    added.append(token_id)
                    if self._hydration_ns:
                        self._appeared_ns[token_id] = self.clock.now_ns()
                    self.books.register(token_id, market.condition_id, _tick_units(market))
                self.markets_by_token[token_id] = market  # fresh flags and fees
        self.universe = universe
        watchers: dict[str, list[tuple[Strategy, str]]] = {}
        for strategy in self.strategies:
            mapping = strategy.set_universe(list(universe.markets), list(universe.events))
            for token_id, key in mapping.items():
                watchers.setdefault(token_id, []).append((strategy, key))
        self._watchers = watchers
        for market in resolved:
            self.resolve_from_data(market)
        if added:
            log.info("universe grew", tokens=len(added), markets=len(universe.markets))
        return added

    def resolve_from_data(self, market: Market) -> bool:
        """Pay ``market`` by the resolution its (Gamma) data states: the outcome paid in full,
        or every outcome an equal share (50/50). False when the data states none."""
        payouts = market.payouts
        if payouts is None:
            return False
        for token_id in market.token_ids:
            self.markets_by_token.setdefault(token_id, market)
        winners = [o for o, paid in zip(market.outcomes, payouts, strict=True) if paid == 1]
        if winners:
            self.on_resolved(market.condition_id, winners[0].token_id, winners[0].label)
        else:
            self.on_resolved(market.condition_id, "", "50/50")
        return True

    # ------------------------------------------------------------------ kill switch
    def _on_risk_event(self, event: RiskEvent | None) -> None:
        """The kill switch engaged (by anyone): cancel every resting order at once."""
        if event is None or event.kind != "kill_switch_engaged":
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # engaged before the loop runs (tests): nothing can rest yet
            return
        self._cancelling = loop.create_task(self._cancel_resting(event.detail))

    async def _cancel_resting(self, reason: str) -> None:
        try:
            canceled = await self.execution.cancel_all()
        except Exception as exc:  # the switch stays engaged; the operator must know
            log.exception("cancel on kill switch failed")
            self.emit_error("execution", "cancel_failed", f"{type(exc).__name__}: {exc}")
            return
        if canceled:
            log.warning("kill switch: resting orders canceled", count=len(canceled), why=reason)

    async def engage_kill_switch(self, reason: str, actor: str) -> None:
        """Engage the kill switch and return once resting orders are canceled (executions
        still waiting on the venue fill nothing from now on)."""
        self.risk.engage(reason, actor, self.clock.now_ns())
        if self._cancelling is not None:
            await self._cancelling

    def _on_order_update(self, order: Order, fills: list[Fill]) -> None:
        """A resting order filled or was canceled after its execution returned."""
        self.counters.fills += len(fills)
        for sink in self.order_sinks:
            sink(order, fills)
        if self.bus is None:
            return
        self._spawn_publish(Channel.TRADES, TradeEvent.from_order(order))
        for fill in fills:
            self._spawn_publish(
                Channel.TRADES, TradeEvent.from_fill(fill, signal_id=order.signal_id)
            )

    def on_book_mismatch(self, mismatch: BookMismatch) -> None:
        """The book is stale already (no strategy trades it); the feed repairs it. Say so."""
        self.emit_error(
            "feed",
            "book_mismatch",
            mismatch.describe(),
            details={
                "token_id": mismatch.token_id,
                "venue_best_bid": str(mismatch.venue_bid),
                "venue_best_ask": str(mismatch.venue_ask),
                "book_best_bid": str(mismatch.book_bid),
                "book_best_ask": str(mismatch.book_ask),
                "messages": str(mismatch.messages),
                "elapsed_ms": str(mismatch.elapsed_ms),
            },
        )

    # ------------------------------------------------------------------ operator commands
    def pause(self, actor: str) -> None:
        self.paused = True
        log.warning("trading paused", actor=actor)

    def resume(self, actor: str) -> None:
        self.paused = False
        log.warning("trading resumed", actor=actor)

    # ---------------------------------------------------------------------- publishing
    def _emit_signal(self, event: SignalEvent) -> None:
        for sink in self.signal_sinks:
            sink(event)
        if self.bus is not None:
            self._spawn_publish(Channel.SIGNALS, event)

    def _publish_report(self, report: ExecutionReport, signal: Signal) -> None:
        if self.bus is None:
            return
        for order in report.orders:
            self._spawn_publish(Channel.TRADES, TradeEvent.from_order(order))
        for fill in report.fills:
            self._spawn_publish(
                Channel.TRADES, TradeEvent.from_fill(fill, signal_id=report.signal_id)
            )

    def emit_error(
        self, source: str, kind: str, message: str, details: dict[str, str] | None = None
    ) -> None:
        message = scrub(message)  # an error text must not carry a password to the bus or store
        if details:
            details = {key: scrub(value) for key, value in details.items()}
        log.error("engine error", source=source, kind=kind, message=message)
        for sink in self.error_sinks:
            sink(source, kind, message)
        if self.bus is not None:
            event = ErrorEvent(source=source, kind=kind, message=message, details=details or {})
            self._spawn_publish(Channel.ERRORS, event)

    def on_leg_alert(self, report: LegRiskReport) -> None:
        orphans = ", ".join(f"{o.shares} of {o.token_id[:12]}…" for o in report.detected)
        left = ", ".join(f"{o.shares} of {o.token_id[:12]}…" for o in report.remaining)
        result = f"loss {report.loss}" if report.loss > 0 else f"gain {-report.loss}"
        message = (
            f"{report.strategy} {report.signal_id}: legs filled unevenly ({orphans}); "
            f"policy {report.policy} did {'/'.join(report.actions) or 'nothing'}, "
            f"{result} (loss cap {report.max_loss}); "
            + (f"still unhedged: {left}" if left else "flat again")
        )
        if report.resolved and report.loss <= 0:
            # Flat again without giving anything up: worth a line, not an error or an alert.
            log.warning("leg risk resolved", signal_id=report.signal_id, message=message)
            return
        self.emit_error("execution", "leg_risk", message)

    def _spawn_publish(self, channel: Channel, payload: Any) -> None:
        if self.bus is not None:
            self.bus.publish_nowait(channel, payload)

    # ----------------------------------------------------------------------------- state
    def state(self) -> EngineState:
        """The bounded snapshot published on ``poly:state`` every 100 ms."""
        now = self.clock.now_ns()
        books = self.books.books
        stale = sum(1 for b in books.values() if b.stale)
        agreement = self.books.agreement()
        opportunities = tuple(
            Opportunity(
                strategy=o.strategy,
                market=o.market,
                edge=o.best_edge,
                size=o.max_size,
                expected_profit=o.best_edge * o.max_size,
                ts_ns=o.last_seen_ns,
                label=self.labels.get(o.market, ""),
                signal_id=o.signal_ids[-1] if o.signal_ids else "",
            )
            for o in self.tracker.open_records()
            # A torn view or an anomaly is not an opportunity anyone could take: counted, not
            # shown as one.
            if o.outcome not in (TORN_VIEW, ANOMALY)
        )
        positions = []
        for pos in self.ledger.positions():
            market = self.markets_by_token.get(pos.token_id)
            mark = self.ledger.unrealized_pnl(pos.token_id)
            positions.append(
                PositionMark(
                    token_id=pos.token_id,
                    market=market.condition_id if market else "",
                    outcome=_outcome_label(market, pos.token_id),
                    size=pos.shares,
                    avg_cost=pos.avg_cost,
                    mark=self.ledger.mark_of(pos.token_id),
                    unrealized_pnl=mark,
                )
            )
        status = self.risk.status(now)
        kill = next((g for g in status.gates if g.name == "kill_switch"), None)
        return EngineState(
            status="paused" if self.paused else self.status,
            trading_state=status.state.value,
            kill_switch=kill is not None,
            kill_switch_reason=kill.reason if kill is not None else "",
            mode=self.mode,
            started_ns=self.started_ns,
            bus_connected=self.bus.stats.connected if self.bus is not None else True,
            bus_dropped=self.bus.stats.dropped if self.bus is not None else 0,
            breakers={b.name: b.state.value for b in self.breakers},
            markets_tracked=len(self.universe.markets),
            books_tracked=len(books),
            books_stale=stale,
            opportunities=opportunities,
            positions=tuple(positions),
            pnl=DailyPnl(
                day=utc_day(now),
                realized=self.ledger.daily_realized(utc_day(now)),
                unrealized=self.ledger.unrealized_pnl(),
                fees=self.ledger.fees_paid,
                trades=self.counters.fills,
            ),
            counters=Counters(
                frames=self.books.stats.frames,
                signals=self.counters.signals,
                orders=self.counters.orders,
                fills=self.counters.fills,
                denials=dict(self.risk.denials),
                book_checks=agreement.checks,
                book_agreed=agreement.agreed,
                book_repairs=agreement.repairs,
                torn_views=self.counters.torn_views,
                anomalies=self.counters.anomalies,
            ),
            strategies=tuple(
                StrategyStatus(name=s.name, enabled=s.name not in self.disabled, params=_params(s))
                for s in self.strategies
            ),
        )

    def decision_percentiles_us(self) -> dict[str, Decimal]:
        samples = sorted(self.counters.decision_ns)
        if not samples:
            return {}

        def pct(p: int) -> Decimal:
            return Decimal(samples[min(len(samples) - 1, (len(samples) * p) // 100)]) / 1000

        return {"p50": pct(50), "p99": pct(99), "max": Decimal(samples[-1]) / 1000}


def _tick_units(market: Market) -> int:
    return int(market.tick_size * 10_000)


def _params(strategy: Strategy) -> dict[str, str]:
    """The strategy's current parameters as strings (its config's ``params()``), or none."""
    params = getattr(getattr(strategy, "config", None), "params", None)
    return dict(params()) if callable(params) else {}


def _outcome_label(market: Market | None, token_id: str) -> str:
    if market is None:
        return ""
    for outcome in market.outcomes:
        if outcome.token_id == token_id:
            return outcome.label
    return ""


def _strategy_outcome(report_outcome: str) -> str:
    # Execution outcomes map onto the strategies' terminal outcomes.
    return {
        "filled": "filled",
        "partial": "partial",
        "rejected": "failed",
        "missed": "missed",
        "resting": "partial",
        "logged": "missed",
    }.get(report_outcome, FAILED)
