"""What every execution mode shares: the client protocol, the report, ids and venue rules.

An ``ExecutionClient`` turns a risk-approved ``Signal`` into orders and returns an
``ExecutionReport`` with every order in its final (or resting) state, every fill, what leg-risk
handling did, and the P&L realized by merges and unwinds. Venue rules that a simulation must
enforce exactly like the venue (tick grid, size precision, minimums, fee rounding) live here so
paper and live agree on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Literal, Protocol

import structlog

from polyarb.clob.errors import (
    FAK_NO_MATCH,
    FOK_KILLED,
    NOT_ENOUGH_BALANCE,
    min_buy_error,
    min_size_error,
    size_precision_error,
    tick_error,
)
from polyarb.domain.book import Side
from polyarb.domain.ledger import Merge
from polyarb.domain.market import FeeSchedule, round_fee
from polyarb.domain.trading import Fill, Mode, Order, OrderStatus, OrderType, Signal

log = structlog.get_logger(__name__)

ZERO = Decimal(0)
Outcome = Literal["filled", "partial", "rejected", "missed", "resting", "logged"]
LegPolicy = Literal["unwind", "complete", "hold"]
LEG_POLICIES: tuple[LegPolicy, ...] = ("unwind", "complete", "hold")

# --- venue rules ---------------------------------------------------------------------------
SIZE_QUANTUM = Decimal("0.01")  # order sizes carry at most 2 decimals
MIN_MARKETABLE_BUY_USD = Decimal(1)
RESTING_TYPES = frozenset({OrderType.GTC, OrderType.GTD})
# The venue's own wording (polyarb.clob.errors), so paper rejections read like live ones.
__all__ = [
    "FAK_NO_MATCH",
    "FOK_KILLED",
    "NOT_ENOUGH_BALANCE",
    "min_buy_error",
    "min_size_error",
    "size_precision_error",
    "tick_error",
]


def venue_taker_fee(fees: FeeSchedule, price: Decimal, shares: Decimal) -> Decimal:
    """The taker fee of one fill: rate x (p(1-p))^e x shares, rounded down to 5 decimals as the
    venue charges it (a fee under 0.00001 is not charged; ``domain.market.round_fee``)."""
    if not fees.rate or not shares:
        return ZERO
    return round_fee(fees.taker_fee(price, shares))


def _decimals(value: Decimal) -> int:
    """Significant decimal places of a finite Decimal: 10.10 -> 1, 10.123 -> 3, 1E+2 -> 0."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def round_size_down(size: Decimal) -> Decimal:
    """The largest venue-valid order size (2 decimals) not above ``size``."""
    return size.quantize(SIZE_QUANTUM, rounding=ROUND_DOWN)


def validate_order(
    order: Order,
    *,
    tick: Decimal,
    min_order_size: Decimal,
    marketable: bool,
) -> str | None:
    """The venue's rejection message for ``order``, or None when the venue would accept it."""
    price, size = order.price, order.size
    if not size.is_finite() or size <= 0 or _decimals(size) > 2:
        return size_precision_error(order.client_id, size)
    if not price.is_finite() or price < tick or price > 1 - tick or price % tick:
        return tick_error(order.client_id, price, tick)
    if order.order_type in RESTING_TYPES and size < min_order_size:
        return min_size_error(order.client_id, size, min_order_size)
    if marketable and order.side == Side.BUY:
        amount = size * price
        if amount < MIN_MARKETABLE_BUY_USD:
            return min_buy_error(amount)
    return None


# --- ids -----------------------------------------------------------------------------------
_ID_PREFIX = {Mode.PAPER: "paper", Mode.LOG_ONLY: "intent", Mode.LIVE: "live"}


def new_client_order_id(mode: Mode) -> str:
    """A client order id that never collides (random 128 bits), prefixed by the mode."""
    return f"{_ID_PREFIX[mode]}-{uuid.uuid4().hex}"


def new_event_id(kind: str) -> str:
    """An id for a signal, merge or lock that the caller did not name."""
    return f"{kind}-{uuid.uuid4().hex}"


def fill_id_for(order: Order, sequence: int) -> str:
    """Fill ids derive from the (unique) order id, so they are unique and stable."""
    return f"{order.client_id}-f{sequence}"


# --- reports -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Orphan:
    """Unhedged shares left by a complete-set signal whose legs did not fill alike."""

    token_id: str
    market: str
    shares: Decimal
    avg_cost: Decimal  # per share, fees included


@dataclass(frozen=True, slots=True)
class LegRiskReport:
    """What leg-risk handling found and did; ``remaining`` orphans stay in the ledger."""

    signal_id: str
    strategy: str
    policy: LegPolicy
    detected: tuple[Orphan, ...]
    remaining: tuple[Orphan, ...]
    actions: tuple[str, ...]  # e.g. ("complete", "unwind") in the order they were tried
    loss: Decimal  # P&L given up by the handling (orphans valued at cost), <= max_loss
    max_loss: Decimal
    order_ids: tuple[str, ...] = ()
    detail: str = ""

    @property
    def resolved(self) -> bool:
        return not self.remaining


@dataclass(slots=True)
class ExecutionReport:
    """The result of executing one signal."""

    signal_id: str
    strategy: str
    mode: Mode
    outcome: Outcome = "missed"
    orders: list[Order] = field(default_factory=list)  # the signal's legs, then leg-risk orders
    fills: list[Fill] = field(default_factory=list)
    leg_risk: LegRiskReport | None = None
    merges: list[Merge] = field(default_factory=list)
    merged: Decimal = ZERO  # binary complete sets turned into collateral
    locked: Decimal = ZERO  # negRisk complete sets held until resolution
    converted: Decimal = ZERO  # negRisk NO sets converted into n - 1 collateral each
    realized_pnl: Decimal = ZERO  # realized by this execution (unwinds, merges), net of fees
    fees: Decimal = ZERO
    reason: str = ""
    started_ns: int = 0
    finished_ns: int = 0

    @property
    def filled_notional(self) -> Decimal:
        return sum((f.notional for f in self.fills), ZERO)

    def order(self, client_id: str) -> Order | None:
        return next((o for o in self.orders if o.client_id == client_id), None)


def outcome_of(legs: list[Order], leg_risk: LegRiskReport | None) -> Outcome:
    """Classify a signal's execution from its leg orders (leg-risk orders excluded)."""
    if legs and all(
        o.status in (OrderStatus.REJECTED, OrderStatus.FAILED) and not o.filled for o in legs
    ):
        return "rejected"
    if not any(o.filled for o in legs):
        return "resting" if any(o.status == OrderStatus.OPEN for o in legs) else "missed"
    if leg_risk is None and all(o.status == OrderStatus.FILLED for o in legs):
        return "filled"
    return "partial"


OrderUpdateCallback = Callable[[Order, list[Fill]], None]


def notify_order_update(
    callback: OrderUpdateCallback | None, order: Order, fills: list[Fill]
) -> None:
    """Tell ``callback`` (the engine: store, bus) of an order's new state; never raises."""
    if callback is None:
        return
    try:
        callback(order, fills)
    except Exception:
        log.exception("order update callback failed", client_id=order.client_id)


class RiskGate(Protocol):
    """What execution asks the engine's risk manager about orders it decides on its own
    (leg completion, unwinds) and tells it about fills as they happen."""

    def halted(self) -> str | None:
        """Why nothing may fill now (the kill switch), or None."""
        ...

    def approve(self, signal: Signal, completing: Collection[str]) -> str | None:
        """Check a leg-risk order as a reducing order and count it in flight; None when
        approved, else why not. ``completing``: the tokens of the set a buy completes."""
        ...

    def on_fills(self, signal_id: str, fills: Sequence[Fill]) -> None:
        """Fills of an order of ``signal_id`` (a leg, a leg-risk order, a resting order)."""
        ...

    def on_done(self, signal: Signal) -> None:
        """Nothing of ``signal`` is in flight any more."""
        ...


class ExecutionClient(Protocol):
    """One execution mode (paper, log-only, live); the engine calls only this. A mode that
    fills tells the engine's ``RiskGate`` of each fill as it happens (the engine does not
    replay a report's fills into risk) and asks it before any order it decides on its own."""

    @property
    def mode(self) -> Mode: ...

    async def execute(self, signal: Signal) -> ExecutionReport:
        """Place every leg, handle leg risk, merge complete sets; never raises on venue rules."""
        ...

    async def cancel_all(self) -> list[Order]:
        """Cancel every resting order; return those canceled."""
        ...

    def on_book(self, token_id: str) -> None:
        """The book of ``token_id`` changed (resting orders may fill)."""
        ...

    def on_resolved(self, market: str, winning_token_id: str) -> Decimal:
        """``market`` (condition id) resolved; return the P&L realized by payouts."""
        ...
