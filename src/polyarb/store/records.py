"""The records the engine hands to the store, and the rows the store hands back.

Records are immutable msgspec structs with a type tag, so a batch can be written to the outage
spool as one JSON line and decoded back into the same types (``Decimal`` travels as its exact
text). Every record carries its own natural key (fill id, event id, client order id + sequence),
assigned when the record is built, so that writing it twice writes it once.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from polyarb.domain.book import Side
from polyarb.domain.ledger import Merge, Resolution
from polyarb.domain.market import Market
from polyarb.domain.trading import Fill, Mode, Order, OrderStatus, OrderType, Signal

Detail = dict[str, Any]

_BOOT = secrets.token_hex(6)
_COUNTER = itertools.count(1)


def new_event_id() -> str:
    """A unique id for an appended row: random per process, then a counter (cheap, no syscall)."""
    return f"{_BOOT}-{next(_COUNTER)}"


def modes_compatible(a: Mode, b: Mode) -> bool:
    """Live rows never share a database with simulated (paper / log-only) rows."""
    return (a is Mode.LIVE) == (b is Mode.LIVE)


class _Record(msgspec.Struct, frozen=True, tag_field="type"):
    """Base of everything ``Store.submit`` accepts."""


class MarketSeen(_Record, tag="market", frozen=True, kw_only=True):
    condition_id: str
    ts_ns: int
    question: str = ""
    slug: str = ""
    event_id: str = ""
    neg_risk: bool = False
    outcomes: tuple[tuple[str, str], ...] = ()  # (label, token id)

    @classmethod
    def from_market(cls, market: Market, ts_ns: int) -> MarketSeen:
        return cls(
            condition_id=market.condition_id,
            ts_ns=ts_ns,
            question=market.question,
            slug=market.slug,
            event_id=market.event_id or "",
            neg_risk=market.neg_risk,
            outcomes=tuple((o.label, o.token_id) for o in market.outcomes),
        )


class SignalRecord(_Record, tag="signal", frozen=True, kw_only=True):
    """A signal a strategy emitted and what became of it (taken, denied by risk, skipped ...)."""

    signal_id: str
    mode: Mode
    strategy: str
    market: str
    ts_ns: int
    kind: str
    edge: Decimal
    size: Decimal
    cost: Decimal
    fees: Decimal
    outcome: str
    reason: str = ""
    detail: Detail = msgspec.field(default_factory=dict)

    @classmethod
    def from_signal(
        cls,
        signal: Signal,
        mode: Mode,
        outcome: str,
        *,
        reason: str = "",
        detail: Detail | None = None,
    ) -> SignalRecord:
        legs = [
            {
                "token_id": leg.token_id,
                "side": leg.side.value,
                "size": str(leg.size),
                "vwap": str(leg.vwap),
                "limit_price": str(leg.limit_price),
                "outcome": leg.outcome,
            }
            for leg in signal.legs
        ]
        return cls(
            signal_id=signal.signal_id or new_event_id(),
            mode=mode,
            strategy=signal.strategy,
            market=signal.market,
            ts_ns=signal.ts_recv_ns,
            kind=signal.kind,
            edge=signal.edge,
            size=signal.size,
            cost=signal.cost,
            fees=signal.fees,
            outcome=outcome,
            reason=reason or signal.reason,
            detail={"legs": legs, **(detail or {})},
        )


class OpportunityLike(Protocol):
    """What the strategies' opportunity tracker records (read by attribute)."""

    strategy: str
    market: str
    first_seen_ns: int
    last_seen_ns: int
    best_edge: Decimal
    max_size: Decimal
    sightings: int
    outcome: str
    detail: str
    signal_ids: list[str]
    closed_ns: int  # 0 while open


class OpportunityRecord(_Record, tag="opportunity", frozen=True, kw_only=True):
    """The current state of one opportunity (a run of sightings of an edge on one market).

    Each record is a full snapshot that replaces the previous one, so replaying is harmless.
    """

    opportunity_id: str
    mode: Mode
    strategy: str
    market: str
    first_seen_ns: int
    last_seen_ns: int
    best_edge: Decimal
    executable_size: Decimal
    sightings: int
    outcome: str | None = None  # what became of it: missed / denied:<reason> / taken / filled ...
    closed_ns: int | None = None  # None while open
    detail: Detail = msgspec.field(default_factory=dict)

    @classmethod
    def from_opportunity(cls, opportunity: OpportunityLike, mode: Mode) -> OpportunityRecord:
        """From ``polyarb.strategies.opportunities.Opportunity`` (open or closed)."""
        return cls(
            opportunity_id=(
                f"{opportunity.strategy}:{opportunity.market}:{opportunity.first_seen_ns}"
            ),
            mode=mode,
            strategy=opportunity.strategy,
            market=opportunity.market,
            first_seen_ns=opportunity.first_seen_ns,
            last_seen_ns=opportunity.last_seen_ns,
            best_edge=opportunity.best_edge,
            executable_size=opportunity.max_size,
            sightings=opportunity.sightings,
            outcome=opportunity.outcome or None,
            closed_ns=opportunity.closed_ns or None,
            detail={"detail": opportunity.detail, "signal_ids": list(opportunity.signal_ids)},
        )


class OrderEvent(msgspec.Struct, frozen=True, array_like=True):
    """One step of an order's state history; ``seq`` 0 is the intent."""

    seq: int
    status: OrderStatus
    ts_ns: int
    reason: str = ""


def order_events(order: Order) -> tuple[OrderEvent, ...]:
    """The order's history numbered from 0 (the intent, implicit when not in ``history``)."""
    steps: list[tuple[OrderStatus, int]] = list(order.history)
    if not steps or steps[0][0] is not OrderStatus.INTENT:
        steps.insert(0, (OrderStatus.INTENT, order.created_ns))
    last = len(steps) - 1
    return tuple(
        OrderEvent(seq, status, ts_ns, order.reason if seq == last else "")
        for seq, (status, ts_ns) in enumerate(steps)
    )


class OrderRecord(_Record, tag="order", frozen=True, kw_only=True):
    """An order's current state plus the history steps to append (the rows are idempotent)."""

    client_id: str
    mode: Mode
    strategy: str
    market: str
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    order_type: OrderType
    status: OrderStatus
    seq: int
    created_ns: int
    updated_ns: int
    signal_id: str = ""
    venue_id: str = ""
    filled: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    reason: str = ""
    signed_payload: str | None = None
    events: tuple[OrderEvent, ...] = ()

    @classmethod
    def from_order(
        cls, order: Order, *, signed_payload: str | None = None, intent_only: bool = False
    ) -> OrderRecord:
        events = order_events(order)
        if intent_only:
            events = events[:1]
        last = events[-1]
        return cls(
            client_id=order.client_id,
            mode=order.mode,
            strategy=order.strategy,
            market=order.market,
            token_id=order.token_id,
            side=order.side,
            price=order.price,
            size=order.size,
            order_type=order.order_type,
            status=last.status,
            seq=last.seq,
            created_ns=order.created_ns,
            updated_ns=last.ts_ns,
            signal_id=order.signal_id,
            venue_id=order.venue_id,
            filled=order.filled if not intent_only else Decimal(0),
            fees=order.fees if not intent_only else Decimal(0),
            reason=order.reason if not intent_only else "",
            signed_payload=signed_payload,
            events=events,
        )


class PositionRow(msgspec.Struct, frozen=True, kw_only=True):
    """Shares of one token held for one strategy (size 0: the position is closed)."""

    strategy: str
    token_id: str
    market: str
    size: Decimal
    cost: Decimal  # cost basis of the shares, fees included


class LockedSetRow(msgspec.Struct, frozen=True, kw_only=True):
    """A negRisk complete set held until its event resolves."""

    lock_id: str
    strategy: str
    market: str
    token_ids: tuple[str, ...]
    qty: Decimal
    cost: Decimal


class DailyPnlRow(msgspec.Struct, frozen=True, kw_only=True):
    """Cumulative realized P&L and fees of a strategy ("" = all) at the end of a UTC day."""

    day: date
    strategy: str
    realized_pnl: Decimal
    fees: Decimal


class LedgerState(_Record, tag="ledger", frozen=True, kw_only=True):
    """Ledger rows to write over the previous rows with the same keys.

    ``positions`` lists the touched positions (size 0 deletes the row), or every position when
    ``all_positions``; ``locked`` is the full list of locked sets, or None when unchanged;
    ``daily`` the cumulative P&L rows of the days touched, or the whole history when
    ``all_daily``. Rows of the mode missing from a complete list are deleted.
    """

    mode: Mode
    ts_ns: int
    positions: tuple[PositionRow, ...] = ()
    locked: tuple[LockedSetRow, ...] | None = None
    daily: tuple[DailyPnlRow, ...] = ()
    all_positions: bool = False
    all_daily: bool = False


class FillRecord(_Record, tag="fill", frozen=True, kw_only=True):
    """A fill and the ledger rows it changed: always written in one transaction."""

    fill: Fill
    ledger: LedgerState | None = None

    @property
    def mode(self) -> Mode:
        return self.fill.mode


class TradeSettlementRecord(_Record, tag="settlement", frozen=True, kw_only=True):
    """A live trade's settlement status changed; ``fill_ids``: the fills it booked (a FAILED
    trade's fills are left out when the ledger is recomputed)."""

    trade_id: str
    mode: Mode
    status: str
    fill_ids: tuple[str, ...]
    reason: str
    ts_ns: int


class MergeRecord(_Record, tag="merge", frozen=True, kw_only=True):
    """Complete sets merged into collateral (or locked), with the ledger rows it changed."""

    merge: Merge
    mode: Mode
    tx_hash: str | None = None
    ledger: LedgerState | None = None


class ResolutionRecord(_Record, tag="resolution", frozen=True, kw_only=True):
    """A market resolution applied to the ledger, with the ledger rows it changed."""

    resolution: Resolution
    mode: Mode
    ledger: LedgerState | None = None


class RiskStateRecord(_Record, tag="risk", frozen=True, kw_only=True):
    """The trading state and the kill switch; one row per mode, the latest record wins."""

    mode: Mode
    state: str  # active / reducing / halted
    kill_switch: bool
    ts_ns: int
    reason: str = ""
    actor: str = ""
    detail: Detail = msgspec.field(default_factory=dict)


class ErrorRecord(_Record, tag="error", frozen=True, kw_only=True):
    ts_ns: int
    source: str
    kind: str
    message: str
    level: str = "error"
    detail: Detail = msgspec.field(default_factory=dict)
    event_id: str = msgspec.field(default_factory=new_event_id)


class AlertRecord(_Record, tag="alert", frozen=True, kw_only=True):
    ts_ns: int
    severity: str
    title: str
    message: str
    dedup_key: str = ""
    delivery: str = "none"  # none | pending (queued for Slack); later moves by AlertDelivery
    event_id: str = msgspec.field(default_factory=new_event_id)


ALERT_DELIVERIES = frozenset({"none", "pending", "sent", "coalesced", "dropped"})


class AlertDelivery(_Record, tag="alert_delivery", frozen=True, kw_only=True):
    """What became of alerts' Slack post: ``sent`` (Slack answered 200), ``coalesced`` (merged
    into another post) or ``dropped`` (refused for good). An update of rows already written:
    batches are applied in order, so the alert's own row is always there first."""

    event_ids: tuple[str, ...]
    delivery: str
    ts_ns: int


AUDIT_EVENT_ID_MAX = 512  # audit_log.event_id's width (revision 0002)


def audit_event_id(*parts: str) -> str:
    """A deterministic audit key from ``parts`` (the same action on the same engine gives the
    same key, so a replayed row is not doubled); hashed when it would not fit the column."""
    key = "-".join(parts)
    if len(key) <= AUDIT_EVENT_ID_MAX:
        return key
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return f"{parts[0][:64]}-sha256-{digest}"


class EquitySnapshot(_Record, tag="equity", frozen=True, kw_only=True):
    """The account at one moment, for the equity curve (the engine writes one a minute)."""

    mode: Mode
    ts_ns: int
    equity: Decimal  # cash + positions at their marks + locked sets
    realized: Decimal  # realized P&L since the start of the books, net of fees
    unrealized: Decimal
    fees: Decimal
    exposure: Decimal  # cost of what is held (positions and locked sets)


class AuditRecord(_Record, tag="audit", frozen=True, kw_only=True):
    """An operator action (login, pause, kill switch, config change ...)."""

    ts_ns: int
    actor: str
    action: str
    target: str = ""
    outcome: str = "ok"
    source_ip: str = ""
    detail: Detail = msgspec.field(default_factory=dict)
    event_id: str = msgspec.field(default_factory=new_event_id)


Record = (
    MarketSeen
    | SignalRecord
    | OpportunityRecord
    | OrderRecord
    | FillRecord
    | TradeSettlementRecord
    | LedgerState
    | MergeRecord
    | ResolutionRecord
    | RiskStateRecord
    | ErrorRecord
    | AlertRecord
    | AlertDelivery
    | AuditRecord
    | EquitySnapshot
)

RECORD_TYPES: tuple[type[_Record], ...] = (
    MarketSeen,
    SignalRecord,
    OpportunityRecord,
    OrderRecord,
    FillRecord,
    TradeSettlementRecord,
    LedgerState,
    MergeRecord,
    ResolutionRecord,
    RiskStateRecord,
    ErrorRecord,
    AlertRecord,
    AlertDelivery,
    AuditRecord,
    EquitySnapshot,
)


def _as_text(value: object) -> str:
    """Anything else a caller put in a ``detail`` is kept as its text, never an error."""
    return str(value)


_encoder = msgspec.json.Encoder(enc_hook=_as_text)
_batch_decoder = msgspec.json.Decoder(list[Record])


def encode_batch(records: Sequence[Record]) -> bytes:
    return _encoder.encode(records)


def decode_batch(raw: bytes) -> list[Record]:
    return _batch_decoder.decode(raw)


def encode_detail(detail: Detail) -> str:
    return _encoder.encode(detail).decode()


def decode_detail(text: str) -> Detail:
    value = msgspec.json.decode(text)
    return value if isinstance(value, dict) else {"value": value}


def record_mode(record: Record) -> Mode | None:
    """The trading mode a record belongs to (None for mode-less records: errors, audit ...)."""
    if isinstance(record, FillRecord):
        return record.fill.mode
    mode = getattr(record, "mode", None)
    return mode if isinstance(mode, Mode) else None
