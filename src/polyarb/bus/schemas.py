"""Every payload that crosses the bus, typed in one place (documented in ``docs/events.md``).

Money, prices and sizes are ``Decimal`` and travel as JSON strings (msgspec's default for
Decimal), never as binary floats. Structs are frozen, so the bus may encode a payload after
``publish`` returned without the publisher being able to change it underneath. Unknown fields
are ignored on decode, so adding a field with a default is compatible; anything else bumps
``SCHEMA_VERSION`` (see ``codec``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal, get_args

import msgspec

from polyarb.bus.topics import Channel
from polyarb.domain.book import Side
from polyarb.domain.trading import Fill, Mode, Order, Signal

SCHEMA_VERSION = 1
MAX_OPPORTUNITIES = 20  # poly:state carries the best N, never every book
MAX_POSITIONS = 50
MAX_BOOK_DEPTH = 200  # levels per side a book query may ask for
# Levels (both sides, every book) in one answer: ~45 bytes each, so an answer stays ~200 KiB,
# far below the codec's 1 MiB, however many outcomes a negRisk event has.
MAX_ANSWER_LEVELS = 4000
MAX_ANSWER_BOOKS = 200  # books in one answer (a negRisk event's outcomes beyond it are cut)

ZERO = Decimal(0)


class _Payload(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the envelope payloads; ``TYPE`` is the envelope's ``type``, ``CHANNEL`` its home."""

    TYPE: ClassVar[str]
    CHANNEL: ClassVar[Channel]


class _Part(msgspec.Struct, frozen=True, kw_only=True):
    """A nested record inside a payload."""


# --- poly:state ------------------------------------------------------------------------------


class Opportunity(_Part, frozen=True, kw_only=True):
    """An open arbitrage opportunity (a recent signal whose books still show the edge)."""

    strategy: str
    market: str  # condition id (binary) or event id (negRisk)
    label: str = ""  # question or event title, for display
    edge: Decimal  # profit per set, fees included
    size: Decimal
    expected_profit: Decimal
    ts_ns: int  # when it was last seen
    signal_id: str = ""


class PositionMark(_Part, frozen=True, kw_only=True):
    token_id: str
    market: str = ""
    outcome: str = ""
    size: Decimal  # shares
    avg_cost: Decimal  # USD per share
    mark: Decimal | None  # the price the position is marked at; None when the book is empty
    unrealized_pnl: Decimal
    realized_pnl: Decimal = ZERO


class DailyPnl(_Part, frozen=True, kw_only=True):
    day: str  # ISO date (UTC) the figures belong to
    realized: Decimal
    unrealized: Decimal
    fees: Decimal = ZERO
    trades: int = 0


class StrategyStatus(_Part, frozen=True, kw_only=True):
    name: str
    enabled: bool
    params: dict[str, str] = msgspec.field(default_factory=dict)  # current values, as strings


class Counters(_Part, frozen=True, kw_only=True):
    """Totals since the engine started."""

    frames: int = 0
    signals: int = 0
    orders: int = 0
    fills: int = 0
    denials: dict[str, int] = msgspec.field(default_factory=dict)  # risk denial reason -> count
    publishes_dropped: int = 0  # filled in by StatePublisher from the bus's own count
    # Book integrity: price_change (message, asset) pairs whose venue best_bid/best_ask were
    # compared with the book, those that agreed, books the check made stale (and repaired).
    book_checks: int = 0
    book_agreed: int = 0
    book_repairs: int = 0
    # Apparent complete-set edges never traded: a binary market's two books disagreed (torn
    # view, refreshed from REST), or the edge was above the sanity cap (anomaly).
    torn_views: int = 0
    anomalies: int = 0


class EngineState(_Payload, frozen=True, kw_only=True):
    """What a dashboard shows about one engine; published every 100 ms on ``poly:state``."""

    TYPE: ClassVar[str] = "engine_state"
    CHANNEL: ClassVar[Channel] = Channel.STATE

    status: str  # starting | running | paused | stopping | stopped
    trading_state: str  # active | reducing | halted (the risk manager's state)
    kill_switch: bool = False
    kill_switch_reason: str = ""
    mode: Mode
    started_ns: int
    markets_tracked: int
    books_tracked: int
    books_stale: int
    opportunities: tuple[Opportunity, ...] = ()  # best first, at most MAX_OPPORTUNITIES
    opportunities_total: int = 0  # how many were open before the cut
    positions: tuple[PositionMark, ...] = ()  # at most MAX_POSITIONS
    positions_total: int = 0
    pnl: DailyPnl
    counters: Counters = msgspec.field(default_factory=Counters)
    strategies: tuple[StrategyStatus, ...] = ()
    # False while the engine cannot reach its bus (Redis down): what it publishes is dropped.
    bus_connected: bool = True
    bus_dropped: int = 0  # publishes dropped since start (Redis down or its queue full)

    def bounded(
        self, max_opportunities: int = MAX_OPPORTUNITIES, max_positions: int = MAX_POSITIONS
    ) -> EngineState:
        """This state with at most N opportunities (most profit first) and positions (largest)."""
        opportunities, positions = self.opportunities, self.positions
        if len(opportunities) > max_opportunities:
            ranked = sorted(opportunities, key=lambda o: o.expected_profit, reverse=True)
            opportunities = tuple(ranked[:max_opportunities])
        if len(positions) > max_positions:
            ranked_positions = sorted(
                positions, key=lambda p: abs(p.size * p.avg_cost), reverse=True
            )
            positions = tuple(ranked_positions[:max_positions])
        if opportunities is self.opportunities and positions is self.positions:
            return self
        return msgspec.structs.replace(
            self,
            opportunities=opportunities,
            opportunities_total=max(self.opportunities_total, len(self.opportunities)),
            positions=positions,
            positions_total=max(self.positions_total, len(self.positions)),
        )


# --- poly:signals ----------------------------------------------------------------------------


class LegInfo(_Part, frozen=True, kw_only=True):
    token_id: str
    side: Side
    size: Decimal
    vwap: Decimal
    limit_price: Decimal
    market: str = ""
    outcome: str = ""


class SignalEvent(_Payload, frozen=True, kw_only=True):
    """A signal a strategy produced, and (once known) what the engine decided about it."""

    TYPE: ClassVar[str] = "signal"
    CHANNEL: ClassVar[Channel] = Channel.SIGNALS

    signal_id: str = ""
    strategy: str
    market: str
    ts_recv_ns: int  # receive time of the frame that triggered it
    edge: Decimal
    size: Decimal
    legs: tuple[LegInfo, ...]
    fees: Decimal = ZERO
    cost: Decimal = ZERO
    expected_profit: Decimal = ZERO
    kind: str = "complete_set"
    reason: str = ""
    decision: str = ""  # "" (just detected) | taken | denied | skipped
    denial: str = ""  # the risk denial reason when denied

    @classmethod
    def from_signal(cls, signal: Signal, *, decision: str = "", denial: str = "") -> SignalEvent:
        legs = tuple(
            LegInfo(
                token_id=leg.token_id,
                side=leg.side,
                size=leg.size,
                vwap=leg.vwap,
                limit_price=leg.limit_price,
                market=leg.market,
                outcome=leg.outcome,
            )
            for leg in signal.legs
        )
        return cls(
            signal_id=signal.signal_id,
            strategy=signal.strategy,
            market=signal.market,
            ts_recv_ns=signal.ts_recv_ns,
            edge=signal.edge,
            size=signal.size,
            legs=legs,
            fees=signal.fees,
            cost=signal.cost,
            expected_profit=signal.expected_profit,
            kind=signal.kind,
            reason=signal.reason,
            decision=decision,
            denial=denial,
        )


# --- poly:trades -----------------------------------------------------------------------------


class OrderInfo(_Part, frozen=True, kw_only=True):
    client_id: str
    venue_id: str = ""
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    order_type: str
    status: str
    filled: Decimal = ZERO
    fees: Decimal = ZERO
    reason: str = ""


class FillInfo(_Part, frozen=True, kw_only=True):
    fill_id: str
    client_order_id: str
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: str = "taker"
    ts_ns: int


class ReportInfo(_Part, frozen=True, kw_only=True):
    """The outcome of executing one signal (all legs)."""

    outcome: str  # filled | partial | rejected | failed | leg_risk | logged
    filled_size: Decimal = ZERO
    cost: Decimal = ZERO
    fees: Decimal = ZERO
    detail: str = ""


class TradeEvent(_Payload, frozen=True, kw_only=True):
    """An order state change, a fill, or a signal's execution report (``kind`` says which)."""

    TYPE: ClassVar[str] = "trade"
    CHANNEL: ClassVar[Channel] = Channel.TRADES

    kind: Literal["order", "fill", "report"]
    strategy: str
    market: str
    mode: Mode
    signal_id: str = ""
    order: OrderInfo | None = None
    fill: FillInfo | None = None
    report: ReportInfo | None = None
    realized_pnl: Decimal | None = None  # realized by this fill / report, when it closed risk

    @classmethod
    def from_order(cls, order: Order) -> TradeEvent:
        info = OrderInfo(
            client_id=order.client_id,
            venue_id=order.venue_id,
            token_id=order.token_id,
            side=order.side,
            price=order.price,
            size=order.size,
            order_type=order.order_type.value,
            status=order.status.value,
            filled=order.filled,
            fees=order.fees,
            reason=order.reason,
        )
        return cls(
            kind="order",
            strategy=order.strategy,
            market=order.market,
            mode=order.mode,
            signal_id=order.signal_id,
            order=info,
        )

    @classmethod
    def from_fill(
        cls, fill: Fill, *, signal_id: str = "", realized_pnl: Decimal | None = None
    ) -> TradeEvent:
        info = FillInfo(
            fill_id=fill.fill_id,
            client_order_id=fill.client_order_id,
            token_id=fill.token_id,
            side=fill.side,
            price=fill.price,
            size=fill.size,
            fee=fill.fee,
            liquidity=fill.liquidity,
            ts_ns=fill.ts_ns,
        )
        return cls(
            kind="fill",
            strategy=fill.strategy,
            market=fill.market,
            mode=fill.mode,
            signal_id=signal_id,
            fill=info,
            realized_pnl=realized_pnl,
        )


# --- poly:errors -----------------------------------------------------------------------------


class ErrorEvent(_Payload, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "error"
    CHANNEL: ClassVar[Channel] = Channel.ERRORS

    source: str  # the component: feed, execution, store, risk, engine ...
    kind: str  # short machine-readable class: disconnect, rejected, timeout ...
    message: str
    severity: str = "error"  # warning | error | critical
    details: dict[str, str] = msgspec.field(default_factory=dict)  # never secrets


# --- poly:commands / poly:commands:ack -------------------------------------------------------

CommandAction = Literal[
    "pause",
    "resume",
    "kill_switch_engage",
    "kill_switch_clear",
    "strategy_enable",
    "strategy_disable",
    "strategy_set_param",
]
COMMAND_ACTIONS: frozenset[str] = frozenset(get_args(CommandAction))


class Command(_Payload, frozen=True, kw_only=True):
    """An operator's instruction to the engine(s).

    Fields are deliberately loose strings: the engine's ``CommandProcessor`` validates them and
    answers every command that has an id with a reason, instead of the codec dropping it mutely.
    """

    TYPE: ClassVar[str] = "command"
    CHANNEL: ClassVar[Channel] = Channel.COMMANDS

    id: str  # unique per command; the engine applies an id once
    actor: str  # who sent it (the authenticated user)
    sent_ns: int
    action: str  # one of COMMAND_ACTIONS
    strategy: str = ""  # strategy_* actions
    param: str = ""  # strategy_set_param
    value: str = ""  # strategy_set_param, a decimal / integer / true|false string
    reason: str = ""  # free text, e.g. why the kill switch was engaged
    target: str = ""  # an engine instance id; "" = every engine
    # The actor's role as the sender vouches for it ("" = none): the dashboard sends the user's
    # account role; the engine acts on the lesser of it and its own COMMAND_* lists.
    role: str = ""
    signature: str = ""  # hex HMAC-SHA256 of the other fields with COMMAND_SECRET (signing.py)


class CommandAck(_Payload, frozen=True, kw_only=True):
    TYPE: ClassVar[str] = "command_ack"
    CHANNEL: ClassVar[Channel] = Channel.COMMAND_ACKS

    command_id: str
    action: str = ""
    actor: str = ""
    accepted: bool
    reason: str = ""  # why it was rejected, or a note when accepted
    applied_ns: int  # when the engine applied (or rejected) it
    duplicate: bool = False  # a repeat of an id already handled: this is the original answer


# --- poly:queries / poly:queries:answer ------------------------------------------------------


class BookQuery(_Payload, frozen=True, kw_only=True):
    """A dashboard asks the engines for one market's books (read-only: not signed, not audited;
    the answer is public market data, bounded in size, and costs the engine one walk of the
    books' best levels)."""

    TYPE: ClassVar[str] = "book_query"
    CHANNEL: ClassVar[Channel] = Channel.QUERIES

    id: str  # unique per query; the answer carries it back
    condition_id: str
    depth: int = 20  # levels per side, 1..MAX_BOOK_DEPTH (the engine clamps it)
    sent_ns: int
    target: str = ""  # an engine instance id; "" = every engine


class BookLevel(_Part, frozen=True, kw_only=True):
    price: str  # decimal strings, as the venue writes them ("0.45", "120.5")
    size: str


class OutcomeBook(_Part, frozen=True, kw_only=True):
    token_id: str
    outcome: str  # the outcome's label ("Yes", "No", or a negRisk outcome's title)
    bids: tuple[BookLevel, ...] = ()  # best first
    asks: tuple[BookLevel, ...] = ()  # best first
    best_bid: str | None = None
    best_ask: str | None = None
    stale: bool = True  # no snapshot yet, or invalidated: strategies do not trade on it
    updated_ns: int | None = None  # receive time of the last message applied (None: never)


class BookAnswer(_Payload, frozen=True, kw_only=True):
    """An engine's answer to a ``BookQuery``; ``found`` false when it does not watch the market."""

    TYPE: ClassVar[str] = "book_answer"
    CHANNEL: ClassVar[Channel] = Channel.QUERY_ANSWERS

    query_id: str
    found: bool
    condition_id: str = ""
    question: str = ""
    neg_risk: bool = False
    event_id: str = ""
    as_of_ns: int = 0
    depth: int = 0  # levels per side actually given (the request, clamped to fit the answer)
    truncated: bool = False  # books were left out (more than MAX_ANSWER_BOOKS outcomes)
    books: tuple[OutcomeBook, ...] = ()


Payload = (
    EngineState
    | SignalEvent
    | TradeEvent
    | ErrorEvent
    | Command
    | CommandAck
    | BookQuery
    | BookAnswer
)

PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.TYPE: cls
    for cls in (
        EngineState,
        SignalEvent,
        TradeEvent,
        ErrorEvent,
        Command,
        CommandAck,
        BookQuery,
        BookAnswer,
    )
}


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """What travels on every channel: who published it, which number it is, and the payload."""

    schema_version: int = SCHEMA_VERSION
    channel: str
    instance_id: str  # the publishing process (engine or dashboard)
    seq: int  # per channel, per instance: 1, 2, 3 ... a jump is a gap, a drop is a restart
    ts_ns: int  # when it was published (unix ns)
    type: str  # the payload type, e.g. "engine_state"
    data: Payload
