"""Prometheus metrics of a running engine (``/metrics`` on ``HEALTH_PORT``).

Almost everything is read at scrape time from counters the engine already keeps (the feed's,
the books', the bus's, the store's, risk's, the ledger's, the breakers'): a custom collector,
so the hot path pays nothing for metrics. The exceptions are the outcomes that exist only as
events (a signal's final outcome, orders and fills by label, leg-risk handling): they are
counted by sinks the engine already calls after a decision, never before one.

Names are ``polyarb_*`` in base units (seconds, dollars); labels take a few known values only
(strategy, outcome, mode, order status, denial reason, message type, dependency), never ids.
Money is exact inside polyarb; exported as floats here, at the edge, for Prometheus.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from polyarb.bus import Bus
from polyarb.domain.ledger import utc_day
from polyarb.domain.trading import Fill, Order, OrderStatus, Signal
from polyarb.engine.core import Engine
from polyarb.execution.base import ExecutionReport
from polyarb.execution.live.user_channel import EVENT_TYPES, UserChannelClient
from polyarb.marketdata.feed import MarketFeed
from polyarb.monitor.breaker import BreakerState, CircuitBreaker
from polyarb.monitor.slack import SlackNotifier
from polyarb.risk.state import TradingState
from polyarb.store import Store
from polyarb.strategies.base import DENIED_PREFIX, FAILED, FILLED, MISSED, PARTIAL

if TYPE_CHECKING:  # the chain modules load the signing libraries: only when going live
    from polyarb.engine.chain_ops import ChainOps

# ``execution.chain.ChainTxStatus`` values, every one served from the start (0 until it happens)
CHAIN_STATUSES = ("confirmed", "reverted", "refused", "replaced", "unknown")

NS = 1_000_000_000
# Tick-to-decision buckets (seconds): the target is p99 <= 200 µs, done under 1 ms.
DECISION_BUCKETS = (
    25e-6,
    50e-6,
    100e-6,
    200e-6,
    500e-6,
    1e-3,
    2e-3,
    5e-3,
    10e-3,
    50e-3,
    100e-3,
)


# Series exported at 0 before their first event, so that increase() counts that event too.
RECONNECT_REASONS = ("closed", "dropped", "silence", "connect_failed", "error")  # the feed's
DENIAL_REASONS = (  # risk.checks'
    "invalid_signal",
    "halted",
    "reducing",
    "daily_loss",
    "rate_limit",
    "notional_limit",
    "insufficient_position",
    "position_limit",
    "exposure_limit",
)


def _dollars(value: Decimal) -> float:
    return float(value)


class DecisionHistogram:
    """A cumulative histogram of the engine's tick-to-decision samples.

    The engine keeps the last 100,000 samples in a deque and counts every sample it takes
    (``counters.decision_samples``); each scrape adds the samples taken since the previous one.
    Samples that left the deque between two scrapes (more than 100,000 decisions in one scrape
    interval) are counted in ``lost``, not guessed.
    """

    def __init__(self, buckets: tuple[float, ...] = DECISION_BUCKETS) -> None:
        self.bounds_ns = [int(b * NS) for b in buckets]
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # per bucket, the last one is +Inf
        self.sum_ns = 0
        self.seen = 0
        self.lost = 0

    def update(self, engine: Engine) -> None:
        counters = engine.counters
        total = counters.decision_samples
        new = total - self.seen
        if new <= 0:
            return
        window = counters.decision_ns
        available = min(new, len(window))
        self.lost += new - available
        bounds = self.bounds_ns
        counts = self.counts
        for sample in list(window)[len(window) - available :]:
            counts[bisect.bisect_left(bounds, sample)] += 1
            self.sum_ns += sample
        self.seen = total

    def family(self) -> HistogramMetricFamily:
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            cumulative.append((repr(bound), running))
        running += self.counts[-1]
        cumulative.append(("+Inf", running))
        family = HistogramMetricFamily(
            "polyarb_tick_to_decision_seconds",
            "From the frame's receive time to the order command (taken signals, live clock).",
        )
        family.add_metric([], cumulative, sum_value=self.sum_ns / NS)
        return family


class EventMetrics:
    """What exists only as events: counted by the engine's sinks, after each decision."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.signals = Counter(
            "polyarb_signals",
            "Signals by strategy and final outcome (denied, filled, partial, failed, missed).",
            ["strategy", "outcome"],
            registry=registry,
        )
        self.orders = Counter(
            "polyarb_orders",
            "Orders of executed signals by mode and status when the execution reported.",
            ["mode", "status"],
            registry=registry,
        )
        self.order_updates = Counter(
            "polyarb_order_updates",
            "Later changes of resting orders (fills, cancels) by mode and new status.",
            ["mode", "status"],
            registry=registry,
        )
        self.fills = Counter(
            "polyarb_fills", "Fills by strategy and mode.", ["strategy", "mode"], registry=registry
        )
        self.fill_notional = Counter(
            "polyarb_fill_notional_dollars",
            "Price x size of fills by strategy.",
            ["strategy"],
            registry=registry,
        )
        self.leg_risk = Counter(
            "polyarb_leg_risk_events",
            "Executions whose legs filled unevenly, by policy and result (flat or unhedged).",
            ["policy", "result"],
            registry=registry,
        )

    def attach(self, engine: Engine) -> None:
        """Count the engine's events; the usual series exist at 0 from the start, so rates
        and alerts see them before the first event."""
        mode = engine.mode.value
        for strategy in engine.strategies:
            for outcome in ("denied", FILLED, PARTIAL, FAILED, MISSED):
                self.signals.labels(strategy.name, outcome)
            self.fills.labels(strategy.name, mode)
            self.fill_notional.labels(strategy.name)
        for status in (OrderStatus.FILLED, OrderStatus.PARTIAL, OrderStatus.CANCELED):
            self.orders.labels(mode, status.value.lower())
            self.order_updates.labels(mode, status.value.lower())
        for result in ("flat", "unhedged"):
            self.leg_risk.labels(engine.settings.leg_policy, result)
        engine.signal_record_sinks.append(self.on_signal)
        engine.trade_sinks.append(self.on_report)
        engine.order_sinks.append(self.on_order_update)

    def on_signal(self, signal: Signal, outcome: str, reason: str) -> None:
        if outcome.startswith(DENIED_PREFIX):
            outcome = "denied"  # the reasons are in polyarb_risk_denials_total
        self.signals.labels(signal.strategy, outcome).inc()

    def on_report(self, report: ExecutionReport, signal: Signal) -> None:
        for order in report.orders:
            self.orders.labels(order.mode.value, order.status.value.lower()).inc()
        self._count_fills(report.fills)
        leg = report.leg_risk
        if leg is not None:
            self.leg_risk.labels(leg.policy, "flat" if leg.resolved else "unhedged").inc()

    def on_order_update(self, order: Order, fills: list[Fill]) -> None:
        self.order_updates.labels(order.mode.value, order.status.value.lower()).inc()
        self._count_fills(fills)

    def _count_fills(self, fills: Iterable[Fill]) -> None:
        for fill in fills:
            self.fills.labels(fill.strategy, fill.mode.value).inc()
            self.fill_notional.labels(fill.strategy).inc(_dollars(fill.price * fill.size))


def _counter(name: str, doc: str, value: float, labels: Mapping[str, str] | None = None) -> Metric:
    family = CounterMetricFamily(name, doc, labels=list(labels) if labels else None)
    family.add_metric(list(labels.values()) if labels else [], value)
    return family


def _gauge(name: str, doc: str, value: float) -> Metric:
    return GaugeMetricFamily(name, doc, value=value)


def _labelled(
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    doc: str,
    label: str,
    values: Mapping[str, float],
) -> Metric:
    family = kind(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


@dataclass(slots=True)
class UserChannelSlot:
    """Where the live start puts the user channel (and the chain operations): the registry is
    built before the engine goes live, so it holds this slot and reads what is in it at scrape
    time."""

    channel: UserChannelClient | None = None
    chain: ChainOps | None = None


@dataclass(frozen=True, slots=True)
class Watched:
    """What the metrics and the readiness checks look at: the engine and what ``run_engine``
    wired to it (None where a run has no such part; the user channel once live)."""

    engine: Engine
    feed: MarketFeed | None = None
    bus: Bus | None = None
    store: Store | None = None
    breakers: tuple[CircuitBreaker, ...] = ()
    notifier: SlackNotifier | None = None
    user_channel: UserChannelSlot = field(default_factory=UserChannelSlot)


# (name, help, attribute) of plain counters read from one stats object.
FEED_COUNTERS = (
    ("polyarb_feed_frames", "WebSocket frames decoded.", "frames"),
    ("polyarb_feed_malformed_messages", "Messages that could not be used.", "malformed"),
    ("polyarb_feed_unknown_messages", "Messages of an unknown type.", "unknown"),
    (
        "polyarb_feed_timestamps_backwards",
        "Messages older than the previous one of their book (applied in arrival order).",
        "ts_backwards",
    ),
)
REST_COUNTERS = (
    ("polyarb_feed_rest_checks", "REST midpoint comparisons.", "checks"),
    ("polyarb_feed_rest_mismatches", "REST midpoints outside tolerance.", "mismatches"),
    (
        "polyarb_feed_stale_snapshots",
        "REST answers older than the stream (refused, token resubscribed).",
        "stale_snapshots",
    ),
    ("polyarb_feed_rest_errors", "REST calls of the feed that failed.", "errors"),
)
BUS_COUNTERS = (
    ("polyarb_bus_published", "Messages handed to the bus transport.", "published"),
    ("polyarb_bus_dropped", "Publishes that never reached the transport.", "dropped"),
    ("polyarb_bus_reconnects", "Publisher reconnections.", "reconnects"),
)
STORE_COUNTERS = (
    ("polyarb_store_written_rows", "Rows committed to the database.", "written"),
    ("polyarb_store_spooled_rows", "Rows written to the spool during outages.", "spooled_records"),
    ("polyarb_store_replayed_rows", "Spooled rows replayed into the database.", "replayed_records"),
    ("polyarb_store_rejected_rows", "Rows the database refused.", "rejected_records"),
    ("polyarb_store_outages", "Database outages seen by the writer.", "outages"),
)

SLACK_COUNTERS = (
    ("polyarb_slack_posts", "Alerts Slack accepted (200).", "posted"),
    ("polyarb_slack_attempts", "Posts tried, retries included.", "attempts"),
    ("polyarb_slack_rate_limited", "Posts answered 429 (then Retry-After waited).", "rate_limited"),
    ("polyarb_slack_failures", "Posts that failed (5xx, network), retried.", "failures"),
    ("polyarb_slack_dropped", "Alerts Slack refused for good (4xx other than 429).", "dropped"),
    ("polyarb_alerts_coalesced", "Alert occurrences merged or held back.", "coalesced"),
)


def _counters(table: Iterable[tuple[str, str, str]], stats: object) -> Iterable[Metric]:
    for name, doc, attribute in table:
        yield _counter(name, doc, getattr(stats, attribute))


class EngineCollector(Collector):
    """Reads the engine's own counters at scrape time (on the engine's loop)."""

    def __init__(self, watched: Watched) -> None:
        self.engine = watched.engine
        self.feed = watched.feed
        self.bus = watched.bus
        self.store = watched.store
        self.breakers = watched.breakers
        self.notifier = watched.notifier
        self.decisions = DecisionHistogram()

    def collect(self) -> Iterable[Metric]:
        yield from self._feed()
        yield from self._engine()
        yield from self._ledger()
        yield from self._bus()
        yield from self._store()
        yield from self._breakers()
        yield from self._alerts()

    # --- feed -----------------------------------------------------------------------------

    def _feed(self) -> Iterable[Metric]:
        engine = self.engine
        stats = engine.books.stats
        yield from _counters(FEED_COUNTERS, stats)
        yield _labelled(
            CounterMetricFamily,
            "polyarb_feed_messages",
            "Market-channel messages by event type.",
            "type",
            stats.events_by_type,
        )
        now = engine.clock.now_ns()
        fresh = stale = crossed = 0
        oldest_fresh_ns = 0
        for book in engine.books.books.values():
            if book.stale:
                stale += 1
                continue
            fresh += 1
            oldest_fresh_ns = max(oldest_fresh_ns, now - book.ts_recv_ns)
            if book.is_crossed():
                crossed += 1
        books = GaugeMetricFamily("polyarb_books", "Books tracked, by state.", labels=["state"])
        books.add_metric(["fresh"], fresh)
        books.add_metric(["stale"], stale)
        yield books
        yield _gauge(
            "polyarb_books_crossed",
            "Fresh books whose best bid >= best ask (torn: an update was lost or reordered).",
            crossed,
        )
        yield _gauge(
            "polyarb_books_disagreeing",
            "Books disagreeing right now with the venue's best bid/ask (stale meanwhile).",
            engine.books.disagreeing_count(),
        )
        yield _gauge(
            "polyarb_book_oldest_update_age_seconds",
            "Time since the last update of the least recently updated fresh book.",
            oldest_fresh_ns / NS,
        )
        agreement = engine.books.agreement()
        yield _counter(
            "polyarb_book_checks",
            "Book tops compared with the venue's best bid/ask after a price_change.",
            agreement.checks,
        )
        yield _counter(
            "polyarb_book_checks_agreed", "Of those, the comparisons that agreed.", agreement.agreed
        )
        yield _counter(
            "polyarb_book_check_failures",
            "Books a lasting disagreement made stale and sent for repair.",
            agreement.repairs,
        )
        feed = self.feed
        if feed is None:
            return
        shards = list(feed.stats.values())
        reasons: dict[str, float] = dict.fromkeys(RECONNECT_REASONS, 0)
        for shard in shards:
            for reason, count in shard.reconnect_reasons.items():
                reasons[reason] = reasons.get(reason, 0) + count
        yield _labelled(
            CounterMetricFamily,
            "polyarb_feed_reconnects",
            "WebSocket reconnections by reason.",
            "reason",
            reasons,
        )
        yield _gauge("polyarb_feed_connections", "WebSocket connections wanted.", len(shards))
        yield _gauge(
            "polyarb_feed_connections_up",
            "WebSocket connections open and past their first snapshots.",
            sum(1 for s in shards if s.connected and s.ready),
        )
        yield _gauge(
            "polyarb_feed_data_age_seconds",
            "Time since the last frame of the quietest connection (PONGs included).",
            feed_data_age_ns(feed, now, engine.started_ns) / NS,
        )
        rest = feed.rest_stats
        yield from _counters(REST_COUNTERS, rest)
        yield _counter(
            "polyarb_feed_rest_repairs",
            "Books replaced from REST /book (cross-check repairs and refetches).",
            rest.repairs + rest.refetches,
        )

    # --- engine ---------------------------------------------------------------------------

    def _engine(self) -> Iterable[Metric]:
        engine = self.engine
        counters = engine.counters
        self.decisions.update(engine)
        yield self.decisions.family()
        yield _counter(
            "polyarb_tick_to_decision_samples_lost",
            "Decisions timed but gone from the sample window before a scrape read them.",
            self.decisions.lost,
        )
        yield _counter(
            "polyarb_evaluations",
            "Strategy evaluations (one per strategy per update).",
            counters.evaluations,
        )
        per_strategy = {s.name: s.stats().get("evaluations", 0) for s in engine.strategies}
        yield _labelled(
            CounterMetricFamily,
            "polyarb_strategy_evaluations",
            "Market keys evaluated, by strategy.",
            "strategy",
            per_strategy,
        )
        yield _counter(
            "polyarb_signals_taken", "Signals approved by risk and sent.", counters.taken
        )
        yield _counter(
            "polyarb_execution_errors", "Executions that raised.", counters.execution_errors
        )
        yield _labelled(
            CounterMetricFamily,
            "polyarb_risk_denials",
            "Signals denied by risk, by reason.",
            "reason",
            {**dict.fromkeys(DENIAL_REASONS, 0), **engine.risk.denials},
        )
        opportunities = CounterMetricFamily(
            "polyarb_opportunities",
            "Closed opportunities by strategy and outcome (missed, denied:<reason>, filled ...).",
            labels=["strategy", "outcome"],
        )
        open_now = GaugeMetricFamily(
            "polyarb_opportunities_open", "Opportunities open now.", labels=["strategy"]
        )
        open_by: dict[str, int] = {}
        for opp in engine.tracker.open_records():
            open_by[opp.strategy] = open_by.get(opp.strategy, 0) + 1
        for strategy, by_outcome in sorted(engine.tracker.outcome_counts().items()):
            for outcome, count in sorted(by_outcome.items()):
                opportunities.add_metric([strategy, outcome], count)
        for strategy in sorted({s.name for s in engine.strategies} | set(open_by)):
            open_now.add_metric([strategy], open_by.get(strategy, 0))
        yield opportunities
        yield open_now
        state = engine.risk.state
        trading = GaugeMetricFamily(
            "polyarb_trading_state", "1 for the risk manager's current state.", labels=["state"]
        )
        for value in TradingState:
            trading.add_metric([value.value], 1 if state is value else 0)
        yield trading
        yield _gauge(
            "polyarb_kill_switch_engaged",
            "1 while the kill switch is engaged.",
            1 if engine.risk.kill_switch is not None else 0,
        )
        yield _gauge(
            "polyarb_engine_paused", "1 while an operator paused the strategies.", engine.paused
        )
        yield _gauge(
            "polyarb_engine_running",
            "1 while the engine runs (not starting or stopping).",
            engine.status == "running",
        )
        yield _gauge(
            "polyarb_engine_start_time_seconds",
            "Unix time the engine started.",
            engine.started_ns / NS,
        )
        yield _gauge(
            "polyarb_executions_in_flight",
            "Signals being executed now.",
            engine.executions_in_flight,
        )

    # --- ledger ---------------------------------------------------------------------------

    def _ledger(self) -> Iterable[Metric]:
        engine = self.engine
        ledger = engine.ledger
        zero = {s.name: 0.0 for s in engine.strategies}
        yield _labelled(
            GaugeMetricFamily,
            "polyarb_realized_pnl_dollars",
            "Realized P&L since the ledger began, by strategy.",
            "strategy",
            {**zero, **{k: _dollars(v) for k, v in ledger.pnl_by_strategy().items()}},
        )
        yield _gauge(
            "polyarb_realized_pnl_today_dollars",
            "Realized P&L of the current UTC day.",
            _dollars(ledger.daily_realized(utc_day(engine.clock.now_ns()))),
        )
        yield _gauge(
            "polyarb_unrealized_pnl_dollars",
            "Open positions marked at the best bid, less their cost.",
            _dollars(ledger.unrealized_pnl()),
        )
        yield _labelled(
            CounterMetricFamily,
            "polyarb_fees_dollars",
            "Fees paid since the ledger began, by strategy.",
            "strategy",
            {**zero, **{k: _dollars(v) for k, v in ledger.fees_by_strategy().items()}},
        )
        yield _gauge(
            "polyarb_exposure_dollars",
            "Cost of open positions plus what in-flight orders can still spend (risk's view).",
            _dollars(engine.risk.exposure()),
        )
        yield _gauge("polyarb_cash_dollars", "Cash in the ledger.", _dollars(ledger.cash))
        yield _gauge(
            "polyarb_equity_dollars",
            "Cash plus positions at their marks.",
            _dollars(ledger.equity()),
        )
        yield _gauge("polyarb_positions", "Tokens with an open position.", len(ledger.positions()))

    # --- bus and store --------------------------------------------------------------------

    def _bus(self) -> Iterable[Metric]:
        if self.bus is None:
            return
        stats = self.bus.stats
        yield from _counters(BUS_COUNTERS, stats)
        yield _gauge(
            "polyarb_bus_connected", "1 while the bus publisher is connected.", stats.connected
        )
        yield _gauge("polyarb_bus_queue_depth", "Messages waiting to be published.", stats.queued)

    def _store(self) -> Iterable[Metric]:
        store = self.store
        if store is None:
            return
        stats = store.stats
        yield _gauge(
            "polyarb_store_queue_depth",
            "Rows submitted to the writer and not yet durable.",
            store.queue_depth,
        )
        yield from _counters(STORE_COUNTERS, stats)
        yield _gauge(
            "polyarb_store_up",
            "1 while the database is reachable and the spool replayed.",
            store.healthy,
        )

    def _breakers(self) -> Iterable[Metric]:
        if not self.breakers:
            return
        state = GaugeMetricFamily(
            "polyarb_breaker_state",
            "1 for each dependency's circuit breaker state.",
            labels=["dependency", "state"],
        )
        calls = CounterMetricFamily(
            "polyarb_breaker_calls", "Calls guarded by the breaker.", labels=["dependency"]
        )
        failures = CounterMetricFamily(
            "polyarb_breaker_failures", "Guarded calls that failed.", labels=["dependency"]
        )
        rejected = CounterMetricFamily(
            "polyarb_breaker_rejected", "Calls refused while open.", labels=["dependency"]
        )
        opened = CounterMetricFamily(
            "polyarb_breaker_opened", "Times the breaker opened.", labels=["dependency"]
        )
        for breaker in self.breakers:
            for value in BreakerState:
                state.add_metric([breaker.name, value.value], 1 if breaker.state is value else 0)
            calls.add_metric([breaker.name], breaker.calls)
            failures.add_metric([breaker.name], breaker.failures)
            rejected.add_metric([breaker.name], breaker.rejected)
            opened.add_metric([breaker.name], breaker.opened)
        yield from (state, calls, failures, rejected, opened)

    def _alerts(self) -> Iterable[Metric]:
        notifier = self.notifier
        # Always served (0 without Slack), so the alert rule on it has a series to read.
        yield _gauge(
            "polyarb_alerts_queued",
            "Alerts waiting for Slack (retried until taken).",
            0 if notifier is None else notifier.queued,
        )
        if notifier is not None:
            yield from _counters(SLACK_COUNTERS, notifier.stats)


class UserChannelCollector(Collector):
    """The user channel's counters (``/ws/user``) and the chain transactions', served once a live
    start put them in the slot; absent before that and in paper or dry runs."""

    def __init__(self, slot: UserChannelSlot) -> None:
        self.slot = slot

    def collect(self) -> Iterable[Metric]:
        chain = self.slot.chain
        if chain is not None:
            yield _labelled(
                CounterMetricFamily,
                "polyarb_chain_transactions",
                "Chain transactions (merge, convert, redeem) by outcome.",
                "status",
                {**dict.fromkeys(CHAIN_STATUSES, 0), **chain.transactions},
            )
            yield _counter(
                "polyarb_chain_gas_usd",
                "Gas of the mined chain transactions, USD at CHAIN_POL_USD.",
                float(chain.gas_usd),
            )
        channel = self.slot.channel
        if channel is None:
            return
        stats = channel.stats
        yield _gauge(
            "polyarb_user_channel_connected",
            "1 while the user channel is connected and subscribed.",
            channel.connected.is_set(),
        )
        yield _labelled(
            CounterMetricFamily,
            "polyarb_user_channel_messages",
            "User-channel events decoded, by type (order, trade).",
            "type",
            {**dict.fromkeys(EVENT_TYPES, 0), **stats.events_by_type},
        )
        yield _counter(
            "polyarb_user_channel_malformed_messages",
            "User-channel frames that could not be decoded (skipped).",
            stats.malformed,
        )
        yield _counter(
            "polyarb_user_channel_reconnects",
            "User-channel connections lost (each retried with backoff).",
            stats.disconnects,
        )


def feed_data_age_ns(feed: MarketFeed, now_ns: int, since_ns: int) -> int:
    """Age of the quietest connection's last frame (``since_ns`` for one without any yet)."""
    ages = [now_ns - (s.last_frame_ns or since_ns) for s in feed.stats.values()]
    return max(ages, default=0)


def build_registry(watched: Watched) -> CollectorRegistry:
    """A registry of the engine's metrics and the process's (CPU, memory, GC)."""
    registry = CollectorRegistry()
    registry.register(EngineCollector(watched))
    registry.register(UserChannelCollector(watched.user_channel))
    EventMetrics(registry).attach(watched.engine)
    for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(standard)
    return registry
