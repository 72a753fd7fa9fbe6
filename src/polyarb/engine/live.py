"""Build the live executor from settings: the wallet, the API key (from settings, or created /
derived from the wallet with L1 at start), the funder and signature type, the slippage, the leg
policy (``LEG_POLICY``, ``LEG_MAX_LOSS``; its reports go to the engine's leg-risk alert), and the
heartbeat (started here; ``LiveExecution.aclose`` stops it).

``start_live`` is how the engine's runner goes live: the executor attached to the engine, a
reconciliation with the venue before anything trades (a mismatch keeps the engine HALTED with
the reason), and ``LiveWatch``: the heartbeat wired into the trading state (reducing while it
fails) and reconciliation repeated on a timer (a mismatch puts the engine in reducing mode and
raises an alert). Cash is compared exactly: at start against venue cash - ledger cash as
recorded at the first live start (store ``meta``), while running against the start's pass; a
clean pass with the kill switch off records the value anew. The settlement of its trades
(``trade_settlements`` rows, a trade failed on chain reversed with an alert, or a halt) and the
user channel are ``engine/live_settlement.py``.

``LIVE_CRASH_AT`` (tests only) makes the process SIGKILL itself at a labelled point of its
first live order: ``before_send`` (the intent committed, the request not sent), ``after_send``
(the venue processed the order, its answer unread), ``after_fill`` (the trade read, the fill
not journaled).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx
import structlog

from polyarb.clob.auth import ApiCreds
from polyarb.clob.signing import SignatureType, Wallet, checksum_address
from polyarb.config import Settings
from polyarb.domain.clock import Clock
from polyarb.domain.errors import PolyarbError
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import Market
from polyarb.domain.trading import Order
from polyarb.engine.live_settlement import SettlementLink
from polyarb.engine.risk_link import EngineRiskGate
from polyarb.execution.base import OrderUpdateCallback, RiskGate
from polyarb.execution.legs import AlertCallback
from polyarb.execution.live.budget import RequestBudgets
from polyarb.execution.live.client import IntentRecorder, LiveConfig, LiveExecution
from polyarb.execution.live.heartbeat import HeartbeatKeeper
from polyarb.execution.live.reconcile import Reconciliation, reconcile
from polyarb.execution.live.venue import ClobRest, VenueBusy, VenueUnknown

if TYPE_CHECKING:
    from polyarb.engine.core import Engine
    from polyarb.store import Store

log = structlog.get_logger(__name__)

RECONCILIATION_ACTOR = "reconciliation"
CASH_OFFSET_KEY = "live_cash_offset"  # store meta: venue cash - ledger cash at the first start
TRADES_MARGIN_S = 600  # continuous passes compare trades since the start minus this


def _settings_creds(settings: Settings) -> ApiCreds | None:
    key, secret, passphrase = (
        settings.poly_api_key,
        settings.poly_api_secret,
        settings.poly_api_passphrase,
    )
    if key is None or secret is None or passphrase is None:
        return None
    return ApiCreds(
        key.get_secret_value(), secret.get_secret_value(), passphrase.get_secret_value()
    )


async def build_live_execution(
    settings: Settings,
    markets: Mapping[str, Market],
    intents: IntentRecorder,
    ledger: Ledger,
    *,
    journal_path: Path | None = None,
    clock: Clock | None = None,
    risk: RiskGate | None = None,
    on_order_update: OrderUpdateCallback | None = None,
    on_alert: AlertCallback | None = None,
    clob_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LiveExecution:
    """A ready ``LiveExecution``; raises if the key is missing or no API key can be had."""
    if settings.poly_private_key is None:
        raise ValueError("live execution needs POLY_PRIVATE_KEY")
    wallet = Wallet(settings.poly_private_key.get_secret_value())
    rest = ClobRest(
        clob_url or settings.poly_clob_url,
        wallet,
        _settings_creds(settings),
        chain_id=settings.poly_chain_id,
        timeout_s=settings.poly_http_timeout_s,
        budgets=RequestBudgets(settings.live_order_rate),
        transport=transport,
    )
    try:
        if rest.creds is None:
            rest.creds = await rest.api_key()
    except BaseException:
        await rest.aclose()
        raise
    heartbeat = HeartbeatKeeper(rest, settings.live_heartbeat_s)
    await heartbeat.beat()  # submitting is allowed once one has succeeded
    heartbeat.start()
    config = LiveConfig(
        chain_id=settings.poly_chain_id,
        funder=checksum_address(settings.poly_funder) if settings.poly_funder else wallet.address,
        signature_type=SignatureType(settings.poly_signature_type),
        slippage=settings.live_slippage,
        leg_policy=settings.leg_policy,
        leg_max_loss=settings.leg_max_loss,
    )
    return LiveExecution(
        rest,
        markets,
        config,
        intents,
        ledger,
        journal_path,
        clock,
        risk=risk,
        on_order_update=on_order_update,
        heartbeat=heartbeat,
        on_alert=on_alert,
    )


# --- crash drills (LIVE_CRASH_AT) -----------------------------------------------------------


def _die(point: str) -> None:
    log.critical("LIVE_CRASH_AT: killing the engine", point=point)
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingIntents:
    """``record_order_intent``, then SIGKILL (``before_send``)."""

    def __init__(self, inner: IntentRecorder) -> None:
        self.inner = inner

    async def record_order_intent(self, order: Order, *, signed_payload: str | None = None) -> None:
        await self.inner.record_order_intent(order, signed_payload=signed_payload)
        _die("before_send")


class CrashingTransport(httpx.AsyncBaseTransport):
    """The real transport; SIGKILL once the answer to an order (``after_send``) or to a trade
    lookup by id (``after_fill``) has arrived, before the executor reads it."""

    def __init__(self, point: str) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.point = point

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        url = request.url
        order_answer = self.point == "after_send" and request.method == "POST"
        order_answer = order_answer and url.path in ("/order", "/orders")
        trade_read = self.point == "after_fill" and url.path == "/data/trades"
        if order_answer or (trade_read and url.params.get("id")):
            await response.aread()
            _die(self.point)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


# --- the engine going live -------------------------------------------------------------------


async def start_live(
    engine: Engine,
    settings: Settings,
    store: Store,
    in_flight: list[Order],
    *,
    clob_url: str,
    journal_path: Path | None,
    prepare: Callable[[LiveExecution], Awaitable[object]] | None = None,
) -> tuple[LiveExecution, Reconciliation]:
    """Attach a ``LiveExecution`` to ``engine`` and reconcile with the venue before trading.

    On a mismatch the kill switch is engaged with the reason (state HALTED, an alert, persisted:
    the operator looks, then ``polyarb ctl clear``). What the pass settled (orders left in
    flight, fills found) reaches the store through the engine's order sinks; every trade's
    settlement status and a trade failing on chain through ``SettlementLink``."""
    crash = settings.live_crash_at
    intents: IntentRecorder = CrashingIntents(store) if crash == "before_send" else store
    try:
        live = await build_live_execution(
            settings,
            engine.markets_by_token,
            intents,
            engine.ledger,
            journal_path=journal_path,
            clock=engine.clock,
            risk=EngineRiskGate(engine.risk, engine.clock),
            on_order_update=engine.record_order_update,
            on_alert=engine.on_leg_alert,
            clob_url=clob_url,
            transport=CrashingTransport(crash) if crash in ("after_send", "after_fill") else None,
        )
    except (RuntimeError, ValueError, VenueBusy, VenueUnknown) as exc:
        raise PolyarbError(f"live start failed, nothing was sent: {exc}") from None
    # trade statuses and failures reach the store and the engine from the first observation on
    SettlementLink(engine, store).attach(live)
    if prepare is not None:
        try:
            await prepare(live)
        except BaseException:
            await live.aclose()
            raise
    # what the pass settles reaches the store through ``on_order_update`` (orders and fills)
    result = await reconcile(live, in_flight)
    await store.flush()
    if result.cash is not None and result.ok:
        # venue cash - ledger cash, recorded at the first live start, holds while every fill,
        # fee and payout is booked alike: a change since is a cash mismatch (fail closed)
        offset = result.cash - result.ledger_cash
        recorded = Decimal(await store.anchor(CASH_OFFSET_KEY, str(offset)))
        result.check_cash(recorded, "the first live start")
    engine.attach_execution(live)  # before any signal: the feed and the timers start later
    if result.ok:
        log.info(result.summary())
    else:
        now = engine.clock.now_ns()
        engine.risk.engage(result.summary(), RECONCILIATION_ACTOR, now)
        engine.emit_error("reconciliation", "mismatch", result.summary())
        log.error("HALTED: " + result.summary())
    return live, result


class CashAnchor(Protocol):
    """Where venue cash - ledger cash is kept between runs (``Store.anchor``)."""

    async def anchor(self, key: str, value: str, *, replace: bool = False) -> str: ...


class LiveWatch:
    """While the engine runs live: the heartbeat's health and the venue's "wait" (425, 429,
    post-only) as reducing gates (the executor refuses to send then too), and reconciliation every
    ``LIVE_RECONCILE_S`` (skipped while executions or chain transactions are in flight: their
    trades or merges are not booked yet). A mismatch sets reducing mode (source
    ``reconciliation``) with an alert; a later clean pass lifts it."""

    def __init__(
        self,
        engine: Engine,
        live: LiveExecution,
        interval_s: float,
        baseline: Reconciliation | None = None,
        store: CashAnchor | None = None,
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.engine = engine
        self.busy = busy  # a chain transaction in flight: the venue's positions are moving
        self.live = live
        self.interval_s = interval_s
        self.baseline = baseline  # the start's pass: the cash's move is compared from it
        self.store = store  # where venue cash - ledger cash is recorded for the next start
        self._anchored: Decimal | None = None
        # The start's pass compared every trade; later passes the trades since (a margin for
        # the venue's clock), so a long history does not grow every pass.
        started_s = engine.clock.now_ns() // 1_000_000_000
        self._trades_after_s = started_s - TRADES_MARGIN_S
        self.last: Reconciliation | None = None
        self.passes = 0

    def _gated(self, source: str) -> bool:
        gates = self.engine.risk.gates(self.engine.clock.now_ns())
        return any(g.name == "reducing" and g.source == source for g in gates)

    def check_heartbeat(self) -> None:
        heartbeat = self.live.heartbeat
        if heartbeat is None:
            return
        risk, now = self.engine.risk, self.engine.clock.now_ns()
        gated = self._gated("heartbeat")
        if not heartbeat.healthy and not gated:
            risk.set_reducing(
                f"venue heartbeat failing: {heartbeat.failure}",
                "heartbeat",
                now,
                source="heartbeat",
            )
            self.engine.emit_error("venue", "heartbeat", f"heartbeat failing: {heartbeat.failure}")
        elif heartbeat.healthy and gated:
            risk.resume("heartbeat", now, source="heartbeat")

    def check_venue_wait(self) -> None:
        """While the venue asked us to wait (a 425 matching-engine restart, 503 post-only mode,
        429), the engine reduces only; the gate lifts when the wait is over."""
        until, reason = self.live.venue_wait
        risk, now = self.engine.risk, self.engine.clock.now_ns()
        waiting = now < until
        gated = self._gated("venue")
        if waiting and not gated:
            risk.set_reducing(f"venue asked to wait: {reason}", "venue", now, source="venue")
        elif gated and not waiting:
            risk.resume("venue", now, source="venue")

    async def reconcile_once(self) -> Reconciliation | None:
        if self.engine.executions_in_flight or self.busy():
            return None
        result = await reconcile(
            self.live, trades_after_s=self._trades_after_s, cash_since=self.baseline
        )
        self.passes += 1
        self.last = result
        risk, now = self.engine.risk, self.engine.clock.now_ns()
        if not result.ok:
            if not self._gated("reconciliation"):  # one alert per mismatch, not one per pass
                risk.set_reducing(
                    result.summary(), RECONCILIATION_ACTOR, now, source="reconciliation"
                )
                self.engine.emit_error("reconciliation", "mismatch", result.summary())
                log.error("REDUCING until a clean reconciliation: " + result.summary())
        else:
            log.info(result.summary())
            risk.resume(RECONCILIATION_ACTOR, now, source="reconciliation")
            await self._anchor_cash(result)
        return result

    async def _anchor_cash(self, result: Reconciliation) -> None:
        """A clean pass while not halted records venue cash - ledger cash for the next start:
        a start halted on cash and cleared by the operator (a deposit, checked) re-anchors."""
        if self.store is None or result.cash is None or self.engine.risk.kill_switch is not None:
            return
        offset = result.cash - result.ledger_cash
        if offset != self._anchored:
            await self.store.anchor(CASH_OFFSET_KEY, str(offset), replace=True)
            self._anchored = offset

    async def run(self) -> None:
        elapsed = 0.0
        while True:
            await asyncio.sleep(1.0)
            elapsed += 1.0
            try:
                self.check_heartbeat()
                self.check_venue_wait()
                if elapsed >= self.interval_s:
                    elapsed = 0.0
                    await self.reconcile_once()
            except Exception as exc:  # the watch must keep watching
                log.exception("live watch failed")
                with contextlib.suppress(Exception):
                    self.engine.emit_error("reconciliation", "exception", f"{exc}")
