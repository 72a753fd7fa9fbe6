"""Signals, orders and fills: what strategies propose and what execution does with it.

Values at this level are ``Decimal`` (prices in [0, 1], sizes in shares, money in USD) because
they cross process and storage boundaries; the hot book math stays in integers (``numbers``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from polyarb.domain.book import Side


class Mode(StrEnum):
    """How orders are executed; recorded on every trading row."""

    PAPER = "paper"
    LOG_ONLY = "log-only"
    LIVE = "live"


class OrderType(StrEnum):
    FOK = "FOK"  # fill completely now or cancel
    FAK = "FAK"  # fill what is possible now, cancel the rest
    GTC = "GTC"  # rest until filled or canceled
    GTD = "GTD"  # rest until an expiry


class OrderStatus(StrEnum):
    INTENT = "INTENT"  # written down, not yet sent
    SUBMITTING = "SUBMITTING"
    ACKED = "ACKED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"  # submit timed out: never retried blindly, reconciled
    OPEN = "OPEN"
    PARTIAL = "PARTIAL"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        OrderStatus.REJECTED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.FAILED,
    }
)

# Allowed transitions of the order state machine; anything else is a bug.
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.INTENT: frozenset({OrderStatus.SUBMITTING, OrderStatus.FAILED}),
    OrderStatus.SUBMITTING: frozenset(
        {OrderStatus.ACKED, OrderStatus.REJECTED, OrderStatus.UNKNOWN, OrderStatus.FAILED}
    ),
    OrderStatus.ACKED: frozenset(
        {
            OrderStatus.OPEN,
            OrderStatus.PARTIAL,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.UNKNOWN: frozenset(
        {
            OrderStatus.ACKED,
            OrderStatus.OPEN,
            OrderStatus.PARTIAL,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.REJECTED,
            OrderStatus.FAILED,
        }
    ),
    OrderStatus.OPEN: frozenset(
        {OrderStatus.PARTIAL, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED}
    ),
    OrderStatus.PARTIAL: frozenset(
        {OrderStatus.PARTIAL, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED}
    ),
}


@dataclass(frozen=True, slots=True)
class Leg:
    """One order a signal wants: buy/sell ``size`` shares of a token up to ``limit_price``."""

    token_id: str
    side: Side
    size: Decimal
    vwap: Decimal  # expected average price from the book walk
    limit_price: Decimal  # worst acceptable price (on the tick grid)
    market: str = ""  # condition id of the token's market
    outcome: str = ""


@dataclass(frozen=True, slots=True)
class Signal:
    """An opportunity a strategy wants to take, sized and priced from the books."""

    strategy: str
    market: str  # condition id (binary) or event id (negRisk set)
    ts_recv_ns: int  # receive time of the frame that triggered the evaluation
    edge: Decimal  # profit per set (or per share), fees included
    size: Decimal  # sets (complete-set strategies) or shares
    legs: tuple[Leg, ...]
    fees: Decimal = Decimal(0)  # expected taker fees in USD for the whole size
    cost: Decimal = Decimal(0)  # expected cost in USD including fees
    kind: str = "complete_set"  # complete_set | directional
    reason: str = ""
    signal_id: str = ""

    @property
    def expected_profit(self) -> Decimal:
        return self.edge * self.size

    @property
    def notional(self) -> Decimal:
        return sum((leg.size * leg.limit_price for leg in self.legs), Decimal(0))


@dataclass(slots=True)
class Order:
    """Our order, with its client id (ours) and venue id (theirs), tracked through its states."""

    client_id: str
    token_id: str
    market: str
    side: Side
    price: Decimal  # limit price
    size: Decimal  # shares
    order_type: OrderType
    strategy: str
    mode: Mode
    signal_id: str = ""
    venue_id: str = ""
    status: OrderStatus = OrderStatus.INTENT
    filled: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    reason: str = ""
    created_ns: int = 0
    history: list[tuple[OrderStatus, int]] = field(default_factory=list)

    def transition(self, status: OrderStatus, ts_ns: int, reason: str = "") -> None:
        """Move to ``status``; raises ``ValueError`` on a transition the state machine forbids."""
        if status != self.status and status not in ORDER_TRANSITIONS.get(self.status, frozenset()):
            raise ValueError(f"order {self.client_id}: {self.status.value} -> {status.value}")
        self.status = status
        if reason:
            self.reason = reason
        self.history.append((status, ts_ns))

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled


@dataclass(frozen=True, slots=True)
class Fill:
    """A (possibly partial) execution of one of our orders; idempotent by ``fill_id``."""

    fill_id: str
    client_order_id: str
    token_id: str
    market: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    ts_ns: int
    strategy: str
    mode: Mode
    liquidity: str = "taker"

    @property
    def notional(self) -> Decimal:
        return self.price * self.size
