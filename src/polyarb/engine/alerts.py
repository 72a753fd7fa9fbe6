"""What the engine tells Slack: its events turned into ``Alert``s for ``SlackNotifier``.

Alerts (key; severity; toggle):

* kill switch engaged / cleared, daily loss limit hit / cleared, reducing / resumed
  (``risk:<kind>``; critical, warning or info; ``SLACK_NOTIFY_RISK``);
* leg risk, execution errors (``execution:<kind>``; critical; ``SLACK_NOTIFY_ERRORS``);
* chain transactions refused, reverted, replaced or unresolved (``chain:<status>``; critical;
  ``SLACK_NOTIFY_ERRORS``), live without ``POLYGON_RPC_URL`` (``chain:no_rpc``; warning);
* breaker opened / closed (``breaker:<dependency>:<state>``; critical for the CLOB, warning,
  info when closed; ``SLACK_NOTIFY_ERRORS``);
* book mismatch and other error events (``<source>:<kind>``; warning; ``SLACK_NOTIFY_ERRORS``);
* feed, database, bus down / back from the readiness checks (``down:<check>``, ``up:<check>``;
  critical, info; always);
* fills of an execution (``orders:<strategy>``; info; ``SLACK_NOTIFY_ORDERS``);
* engine started / stopped (``engine:started``, ``engine:stopped``; info; always).

The database's own outage error event is left to the ``database`` check (one alert, not two).
Keys differ between an event and its end (``down:`` and ``up:``), so that the end is never held
back by the coalescing window of the start.

Every alert also reaches the dashboard: ``StoreJournal`` writes it to the ``alerts`` table with
its Slack delivery (the notifier's journal: undelivered critical alerts are read back at the
next start), and it is published on ``poly:alerts`` for the live stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from polyarb.bus import AlertEvent, Channel
from polyarb.config import Settings
from polyarb.domain.trading import Signal
from polyarb.engine.core import Engine
from polyarb.engine.health import EngineProbe
from polyarb.execution.base import ExecutionReport
from polyarb.monitor.slack import (
    Alert,
    AlertJournal,
    Delivery,
    Severity,
    SlackNotifier,
    prepared,
)
from polyarb.risk.state import RiskEvent, TradingState
from polyarb.store import AlertDelivery, AlertRecord, Store

WATCHED_CHECKS = ("feed", "database", "bus")
_RISK: dict[str, Severity] = {
    "kill_switch_engaged": "critical",
    "kill_switch_cleared": "warning",
    "loss_limit": "critical",
    "loss_limit_cleared": "warning",
    "reducing": "warning",
    "resumed": "info",
}


class StoreJournal:
    """The notifier's journal in the ``alerts`` table, through the store's writer (spooled
    while the database is down, so an alert about the outage itself is kept too)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def queued(self, alert: Alert, delivery: Delivery) -> None:
        self.store.submit(
            AlertRecord(
                ts_ns=alert.ts_ns,
                severity=alert.severity,
                title=alert.title[:256],
                message=alert.text,
                dedup_key=alert.key[:128],
                delivery=delivery,
                event_id=alert.id,
            )
        )

    def resolved(self, ids: Sequence[str], delivery: Delivery) -> None:
        self.store.submit(
            AlertDelivery(event_ids=tuple(ids), delivery=delivery, ts_ns=time.time_ns())
        )


KEPT_KEYS = ("report:",)  # besides critical alerts, these are posted after a restart too


def kept(alert: Alert) -> bool:
    """Worth posting late: critical alerts and the daily report."""
    return alert.severity == "critical" or alert.key.startswith(KEPT_KEYS)


async def undelivered_alerts(store: Store) -> list[Alert]:
    """The alerts a previous run left ``pending`` (the notifier keeps those worth it)."""
    rows = await store.queries.undelivered_alerts()
    return [
        Alert(_severity(r.severity), r.dedup_key, r.title, r.message, r.ts_ns, r.event_id)
        for r in rows
    ]


def _severity(value: str) -> Severity:
    return "critical" if value == "critical" else "warning" if value == "warning" else "info"


class EngineAlerts:
    """The engine's alerts: each one kept (``journal``) and published on ``poly:alerts`` for the
    dashboard; posted to Slack when a ``notifier`` is given and its ``SLACK_NOTIFY_*`` toggle
    is on (otherwise kept with delivery ``none``)."""

    def __init__(
        self,
        engine: Engine,
        notifier: SlackNotifier | None,
        settings: Settings,
        probe: EngineProbe,
        *,
        journal: AlertJournal | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.engine = engine
        self.notifier = notifier
        self.settings = settings
        self.probe = probe
        self.journal = journal
        self.redact = redact
        self._down: dict[str, str] = {}  # check -> reason, while down
        engine.error_sinks.append(self.on_error)
        engine.risk.listeners.append(self.on_risk)
        if notifier is not None and settings.slack_notify_orders:  # Slack only: fills
            engine.trade_sinks.append(self.on_report)

    def send(
        self, severity: Severity, key: str, title: str, text: str = "", *, slack: bool = True
    ) -> None:
        instance = self.engine.instance_id
        alert = Alert(severity, key, f"{instance}: {title}", text)
        notifier = self.notifier
        alert = notifier.prepare(alert) if notifier is not None else prepared(alert, self.redact)
        if notifier is not None and slack:
            notifier.notify(alert)  # its journal keeps it, with the post's delivery
        elif self.journal is not None:
            self.journal.queued(alert, "none")
        if self.engine.bus is not None:  # the dashboard's live stream
            event = AlertEvent(
                event_id=alert.id,
                severity=alert.severity,
                key=alert.key,
                title=alert.title,
                text=alert.text,
                ts_ns=alert.ts_ns,
            )
            self.engine.bus.publish_nowait(Channel.ALERTS, event)

    def started(self) -> None:
        engine = self.engine
        self.send(
            "info",
            "engine:started",
            f"engine started ({engine.mode.value}, {len(engine.universe.markets)} markets, "
            f"trading {engine.risk.state.value})",
        )
        if engine.risk.state is TradingState.HALTED:  # restored, or recovery failed: say why
            now = engine.clock.now_ns()
            gates = "; ".join(f"{g.name}: {g.reason}" for g in engine.risk.gates(now))
            self.send(
                "critical",
                "risk:halted_at_start",
                "trading halted at start",
                gates,
                slack=self.settings.slack_notify_risk,
            )

    def stopped(self) -> None:
        ledger = self.engine.ledger
        self.send(
            "info",
            "engine:stopped",
            "engine stopped",
            f"realized P&L {ledger.realized_pnl:.4f}, fees {ledger.fees_paid:.4f}",
        )

    def on_error(self, source: str, kind: str, message: str) -> None:
        if source == "store" and kind == "outage":
            return  # the database check says it (and when it is back)
        toggle = self.settings.slack_notify_errors
        if source == "breaker":
            dependency, _, state = kind.rpartition("_")
            severity: Severity = "info"
            if state == "open":
                severity = "critical" if dependency == "clob" else "warning"
            key = f"breaker:{dependency}:{state}"
            self.send(severity, key, f"{dependency} breaker {state}", message, slack=toggle)
            return
        # a chain transaction that failed or is unresolved holds capital or spent gas for nothing
        chain_failed = source == "chain" and kind != "no_rpc"
        severity = "critical" if source == "execution" or chain_failed else "warning"
        self.send(severity, f"{source}:{kind}", f"{source} {kind}", message, slack=toggle)

    def on_risk(self, event: RiskEvent | None) -> None:
        if event is None:
            return
        severity = _RISK.get(event.kind)
        if severity is None:
            return
        key = f"risk:{event.kind}"
        if event.kind in ("reducing", "resumed"):  # one key per gate source (store, breaker...)
            key += ":" + event.detail.partition(":")[0]
        by = f" by {event.actor}" if event.actor else ""
        title = f"{event.kind.replace('_', ' ')}{by}"
        self.send(severity, key, title, event.detail, slack=self.settings.slack_notify_risk)

    def on_report(self, report: ExecutionReport, signal: Signal) -> None:
        if not report.fills:
            return
        self.send(
            "info",
            f"orders:{report.strategy}",
            f"{report.strategy} {report.outcome}: {len(report.fills)} fills",
            f"signal {report.signal_id}, market {signal.market}",
        )

    def check_dependencies(self) -> None:
        """Alert when the feed, the database or the bus goes down, and when it is back."""
        for check in self.probe():
            if check.name not in WATCHED_CHECKS:
                continue
            was_down = check.name in self._down
            if check.status == "down" and not was_down:
                self._down[check.name] = check.reason
                self.send("critical", f"down:{check.name}", f"{check.name} down", check.reason)
            elif check.status != "down" and was_down:
                del self._down[check.name]
                self.send("info", f"up:{check.name}", f"{check.name} back", check.reason)

    async def watch(self, interval_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.check_dependencies()
