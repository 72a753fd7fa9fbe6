"""The engine's books of record: recovery at start, events to the store while trading.

Order at start (reliability: strategies start only after recovery succeeds):
open the store (migrating it) -> load the saved state -> reconcile the paper journal with the
database (0 lost, 0 duplicated) -> trade on the journal's ledger with the saved risk state.
A failed reconciliation engages the kill switch with the reason instead of trading blind.
While trading nothing here blocks the hot loop: records are queued to the store's writer.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import structlog

from polyarb.config import Settings
from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Fill, Mode, Order, Signal
from polyarb.engine.core import Engine
from polyarb.engine.risk_link import sync_risk_positions
from polyarb.execution.base import ExecutionReport
from polyarb.execution.journal import read_journal
from polyarb.store import (
    AlertRecord,
    EquitySnapshot,
    ErrorRecord,
    MarketSeen,
    OpportunityRecord,
    RecoveredState,
    RiskStateRecord,
    Store,
    resolve_database_url,
)

log = structlog.get_logger(__name__)

STORE_GATE_REASON = "database unavailable: no new positions until it returns"
EQUITY_INTERVAL_NS = 60 * 1_000_000_000  # one equity snapshot a minute (the dashboard's curve)


class Recovery:
    """What start-up restored, for the engine's constructor and the operator."""

    def __init__(self, ledger: Ledger, state: RecoveredState, problems: list[str]) -> None:
        self.ledger = ledger
        self.state = state
        self.problems = problems


async def open_store(settings: Settings, on_health: object = None) -> Store:
    url = resolve_database_url(settings.database_url, settings.data_dir)
    store = await Store.open(
        url,
        mode=Mode(settings.mode),
        spool_dir=settings.data_dir / "spool",
        auto_upgrade=settings.db_auto_upgrade,
        on_health=on_health,  # type: ignore[arg-type]
    )
    return store


async def recover(settings: Settings, store: Store, journal_path: Path) -> Recovery:
    """Load the saved state and reconcile the paper journal; problems mean: stay halted."""
    state = await store.load_state()
    starting = settings.paper_starting_balance
    problems: list[str] = []
    if settings.mode == "paper":
        # A start-up read of a local file, before trading: blocking is fine here.
        events = read_journal(journal_path).events if journal_path.exists() else []  # noqa: ASYNC240
        report = await store.reconcile_paper(events, starting_balance=starting)
        problems = report.problems()
        ledger = report.ledger
    else:
        ledger = state.recompute_ledger(starting)
    return Recovery(ledger, state, problems)


class EnginePersistence:
    """Connects a running engine to the store: recovery applied, events recorded."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        recovery: Recovery,
        *,
        equity_interval_ns: int = EQUITY_INTERVAL_NS,
    ) -> None:
        self.engine = engine
        self.store = store
        self.mode = engine.mode
        self._risk_revision = -1
        # (state, kill switch) last alerted on; a halt found at start is alerted too.
        self._risk_seen: tuple[str, bool] = ("active", False)
        self._store_gate = False
        # Off when the Slack alerts write risk changes themselves (runner): one row per change.
        self.risk_alerts = True
        self._equity_interval_ns = equity_interval_ns
        self._next_equity_ns = 0
        now = engine.clock.now_ns()
        for market in engine.universe.markets:  # the dashboard's market list
            store.submit(MarketSeen.from_market(market, now))
        self._restore_risk(recovery)
        # Risk state is written when it changes (kill switch, loss limit, reducing gates), not on
        # the next timer: a crash right after an operator's kill must not forget it.
        engine.risk.listeners.append(lambda _event: self.save_risk_if_changed())
        engine.signal_record_sinks.append(self._on_signal)
        engine.trade_sinks.append(self._on_report)
        engine.order_sinks.append(self._on_order_update)

    def _restore_risk(self, recovery: Recovery) -> None:
        engine = self.engine
        now = engine.clock.now_ns()
        saved = recovery.state.risk
        if saved is not None and saved.detail:
            try:
                engine.risk.restore(saved.detail, now)
            except ValueError as exc:
                log.error("saved risk state unreadable", error=str(exc))
                engine.risk.engage(f"saved risk state unreadable: {exc}", "recovery", now)
        ledger = engine.ledger
        held = {p.token_id for p in ledger.positions()}
        held.update(t for lock in ledger.locked_sets() for t in lock.token_ids)
        sync_risk_positions(engine.risk, ledger, sorted(held))
        if recovery.problems:
            reason = "recovery failed: " + "; ".join(recovery.problems)
            log.error("engine halted", reason=reason)
            engine.risk.engage(reason[:500], "recovery", now)
        self.save_risk_if_changed()

    # ------------------------------------------------------------------------- events
    def _on_signal(self, signal: Signal, outcome: str, reason: str) -> None:
        self.store.submit_signal(signal, outcome, reason=reason)

    def _on_report(self, report: ExecutionReport, signal: Signal) -> None:
        ledger = self.engine.ledger
        for order in report.orders:
            self.store.submit_order(order)
        for fill in report.fills:
            self.store.submit_fill(fill, ledger)
        for merge in report.merges:
            self.store.submit_merge(merge, ledger)

    def _on_order_update(self, order: Order, fills: list[Fill]) -> None:
        self.store.submit_order(order)
        for fill in fills:
            self.store.submit_fill(fill, self.engine.ledger)

    def on_timer(self) -> None:
        """Closed opportunities and risk-state changes (called from the engine's timer)."""
        for opportunity in self.engine.tracker.drain_closed():
            self.store.submit(OpportunityRecord.from_opportunity(opportunity, self.mode))
        self.save_risk_if_changed()
        now = self.engine.clock.now_ns()
        if now >= self._next_equity_ns:
            self._next_equity_ns = now + self._equity_interval_ns
            self.store.submit(self.equity_snapshot(now))

    def equity_snapshot(self, now_ns: int) -> EquitySnapshot:
        ledger = self.engine.ledger
        exposure = sum((p.cost for p in ledger.positions()), Decimal(0)) + sum(
            (lock.cost for lock in ledger.locked_sets()), Decimal(0)
        )
        return EquitySnapshot(
            mode=self.mode,
            ts_ns=now_ns,
            equity=ledger.equity(),
            realized=ledger.realized_pnl,
            unrealized=ledger.unrealized_pnl(),
            fees=ledger.fees_paid,
            exposure=exposure,
        )

    def save_risk_if_changed(self) -> None:
        risk = self.engine.risk
        if risk.revision == self._risk_revision:
            return
        self._risk_revision = risk.revision
        now = self.engine.clock.now_ns()
        status = risk.status(now)
        kill = next((g for g in status.gates if g.name == "kill_switch"), None)
        self.store.submit(
            RiskStateRecord(
                mode=self.mode,
                state=status.state.value,
                kill_switch=kill is not None,
                ts_ns=now,
                reason=kill.reason if kill is not None else "",
                actor=kill.actor if kill is not None else "",
                detail=risk.snapshot(),
            )
        )
        seen = (status.state.value, kill is not None)
        if seen != self._risk_seen and self.risk_alerts:
            self.store.submit(self._risk_alert(seen, kill.reason if kill else "", now))
        self._risk_seen = seen

    def _risk_alert(self, seen: tuple[str, bool], reason: str, now: int) -> AlertRecord:
        """An alert for the dashboard when trading changes state (kill switch, reducing ...)."""
        state, killed = seen
        was_killed = self._risk_seen[1]
        if killed and not was_killed:
            title, severity = "kill switch engaged", "critical"
        elif was_killed and not killed:
            title, severity = "kill switch cleared", "warning"
        else:
            title = f"trading {state}"
            severity = "info" if state == "active" else "warning"
        message = f"trading state {state}" + (f": {reason}" if reason else "")
        return AlertRecord(
            ts_ns=now, severity=severity, title=title, message=message[:1000], dedup_key=title
        )

    def on_health(self, healthy: bool, reason: str) -> None:
        """Database down: stop opening positions (reducing) and alert; back: lift our gate."""
        engine = self.engine
        now = engine.clock.now_ns()
        if not healthy and not self._store_gate:
            self._store_gate = True
            engine.risk.set_reducing(STORE_GATE_REASON, "store", now, source="store")
            engine.emit_error("store", "outage", f"database unavailable: {reason}")
        elif healthy and self._store_gate:
            self._store_gate = False
            engine.risk.resume("store", now, source="store")
            log.warning("database back; spool replayed", reason=reason)

    def record_error(self, source: str, kind: str, message: str) -> None:
        self.store.submit(
            ErrorRecord(ts_ns=self.engine.clock.now_ns(), source=source, kind=kind, message=message)
        )
