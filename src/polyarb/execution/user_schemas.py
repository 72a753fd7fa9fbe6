"""CLOB user channel (``/ws/user``) ``order`` and ``trade`` events and ``GET /data/trades`` items.

Decoded with msgspec into wire structs, then turned into plain typed objects with Decimal prices
and sizes and millisecond timestamps. Wire facts handled here:

- statuses are free text: the WS sends ``CANCELED``, ``INVALID``, and a FOK kill as
  ``"CANCELED_order couldn't be fully filled. FOK orders ..."``; REST prefixes trade statuses
  (``TRADE_STATUS_CONFIRMED``) and may prefix order statuses (``ORDER_STATUS_LIVE``). The known
  status is the longest known prefix; the rest of the text is kept as ``reason``.
- timestamps are strings (or ints) in seconds OR milliseconds, depending on field and vintage:
  normalized by magnitude to milliseconds; ``"0"``/``""`` mean none.
- ``side``/``price``/``size``/``asset_id`` of a trade are the TAKER's. A maker's own fill is in
  ``maker_orders[]``, whose ``asset_id`` may be the other token (a complementary match: BUY YES
  against BUY NO mints, SELL against SELL merges); a maker order without ``side`` gets it derived
  from that.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Literal, TypeVar

import msgspec
import structlog

from polyarb.domain.book import Side
from polyarb.domain.errors import MalformedMessage

log = structlog.get_logger(__name__)

Liquidity = Literal["TAKER", "MAKER"]
_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")


class OrderEventType(StrEnum):
    PLACEMENT = "PLACEMENT"
    UPDATE = "UPDATE"  # a partial fill: size_matched grew
    CANCELLATION = "CANCELLATION"


class VenueOrderStatus(StrEnum):
    LIVE = "LIVE"
    MATCHED = "MATCHED"
    CANCELED = "CANCELED"
    INVALID = "INVALID"  # the venue canceled it
    DELAYED = "DELAYED"
    UNMATCHED = "UNMATCHED"
    UNKNOWN = "UNKNOWN"  # text we do not recognise; ``status_text`` keeps it


class TradeStatus(StrEnum):
    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"  # terminal: on chain
    RETRYING = "RETRYING"
    FAILED = "FAILED"  # terminal: the trade did not happen
    MATCHED_NOT_BROADCASTED = "MATCHED_NOT_BROADCASTED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in (TradeStatus.CONFIRMED, TradeStatus.FAILED)


def _split_status(text: str, enum: type[_E], unknown: _E, prefix: str) -> tuple[_E, str]:
    """(known status, remaining reason text) for a free-text status: the longest known status
    the text starts with (after an optional REST prefix), followed by a non-alphanumeric."""
    stripped = text.strip()
    body = stripped[len(prefix) :] if stripped.upper().startswith(prefix) else stripped
    upper = body.upper()
    matches = [
        m
        for m in enum
        if m is not unknown
        and upper.startswith(m.value)
        and not upper[len(m.value) : len(m.value) + 1].isalnum()
    ]
    if not matches:
        return unknown, stripped
    best = max(matches, key=lambda m: len(m.value))
    return best, body[len(best.value) :].lstrip("_: ").strip()


def parse_order_status(text: str) -> tuple[VenueOrderStatus, str]:
    return _split_status(text, VenueOrderStatus, VenueOrderStatus.UNKNOWN, "ORDER_STATUS_")


def parse_trade_status(text: str) -> tuple[TradeStatus, str]:
    return _split_status(text, TradeStatus, TradeStatus.UNKNOWN, "TRADE_STATUS_")


# Values below this are seconds since the epoch, above it milliseconds (1e11 s is year 5138).
_MS_THRESHOLD = 100_000_000_000


def to_epoch_ms(value: str | int | None, what: str) -> int | None:
    """Seconds or milliseconds since the epoch (string or int) -> milliseconds; 0/empty -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise MalformedMessage(f"{what}: not a timestamp: {value!r}")
        value = int(text)
    if value <= 0:
        return None
    return value if value >= _MS_THRESHOLD else value * 1000


def _decimal(value: str | int, what: str, *, empty_is_zero: bool = False) -> Decimal:
    text = str(value).strip()
    if text == "" and empty_is_zero:
        return Decimal(0)
    try:
        result = Decimal(text)
    except InvalidOperation:
        raise MalformedMessage(f"{what}: not a number: {value!r}") from None
    if not result.is_finite() or result < 0:
        raise MalformedMessage(f"{what}: not a non-negative number: {value!r}")
    return result


def _side(value: str, what: str) -> Side:
    try:
        return Side(value.strip().upper())
    except ValueError:
        raise MalformedMessage(f"{what}: side must be BUY or SELL, got {value!r}") from None


def _bps(value: str | int, what: str) -> int:
    number = _decimal(value, what, empty_is_zero=True)
    if number != number.to_integral_value():
        raise MalformedMessage(f"{what}: fee_rate_bps is not whole: {value!r}")
    return int(number)


# --- wire structs ----------------------------------------------------------------------------

_Num = str | int  # the venue sends decimal strings; tolerate integers


class WireOrderEvent(msgspec.Struct, tag_field="event_type", tag="order"):
    id: str
    market: str
    asset_id: str
    side: str
    price: _Num
    original_size: _Num
    status: str
    type: str = ""
    size_matched: _Num = ""
    outcome: str = ""
    owner: str = ""
    order_owner: str = ""
    maker_address: str = ""
    order_type: str = ""
    associate_trades: list[str] | None = None
    created_at: _Num = ""
    expiration: _Num = ""
    timestamp: _Num = ""


class WireMakerOrder(msgspec.Struct):
    order_id: str
    asset_id: str
    price: _Num
    matched_amount: _Num
    owner: str = ""
    maker_address: str = ""
    outcome: str = ""
    fee_rate_bps: _Num = ""
    side: str | None = None


class _WireTradeFields(msgspec.Struct):
    id: str
    market: str
    asset_id: str
    side: str
    price: _Num
    size: _Num
    status: str
    taker_order_id: str = ""
    fee_rate_bps: _Num = ""
    match_time: _Num = ""
    last_update: _Num = ""
    outcome: str = ""
    owner: str = ""
    trade_owner: str = ""
    maker_address: str = ""
    transaction_hash: str = ""
    bucket_index: int = 0
    trader_side: str = ""
    maker_orders: list[WireMakerOrder] = []
    timestamp: _Num = ""
    match_time_nano: _Num = ""
    err_msg: str | None = None


class WireTradeEvent(_WireTradeFields, tag_field="event_type", tag="trade"):
    type: str = ""


class WireRestTrade(_WireTradeFields):
    """An item of ``GET /data/trades`` ``data[]`` (no ``event_type``)."""


# --- typed objects ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserOrderEvent:
    order_id: str
    market: str  # condition id
    asset_id: str  # token id
    side: Side
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    status: VenueOrderStatus
    reason: str  # the text after a known status, e.g. the FOK kill explanation
    status_text: str  # the status exactly as sent
    event_type: OrderEventType | None  # None when the venue sent an unknown type
    order_type: str  # GTC, GTD, FOK, FAK
    outcome: str
    owner: str  # API key that owns the order
    maker_address: str
    associate_trades: tuple[str, ...]
    created_at_ms: int | None
    expiration_ms: int | None
    timestamp_ms: int | None

    @property
    def remaining(self) -> Decimal:
        return max(self.original_size - self.size_matched, Decimal(0))

    @property
    def is_fok_kill(self) -> bool:
        return self.status is VenueOrderStatus.CANCELED and "fully filled or killed" in self.reason


@dataclass(frozen=True, slots=True)
class MakerFill:
    order_id: str
    asset_id: str  # may be the other token of the market than the taker's
    side: Side
    price: Decimal
    size: Decimal  # matched_amount
    outcome: str
    owner: str
    maker_address: str
    fee_rate_bps: int
    side_derived: bool  # True when the venue omitted ``side`` and it was derived


@dataclass(frozen=True, slots=True)
class OwnFill:
    """One of our orders' part of a trade."""

    order_id: str
    asset_id: str
    side: Side
    price: Decimal
    size: Decimal
    liquidity: Liquidity


@dataclass(frozen=True, slots=True)
class UserTrade:
    trade_id: str  # re-sent with the same id on every status change
    market: str
    asset_id: str  # the taker's token
    side: Side  # the taker's side
    price: Decimal  # the taker's price
    size: Decimal  # the taker's size
    status: TradeStatus
    reason: str
    status_text: str
    taker_order_id: str
    trader_side: Liquidity | None  # whether the receiving user was the taker or a maker
    fee_rate_bps: int
    outcome: str
    owner: str
    trade_owner: str
    maker_address: str
    transaction_hash: str
    bucket_index: int
    maker_orders: tuple[MakerFill, ...]
    match_time_ms: int | None
    last_update_ms: int | None
    timestamp_ms: int | None
    err_msg: str = ""

    def own_fills(self, order_ids: Container[str]) -> tuple[OwnFill, ...]:
        """Our fills in this trade: the taker order and/or maker orders whose id we own."""
        fills: list[OwnFill] = []
        if self.taker_order_id in order_ids:
            fills.append(
                OwnFill(
                    self.taker_order_id, self.asset_id, self.side, self.price, self.size, "TAKER"
                )
            )
        fills.extend(
            OwnFill(m.order_id, m.asset_id, m.side, m.price, m.size, "MAKER")
            for m in self.maker_orders
            if m.order_id in order_ids
        )
        return tuple(fills)


# --- conversion ------------------------------------------------------------------------------


def order_event_from_wire(wire: WireOrderEvent) -> UserOrderEvent:
    ctx = f"user order event {wire.id}"
    status, reason = parse_order_status(wire.status)
    try:
        event_type: OrderEventType | None = OrderEventType(wire.type.strip().upper())
    except ValueError:
        event_type = None
    return UserOrderEvent(
        order_id=wire.id,
        market=wire.market,
        asset_id=wire.asset_id,
        side=_side(wire.side, ctx),
        price=_decimal(wire.price, f"{ctx}: price"),
        original_size=_decimal(wire.original_size, f"{ctx}: original_size"),
        size_matched=_decimal(wire.size_matched, f"{ctx}: size_matched", empty_is_zero=True),
        status=status,
        reason=reason,
        status_text=wire.status,
        event_type=event_type,
        order_type=wire.order_type.strip().upper(),
        outcome=wire.outcome,
        owner=wire.owner or wire.order_owner,
        maker_address=wire.maker_address,
        associate_trades=tuple(wire.associate_trades or ()),
        created_at_ms=to_epoch_ms(wire.created_at, f"{ctx}: created_at"),
        expiration_ms=to_epoch_ms(wire.expiration, f"{ctx}: expiration"),
        timestamp_ms=to_epoch_ms(wire.timestamp, f"{ctx}: timestamp"),
    )


def _maker_fill(wire: WireMakerOrder, taker_asset: str, taker_side: Side, ctx: str) -> MakerFill:
    ctx = f"{ctx}: maker order {wire.order_id}"
    if wire.side:
        side, derived = _side(wire.side, ctx), False
    else:
        # Same token: the maker took the other side. Other token: a complementary match, where
        # both sides buy (mint) or both sell (merge).
        side = taker_side.opposite if wire.asset_id == taker_asset else taker_side
        derived = True
    return MakerFill(
        order_id=wire.order_id,
        asset_id=wire.asset_id,
        side=side,
        price=_decimal(wire.price, f"{ctx}: price"),
        size=_decimal(wire.matched_amount, f"{ctx}: matched_amount"),
        outcome=wire.outcome,
        owner=wire.owner,
        maker_address=wire.maker_address,
        fee_rate_bps=_bps(wire.fee_rate_bps, f"{ctx}: fee_rate_bps"),
        side_derived=derived,
    )


def trade_from_wire(wire: _WireTradeFields) -> UserTrade:
    ctx = f"user trade {wire.id}"
    status, reason = parse_trade_status(wire.status)
    side = _side(wire.side, ctx)
    trader_side = wire.trader_side.strip().upper()
    return UserTrade(
        trade_id=wire.id,
        market=wire.market,
        asset_id=wire.asset_id,
        side=side,
        price=_decimal(wire.price, f"{ctx}: price"),
        size=_decimal(wire.size, f"{ctx}: size"),
        status=status,
        reason=reason,
        status_text=wire.status,
        taker_order_id=wire.taker_order_id,
        trader_side="TAKER"
        if trader_side == "TAKER"
        else "MAKER"
        if trader_side == "MAKER"
        else None,
        fee_rate_bps=_bps(wire.fee_rate_bps, f"{ctx}: fee_rate_bps"),
        outcome=wire.outcome,
        owner=wire.owner,
        trade_owner=wire.trade_owner,
        maker_address=wire.maker_address,
        transaction_hash=wire.transaction_hash,
        bucket_index=wire.bucket_index,
        maker_orders=tuple(_maker_fill(m, wire.asset_id, side, ctx) for m in wire.maker_orders),
        match_time_ms=to_epoch_ms(wire.match_time, f"{ctx}: match_time"),
        last_update_ms=to_epoch_ms(wire.last_update, f"{ctx}: last_update"),
        timestamp_ms=to_epoch_ms(wire.timestamp, f"{ctx}: timestamp"),
        err_msg=wire.err_msg or "",
    )


UserEvent = UserOrderEvent | UserTrade

_ORDER_DECODER = msgspec.json.Decoder(WireOrderEvent)
_TRADE_DECODER = msgspec.json.Decoder(WireTradeEvent)
_REST_TRADE_DECODER = msgspec.json.Decoder(WireRestTrade)


_ORDER_TYPES = frozenset(t.value for t in OrderEventType)


def _event_type(item: object) -> str | None:
    """``event_type``, or (for objects that lack it, as some recorded ones do) the kind implied
    by ``type``: PLACEMENT/UPDATE/CANCELLATION are orders, TRADE is a trade."""
    if not isinstance(item, dict):
        return None
    event_type = item.get("event_type")
    if isinstance(event_type, str):
        return event_type
    kind = item.get("type")
    if isinstance(kind, str):
        if kind.upper() in _ORDER_TYPES:
            return "order"
        if kind.upper() == "TRADE":
            return "trade"
    return None


def parse_user_message(raw: str | bytes) -> list[UserEvent]:
    """Decode one user-channel frame (an object, an array of them, or ``PONG``).

    Events of other types are ignored (logged at debug); a malformed ``order``/``trade`` event
    raises ``MalformedMessage`` naming the problem: the caller counts it and carries on.
    """
    text = raw.decode() if isinstance(raw, bytes) else raw
    stripped = text.strip()
    if stripped in ("PONG", "PING", ""):
        return []
    try:
        items = msgspec.json.decode(stripped)
    except msgspec.DecodeError:
        raise MalformedMessage(f"user channel: not JSON: {stripped[:80]!r}") from None
    if not isinstance(items, list):
        items = [items]
    events: list[UserEvent] = []
    for item in items:
        event_type = _event_type(item)
        try:
            if event_type == "order":
                events.append(order_event_from_wire(msgspec.convert(item, WireOrderEvent)))
            elif event_type == "trade":
                events.append(trade_from_wire(msgspec.convert(item, WireTradeEvent)))
            else:
                log.debug("user_event_ignored", event_type=event_type)
        except msgspec.ValidationError as exc:
            raise MalformedMessage(f"user channel {event_type} event: {exc}") from None
    return events


def parse_order_event(raw: str | bytes) -> UserOrderEvent:
    """Decode one ``order`` event object."""
    return order_event_from_wire(_decode(_ORDER_DECODER, raw, "order event"))


def parse_trade_event(raw: str | bytes) -> UserTrade:
    """Decode one ``trade`` event object."""
    return trade_from_wire(_decode(_TRADE_DECODER, raw, "trade event"))


def parse_rest_trade(raw: str | bytes | Mapping[str, object]) -> UserTrade:
    """Decode one ``GET /data/trades`` item (statuses prefixed ``TRADE_STATUS_``), as JSON text
    or as an already decoded object (an item of a page's ``data``)."""
    if isinstance(raw, Mapping):
        try:
            wire = msgspec.convert(raw, WireRestTrade)
        except msgspec.ValidationError as exc:
            raise MalformedMessage(f"/data/trades item: {exc}") from None
    else:
        wire = _decode(_REST_TRADE_DECODER, raw, "/data/trades item")
    return trade_from_wire(wire)


def _decode(decoder: msgspec.json.Decoder[_T], raw: str | bytes, what: str) -> _T:
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise MalformedMessage(f"{what}: {exc}") from None
    except msgspec.DecodeError:
        raise MalformedMessage(f"{what}: not JSON") from None
