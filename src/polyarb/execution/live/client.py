"""``LiveExecution``: a signal's legs as signed FOK/FAK orders on the CLOB V2.

The life of one order (docs/orders.md):

1. Each leg is priced at its VWAP plus the configured slippage (buys; minus for sells), on the
   tick grid and never beyond the leg's own limit; its size is cut to what the venue's amount
   precision allows (the same for every leg of a complete set) and checked against the tick,
   the minimum size and the $1 marketable-buy minimum BEFORE anything is signed.
2. Orders are signed; the order id (the EIP-712 digest) is known before sending.
3. Every order is committed with ``record_order_intent`` (with its signed body, the API key
   in it masked) before the request leaves; if that fails nothing is sent.
4. One leg goes by ``POST /order``, several by ``POST /orders`` (batches of at most 15).
5. The answer decides: matched (fills read from ``/data/trades`` by the trade ids), killed
   (FOK/FAK), refused (HTTP 400, 425, 429). A timeout, a dropped connection or a 5xx leaves
   the order UNKNOWN: it is never sent again, but looked up by its id (``/data/order``) until
   the venue says what happened; "not found" counts only after a successful query.
6. Fills are journaled (fsync), applied to the ledger and reported to the risk gate by the
   settlement tracker, which every sighting of a trade goes through (``execution/live/trades.py``:
   this answer, the user channel's ``on_user_event``, ``refresh_settlements``, restarts): a
   trade is booked once, and reversed if it FAILS on chain.

7. A complete set whose legs came back unevenly (one leg matched, another killed, a FAK leg
   partly filled) goes through leg-risk handling once every leg's outcome is known: the
   configured ``LEG_POLICY`` decides, with paper's logic (``execution/legs.py``), which FAK
   orders unwind or complete it within ``LEG_MAX_LOSS``. Those are real orders placed like a leg
   (checked by risk as reducing orders, the same precision and minimum checks: an orphan too
   small to trade is held and reported), their fills booked by the settlement tracker; the
   report's ``leg_risk`` says what was found, done and left, and the engine alerts. A leg left
   UNKNOWN after its queries leaves the set to reconciliation (nothing is decided blind).

Reconciliation with the venue is ``reconcile.py``; settlement of trades is ``trades.py`` with the
user channel in ``user_channel.py``; merges, conversions and redemptions on chain are the
engine's (``engine/chain_ops.py``). Not yet here (issue 14): resting orders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, Protocol

import orjson
import structlog

from polyarb.clob.amounts import AmountError, limit_amounts, marketable_size
from polyarb.clob.errors import FAK_NO_MATCH, FOK_KILLED
from polyarb.clob.orders import SignedOrder, order_body, sign_order
from polyarb.clob.signing import (
    EXCHANGE_V2,
    NEG_RISK_EXCHANGE_V2,
    OrderV2,
    SignatureType,
    new_salt,
)
from polyarb.domain.book import Side
from polyarb.domain.clock import Clock, WallClock
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import FeeSchedule, Market
from polyarb.domain.secrets import MASK
from polyarb.domain.trading import Fill, Leg, Mode, Order, OrderStatus, OrderType, Signal
from polyarb.execution.base import (
    LEG_POLICIES,
    ZERO,
    ExecutionReport,
    LegPolicy,
    OrderUpdateCallback,
    RiskGate,
    new_client_order_id,
    new_event_id,
    notify_order_update,
    outcome_of,
    validate_order,
)
from polyarb.execution.journal import Journal
from polyarb.execution.legs import (
    AlertCallback,
    LegPool,
    act_on_orphans,
    buys_a_complete_set,
    leg_risk_signal,
)
from polyarb.execution.live.heartbeat import HeartbeatKeeper
from polyarb.execution.live.trades import LiveTrades
from polyarb.execution.live.venue import ClobRest, VenueAnswer, VenueBusy, VenueUnknown
from polyarb.execution.settlement import FailureCallback, open_tracker
from polyarb.execution.user_schemas import UserEvent

log = structlog.get_logger(__name__)

MAX_BATCH = 15
RESTART_WAIT_S = 1.0  # after a 425 (matching-engine restart) without a Retry-After
SIZE_STEP = Decimal("0.01")
_QUARTER = Decimal("0.25")


class IntentRecorder(Protocol):
    """Where an order is committed before it is sent (``Store.record_order_intent``)."""

    async def record_order_intent(
        self, order: Order, *, signed_payload: str | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class LiveConfig:
    chain_id: int
    funder: str  # the address holding the funds (the order's maker)
    signature_type: SignatureType
    slippage: Decimal = Decimal("0.01")  # $ per share allowed beyond a leg's VWAP
    resolve_attempts: int = 3  # queries of an UNKNOWN order before it is left to reconciliation
    resolve_backoff_s: float = 0.5
    leg_policy: LegPolicy = "unwind"  # LEG_POLICY: a complete set whose legs filled unevenly
    leg_max_loss: Decimal = Decimal(5)  # LEG_MAX_LOSS, USD per signal

    def __post_init__(self) -> None:
        if self.leg_policy not in LEG_POLICIES:
            raise ValueError(f"leg_policy must be one of {LEG_POLICIES} (got {self.leg_policy!r})")
        if self.leg_max_loss < 0:
            raise ValueError(f"leg_max_loss must be >= 0 (got {self.leg_max_loss})")


def leg_limit(
    side: Side, vwap: Decimal, limit: Decimal, slippage: Decimal, tick: Decimal
) -> Decimal:
    """VWAP +/- slippage on the tick grid (rounded away from the book), never beyond ``limit``."""
    if side == Side.BUY:
        price = ((vwap + slippage) / tick).to_integral_value(ROUND_CEILING) * tick
        return min(price, limit, 1 - tick)
    price = ((vwap - slippage) / tick).to_integral_value(ROUND_FLOOR) * tick
    return max(price, limit, tick)


class LiveExecution:
    """Places signals on the venue; see the module docstring for the life of an order."""

    mode = Mode.LIVE

    def __init__(
        self,
        rest: ClobRest,
        markets: Mapping[str, Market],
        config: LiveConfig,
        intents: IntentRecorder,
        ledger: Ledger,
        journal_path: Path | None = None,
        clock: Clock | None = None,
        *,
        risk: RiskGate | None = None,
        on_order_update: OrderUpdateCallback | None = None,
        heartbeat: HeartbeatKeeper | None = None,
        on_trade_failed: FailureCallback | None = None,
        on_alert: AlertCallback | None = None,
    ) -> None:
        self.rest = rest
        self.heartbeat = heartbeat
        self.markets = markets
        self.config = config
        self.intents = intents
        self.ledger = ledger
        self.clock: Clock = clock or WallClock()
        self._journal = Journal(journal_path) if journal_path is not None else None
        self._risk = risk
        self._on_order_update = on_order_update
        self.on_alert = on_alert  # leg-risk reports (the engine: error event, alert)
        self.unresolved: dict[str, Order] = {}  # client id -> order left UNKNOWN
        self.settlement = open_tracker(
            ledger, self._journal, risk=risk, on_failure=on_trade_failed, clock=self.clock
        )
        self.trades = LiveTrades(rest, markets, self.settlement, self.clock)
        self._wait_until_ns = 0  # the venue asked us to wait (Retry-After, a 425 restart)
        self._wait_reason = ""
        # a market we may hold resolved (condition id, winning token): to redeem on chain
        self.resolution_sink: Callable[[str, str], None] | None = None

    @property
    def venue_wait(self) -> tuple[int, str]:
        """Until when (ns) the venue asked us not to send (Retry-After, a 425 restart, the
        post-only window after it), and why."""
        return self._wait_until_ns, self._wait_reason

    async def aclose(self) -> None:
        if self.heartbeat is not None:
            await self.heartbeat.stop()
        await self.rest.aclose()
        if self._journal is not None:
            self._journal.close()

    # --- planning -------------------------------------------------------------------------

    def _plan(
        self, signal: Signal, signal_id: str, order_type: OrderType, now: int
    ) -> tuple[list[Order], str]:
        """The leg orders, and why they must not be sent ("" when they may)."""
        prices: list[Decimal] = []
        markets: list[Market] = []
        for leg in signal.legs:
            market = self.markets.get(leg.token_id)
            if market is None:
                return [], f"unknown market of token {leg.token_id}"
            markets.append(market)
            prices.append(
                leg_limit(
                    leg.side, leg.vwap, leg.limit_price, self.config.slippage, market.tick_size
                )
            )
        sizes = [
            marketable_size(leg.side, p, leg.size)
            for leg, p in zip(signal.legs, prices, strict=True)
        ]
        if signal.kind == "complete_set" and sizes:
            sizes = [_common_size(signal, prices, min(sizes))] * len(sizes)
        orders = []
        problem = ""
        for leg, market, price, size in zip(signal.legs, markets, prices, sizes, strict=True):
            order, error = _order(leg, market, price, size, order_type, signal, signal_id, now)
            orders.append(order)
            problem = problem or error
        return orders, problem

    def _sign(self, order: Order, now_ms: int) -> SignedOrder:
        market = self.markets[order.token_id]
        maker, taker = limit_amounts(order.side, order.price, order.size, market.tick_size)
        wallet = self.rest.wallet
        signed = sign_order(
            wallet,
            OrderV2(
                salt=new_salt(),
                maker=self.config.funder or wallet.address,
                signer=wallet.address,
                token_id=int(order.token_id),
                maker_amount=maker,
                taker_amount=taker,
                side=order.side,
                signature_type=self.config.signature_type,
                timestamp_ms=now_ms,
            ),
            chain_id=self.config.chain_id,
            exchange=NEG_RISK_EXCHANGE_V2 if market.neg_risk else EXCHANGE_V2,
        )
        order.venue_id = signed.order_id
        self.trades.orders[order.venue_id] = order
        return signed

    # --- executing ------------------------------------------------------------------------

    async def execute(
        self, signal: Signal, *, order_type: OrderType | None = None
    ) -> ExecutionReport:
        now = self.clock.now_ns()
        signal_id = signal.signal_id or new_event_id("signal")
        report = ExecutionReport(signal_id, signal.strategy, Mode.LIVE, started_ns=now)
        kind = order_type or OrderType.FOK
        if kind not in (OrderType.FOK, OrderType.FAK):
            raise ValueError("live execution places FOK and FAK orders only (for now)")
        orders, problem = self._plan(signal, signal_id, kind, now)
        report.orders = orders
        if problem:
            self._refuse(orders, problem)
        else:
            problem = await self._send(orders, kind, now, report)
        if problem:
            report.outcome, report.reason = "rejected", problem
            report.finished_ns = self.clock.now_ns()
            log.warning("live signal not sent", signal_id=signal_id, reason=problem)
            return report
        if buys_a_complete_set(signal):
            await self._leg_risk(signal, signal_id, orders, report)
        report.outcome = outcome_of(orders, report.leg_risk)
        report.fees = sum((f.fee for f in report.fills), ZERO)
        report.finished_ns = self.clock.now_ns()
        return report

    async def _send(
        self, orders: list[Order], kind: OrderType, now: int, report: ExecutionReport
    ) -> str:
        """Check the gates, sign, commit the intents, then submit (batches of at most 15);
        the problem that stopped it before anything was sent (the orders FAILED), else ""."""
        problem = ""
        if self._risk is not None:
            problem = self._risk.halted() or ""
        if not problem and now < self._wait_until_ns:
            problem = f"venue asked to wait {(self._wait_until_ns - now) / 1e9:.1f} s more: "
            problem += self._wait_reason
        if not problem and self.heartbeat is not None and not self.heartbeat.healthy:
            problem = f"heartbeat failing, not submitting: {self.heartbeat.failure}"
        if not problem and not self.rest.budgets.try_spend("order", len(orders)):
            problem = f"order budget exhausted ({self.rest.budgets.describe('order')}): not sent"
        bodies: list[dict[str, Any]] = []
        if not problem:
            try:
                api_key = self.rest.creds.api_key if self.rest.creds else ""
                for order in orders:
                    signed = self._sign(order, now // 1_000_000)
                    bodies.append(order_body(signed, owner=api_key, order_type=kind.value))
            except (AmountError, ValueError) as exc:
                problem = f"not signed: {exc}"
        if not problem:
            try:
                for order, body in zip(orders, bodies, strict=True):
                    # the API key (owner) is a secret and is not signed: kept out of the store
                    payload = orjson.dumps({**body, "owner": MASK}).decode()
                    await self.intents.record_order_intent(order, signed_payload=payload)
            except Exception as exc:  # the intent is not durable: nothing may be sent
                problem = f"intent not recorded, nothing sent: {exc}"
        if problem:
            self._refuse(orders, problem)
            return problem
        for start in range(0, len(orders), MAX_BATCH):
            chunk = orders[start : start + MAX_BATCH]
            await self._submit(chunk, bodies[start : start + MAX_BATCH], report)
        return ""

    def _refuse(self, orders: Sequence[Order], problem: str) -> None:
        now = self.clock.now_ns()
        for order in orders:
            order.transition(OrderStatus.FAILED, now, problem)
            self._updated(order, [])

    # --- leg risk -------------------------------------------------------------------------

    async def _leg_risk(
        self, signal: Signal, signal_id: str, legs: list[Order], report: ExecutionReport
    ) -> None:
        """A complete set whose legs filled unevenly: the configured policy acts on the orphans
        (``execution/legs.py``, as paper does) once every leg's outcome is known."""
        if self._risk is not None:  # the legs are over: what they did not fill is not in flight
            self._risk.on_done(signal)
        pending = [o for o in legs if not o.status.is_terminal]
        if pending:
            # an unknown leg may have filled: acting blind could double the exposure
            report.reason = (
                f"leg risk not decided: {len(pending)} leg(s) unresolved, left to reconciliation"
            )
            log.error("leg risk undecided", signal_id=signal_id, reason=report.reason)
            return
        tokens = list(dict.fromkeys(leg.token_id for leg in signal.legs))
        pool = LegPool.of([(t, self._market_key(t)) for t in tokens], report.fills)
        if not pool.orphans():
            return

        async def place(
            token_id: str, side: Side, size: Decimal, limit: Decimal
        ) -> tuple[Order, list[Fill]]:
            leg = Leg(token_id, side, size, limit, limit, self._market_key(token_id))
            return await self._place_leg_risk(signal, signal_id, leg, tuple(tokens))

        await act_on_orphans(
            report, pool, self.config, place, (self._fees_of, self._tick_of), self.on_alert
        )

    async def _place_leg_risk(
        self, signal: Signal, signal_id: str, leg: Leg, completing: tuple[str, ...]
    ) -> tuple[Order, list[Fill]]:
        """One unwind (SELL) or completion (BUY) as a FAK order at the policy's bound: the
        venue's checks first (an order too small is not sent: its orphan is held), then risk
        (as a reducing order), then sent like a leg."""
        now = self.clock.now_ns()
        market = self.markets[leg.token_id]
        size = marketable_size(leg.side, leg.limit_price, leg.size)
        order, problem = _order(
            leg, market, leg.limit_price, size, OrderType.FAK, signal, signal_id, now
        )
        if problem:
            self._refuse([order], f"not sent: {problem}")
            return order, []
        gated: Signal | None = None
        if self._risk is not None:
            fees = self._fees_of(leg.token_id)
            worst_fee = size * fees.rate * _QUARTER**fees.exponent if leg.side == Side.BUY else ZERO
            gated = leg_risk_signal(signal, signal_id, leg, order.client_id, worst_fee)
            denied = self._risk.approve(gated, completing if leg.side == Side.BUY else ())
            if denied is not None:
                self._refuse([order], f"not sent: {denied}")
                return order, []
        report = ExecutionReport(signal_id, signal.strategy, Mode.LIVE, started_ns=now)
        try:
            if gated is not None:  # its fills count against the completion/unwind risk checked
                self.trades.risk_ids[order.client_id] = gated.signal_id
            await self._send([order], OrderType.FAK, now, report)
        finally:
            if gated is not None and self._risk is not None:
                self.trades.risk_ids.pop(order.client_id, None)
                self._risk.on_done(gated)
        return order, report.fills

    def _market_key(self, token_id: str) -> str:
        market = self.markets.get(token_id)
        return market.condition_id if market is not None else ""

    def _fees_of(self, token_id: str) -> FeeSchedule:
        return self.markets[token_id].fees

    def _tick_of(self, token_id: str) -> Decimal:
        return self.markets[token_id].tick_size

    async def _submit(
        self, orders: Sequence[Order], bodies: list[dict[str, Any]], report: ExecutionReport
    ) -> None:
        now = self.clock.now_ns()
        for order in orders:
            order.transition(OrderStatus.SUBMITTING, now)
        try:
            if len(orders) == 1:
                answer = await self.rest.l2("POST", "/order", bodies[0])
            else:
                answer = await self.rest.l2("POST", "/orders", bodies)
        except VenueBusy as exc:
            wait_s = exc.retry_after_s
            if wait_s is None:
                wait_s = RESTART_WAIT_S if exc.status == 425 else 0.0
            self._wait_until_ns = self.clock.now_ns() + int(wait_s * 1e9)
            self._wait_reason = str(exc)
            for order in orders:
                order.transition(OrderStatus.REJECTED, self.clock.now_ns(), f"not processed: {exc}")
                self._updated(order, [])
            return
        except VenueUnknown as exc:
            await self._unknown(orders, str(exc), report)
            return
        if answer.status != 200:  # the venue refused the request as a whole (HTTP 4xx)
            message = _error_text(answer.body)
            for order in orders:
                order.transition(OrderStatus.REJECTED, self.clock.now_ns(), message)
                self._updated(order, [])
            return
        batch = len(orders) > 1
        items = answer.body if batch else [answer.body]
        readable = isinstance(items, list) and all(isinstance(i, dict) for i in items)
        if not readable or len(items) != len(orders):
            # a 200 we cannot read: the orders may be placed; look them up, never resend
            await self._unknown(orders, f"unreadable answer: {str(answer.body)[:100]}", report)
            return
        for order, item in zip(orders, items, strict=True):
            report.fills += await self._answered(order, item)

    async def _unknown(self, orders: Sequence[Order], reason: str, report: ExecutionReport) -> None:
        log.warning("order outcome unknown; resolving by query", reason=reason)
        for order in orders:
            order.transition(OrderStatus.UNKNOWN, self.clock.now_ns(), reason)
        for order in orders:
            report.fills += await self._resolve(order)

    async def _answered(self, order: Order, item: Any) -> list[Fill]:
        now = self.clock.now_ns()
        if not isinstance(item, dict) or not item.get("success"):
            message = _error_text(item)
            if message in (FOK_KILLED, FAK_NO_MATCH):
                order.transition(OrderStatus.ACKED, now)
                order.transition(OrderStatus.CANCELED, now, message)
            else:
                order.transition(OrderStatus.REJECTED, now, message)
            self._updated(order, [])
            return []
        if str(item.get("orderID", "")) not in ("", order.venue_id):
            log.error("venue order id differs", ours=order.venue_id, theirs=item.get("orderID"))
        order.transition(OrderStatus.ACKED, now)
        return await self._filled(order, [str(t) for t in item.get("tradeIDs") or []])

    async def _filled(self, order: Order, trade_ids: list[str]) -> list[Fill]:
        fills = await self.trades.order_fills(order, trade_ids)  # booked, risk told
        now = self.clock.now_ns()
        order.filled = sum((f.size for f in fills), ZERO)
        order.fees = sum((f.fee for f in fills), ZERO)
        if fills and order.filled >= order.size:
            order.transition(OrderStatus.FILLED, now)
        elif fills:
            order.transition(OrderStatus.PARTIAL, now)
            order.transition(
                OrderStatus.CANCELED, now, f"{order.order_type.value} remainder canceled"
            )
        elif trade_ids:  # matched, but the trades could not be read: reconciliation's job
            self.unresolved[order.client_id] = order
            order.reason = "matched; fills not yet read"
        else:
            order.transition(OrderStatus.CANCELED, now, "matched nothing")
        self._updated(order, fills)
        return fills

    def on_user_event(self, event: UserEvent) -> None:
        """The user channel's entry point (``UserChannelClient(on_event=...)``)."""
        self.trades.on_user_event(event)

    async def refresh_settlements(self) -> None:
        """Read the trades not yet final from REST (``UserChannelClient(on_connect=...)``)."""
        await self.trades.refresh()

    async def _resolve(self, order: Order) -> list[Fill]:
        """Ask the venue what became of an UNKNOWN (or ACKED, unread) order by its id; never
        resend it."""
        reason = ""
        for attempt in range(self.config.resolve_attempts):
            if attempt:
                await asyncio.sleep(self.config.resolve_backoff_s * attempt)
            try:
                answer: VenueAnswer = await self.rest.l2("GET", f"/data/order/{order.venue_id}")
            except (VenueBusy, VenueUnknown) as exc:
                reason = str(exc)
                continue
            if answer.status != 200:
                reason = _error_text(answer.body)
                continue
            found = answer.body
            now = self.clock.now_ns()
            if not found and order.status == OrderStatus.UNKNOWN:
                # a successful query that does not know the id: it was never placed
                order.transition(OrderStatus.REJECTED, now, "not found at the venue: not placed")
                self._updated(order, [])
                return []
            if not found:  # the venue acknowledged it once: only reconciliation may judge
                break
            if order.status != OrderStatus.ACKED:
                order.transition(OrderStatus.ACKED, now)
            return await self._filled(order, [str(t) for t in found.get("associate_trades") or []])
        self.unresolved[order.client_id] = order
        order.reason = f"UNKNOWN, left to reconciliation: {reason}"
        log.error("order outcome unresolved", client_id=order.client_id, reason=reason)
        return []

    async def resolve_in_flight(self, orders: Iterable[Order]) -> list[Fill]:
        """At start: settle the live orders a previous run left in flight (recorded, perhaps
        sent, perhaps filled) by looking each up by its id, never by sending it again. Fills
        already booked (journal, ledger) are not booked twice (the trade id is the fill id)."""
        fills: list[Fill] = []
        for order in orders:
            if order.mode != Mode.LIVE or not order.venue_id:
                continue
            self.trades.orders[order.venue_id] = order  # its trades may still settle or fail
            if order.status.is_terminal:
                continue
            now = self.clock.now_ns()
            if order.status == OrderStatus.INTENT:  # the send may have begun: it counts as sent
                order.transition(OrderStatus.SUBMITTING, now)
            if order.status == OrderStatus.SUBMITTING:
                order.transition(OrderStatus.UNKNOWN, now, "in flight when the last run stopped")
            if order.status in (OrderStatus.UNKNOWN, OrderStatus.ACKED):
                fills += await self._resolve(order)
        return fills

    async def book_trades(self, order: Order, trade_ids: list[str]) -> list[Fill]:
        """Settle an order left in flight from the venue's trades of it (reconciliation: the
        venue's order lookup answers for active orders only, a filled one comes back empty);
        never resends it. Fills already booked are not booked twice."""
        now = self.clock.now_ns()
        if order.status == OrderStatus.INTENT:
            order.transition(OrderStatus.SUBMITTING, now)
        if order.status == OrderStatus.SUBMITTING:
            order.transition(OrderStatus.UNKNOWN, now, "in flight when the last run stopped")
        if order.status == OrderStatus.UNKNOWN:
            order.transition(OrderStatus.ACKED, now)
        self.unresolved.pop(order.client_id, None)
        return await self._filled(order, trade_ids)

    def _updated(self, order: Order, fills: list[Fill]) -> None:
        notify_order_update(self._on_order_update, order, fills)

    async def cancel_all(self) -> list[Order]:
        """``DELETE /cancel-all``; FOK/FAK orders never rest, so nothing of ours is listed."""
        try:
            await self.rest.l2("DELETE", "/cancel-all")
        except (VenueBusy, VenueUnknown) as exc:
            log.error("cancel-all failed", reason=str(exc))
        return []

    def on_book(self, token_id: str) -> None:
        return None

    def on_resolved(self, market: str, winning_token_id: str) -> Decimal:
        """Nothing is paid yet: the payout is booked when the redeem is mined
        (``resolution_sink``: the engine's chain operations)."""
        if self.resolution_sink is not None:
            self.resolution_sink(market, winning_token_id)
        return ZERO


def _order(
    leg: Leg,
    market: Market,
    price: Decimal,
    size: Decimal,
    order_type: OrderType,
    signal: Signal,
    signal_id: str,
    now: int,
) -> tuple[Order, str]:
    """A leg's order at ``price`` and ``size`` (its amount-precision size; 0: none fits) and
    the venue's reason to refuse it ("" when it may be sent)."""
    order = Order(
        client_id=new_client_order_id(Mode.LIVE),
        token_id=leg.token_id,
        market=leg.market or market.condition_id,
        side=leg.side,
        price=price,
        size=size if size > 0 else leg.size,
        order_type=order_type,
        strategy=signal.strategy,
        mode=Mode.LIVE,
        signal_id=signal_id,
        created_ns=now,
    )
    if size <= 0:
        return order, f"no size of {leg.token_id} at {price} meets amount precision"
    error = validate_order(
        order, tick=market.tick_size, min_order_size=market.min_order_size, marketable=True
    )
    return order, error or ""


def _common_size(signal: Signal, prices: list[Decimal], start: Decimal) -> Decimal:
    """The largest size <= ``start`` that every leg's amount precision accepts."""
    size = start
    while size > 0:
        if all(
            marketable_size(leg.side, p, size) == size
            for leg, p in zip(signal.legs, prices, strict=True)
        ):
            return size
        size -= SIZE_STEP
    return ZERO


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("errorMsg") or body.get("error") or body)[:300]
    return str(body)[:300]
