"""User-channel order/trade events and /data/trades items: one test per fixture file, plus the
free-text statuses, timestamp units and malformed input."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyarb.domain.book import Side
from polyarb.domain.errors import MalformedMessage
from polyarb.execution.user_schemas import (
    OrderEventType,
    TradeStatus,
    UserOrderEvent,
    UserTrade,
    VenueOrderStatus,
    parse_order_event,
    parse_order_status,
    parse_rest_trade,
    parse_trade_event,
    parse_trade_status,
    parse_user_message,
    to_epoch_ms,
)

POLY = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"
YES = "21742633143463906290569050155826241533067272736897614950488156847949938836455"
NO = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
MARKET = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"


def raw(name: str) -> bytes:
    return (POLY / "ws" / name).read_bytes()


def order(name: str) -> UserOrderEvent:
    [event] = parse_user_message(raw(name))
    assert isinstance(event, UserOrderEvent)
    assert parse_order_event(raw(name)) == event  # the single-event entry point agrees
    return event


def trade(name: str) -> UserTrade:
    [event] = parse_user_message(raw(name))
    assert isinstance(event, UserTrade)
    assert parse_trade_event(raw(name)) == event
    return event


# --- order events ----------------------------------------------------------------------------


def test_order_placement_live() -> None:
    o = order("user_order_placement_live.json")
    assert o.order_id == "0x0f76f4dc6eaf3332f4100f2e8a0b4a927351dd64646b7bb12f37df775c657a78"
    assert (o.market, o.asset_id) == (MARKET, YES)
    assert o.event_type is OrderEventType.PLACEMENT
    assert o.status is VenueOrderStatus.LIVE
    assert o.side is Side.BUY
    assert o.price == Decimal("0.513")
    assert o.original_size == Decimal(5)
    assert o.size_matched == Decimal(0)
    assert o.remaining == Decimal(5)
    assert o.order_type == "GTC"
    assert o.outcome == "Yes"
    assert o.owner == "3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe"
    assert o.created_at_ms == 1725842520000  # seconds on the wire
    assert o.timestamp_ms == 1725842520990  # milliseconds on the wire
    assert o.expiration_ms is None  # "0" = no expiry
    assert o.associate_trades == ()  # null on the wire


def test_order_cancellation_canceled() -> None:
    o = order("user_order_cancellation_canceled.json")
    assert o.event_type is OrderEventType.CANCELLATION
    assert o.status is VenueOrderStatus.CANCELED
    assert o.reason == ""
    assert o.side is Side.SELL
    assert o.size_matched == Decimal(5)
    assert o.remaining == 0
    assert not o.is_fok_kill


def test_order_fok_killed() -> None:
    o = order("user_order_cancellation_fok_killed_sanitized.json")
    assert o.status is VenueOrderStatus.CANCELED
    assert o.reason == "order couldn't be fully filled. FOK orders are fully filled or killed."
    assert o.status_text.startswith("CANCELED_order couldn't")
    assert o.is_fok_kill
    assert o.order_type == "FOK"
    assert o.size_matched == Decimal(0)  # "" on the wire
    assert o.created_at_ms is None  # "" on the wire
    assert o.outcome == ""
    assert o.timestamp_ms == 1777824065000


def test_order_venue_invalid() -> None:
    # this recorded object has no event_type: its type CANCELLATION says it is an order event
    o = order("user_order_cancellation_invalid_sanitized.json")
    assert o.status is VenueOrderStatus.INVALID
    assert o.event_type is OrderEventType.CANCELLATION
    assert o.created_at_ms == 1774377384000  # already milliseconds here
    assert o.price == Decimal("0.53")
    assert o.original_size == Decimal(20)
    assert o.asset_id == (
        "71321045679252212594626385532706912750332728571942532289631379312455583992563"
    )


# --- trade events ----------------------------------------------------------------------------


def test_trade_taker_matched() -> None:
    t = trade("user_trade_taker_matched.json")
    assert t.trade_id == "f50e8ab2-652d-4dc8-9c82-8e46197fe98d"
    assert t.status is TradeStatus.MATCHED
    assert not t.status.is_terminal
    assert t.trader_side == "TAKER"
    assert (t.side, t.price, t.size, t.asset_id) == (Side.BUY, Decimal("0.52"), Decimal(5), YES)
    assert t.match_time_ms == 1725958681000
    assert t.last_update_ms == 1725958682000
    assert t.timestamp_ms == 1725958682125
    [maker] = t.maker_orders
    assert maker.side is Side.SELL
    assert maker.side_derived
    taker_id = "0x5b605a0e8e40f3402d3cb3bc19edad6733ed23fbc079d2a09ee399c3487ace81"
    [fill] = t.own_fills({taker_id})
    assert (fill.liquidity, fill.side, fill.size, fill.price) == (
        "TAKER",
        Side.BUY,
        Decimal(5),
        Decimal("0.52"),
    )


def test_trade_taker_matched_multi_maker_cross_outcome() -> None:
    t = trade("user_trade_taker_matched_multi_maker.json")
    assert t.status is TradeStatus.MINED
    assert len(t.maker_orders) == 6
    no_maker = t.maker_orders[0]
    # a BUY YES taker matched a BUY NO maker (mint): other token, same side, price 1 - 0.518
    assert no_maker.asset_id == NO
    assert no_maker.outcome == "No"
    assert no_maker.side is Side.BUY
    assert no_maker.price == Decimal("0.482")
    assert all(m.side is Side.SELL for m in t.maker_orders[1:])
    assert sum(m.size for m in t.maker_orders) == t.size == Decimal("1096.87")
    mine = "0xab679e56242324e15e59cfd488cd0f12e4fd71b153b9bfb57518898b9983145e"
    [fill] = t.own_fills({mine})
    assert (fill.liquidity, fill.asset_id, fill.size, fill.price) == (
        "MAKER",
        YES,
        Decimal(5),
        Decimal("0.518"),
    )


def test_trade_maker_confirmed_seconds_timestamp() -> None:
    t = trade("user_trade_maker_confirmed.json")
    assert t.status is TradeStatus.CONFIRMED
    assert t.status.is_terminal
    assert t.trader_side == "MAKER"
    assert t.timestamp_ms == 1762776436000  # seconds in this recording
    [maker] = t.maker_orders
    assert maker.side is Side.BUY
    assert not maker.side_derived
    assert maker.fee_rate_bps == 0


def test_trade_maker_confirmed_multi_fill() -> None:
    t = trade("user_trade_maker_confirmed_multi_fill.json")
    assert [m.price for m in t.maker_orders] == [Decimal("0.4"), Decimal("0.35"), Decimal("0.3")]
    ours = {
        "0x3ad09f225ebe141dfbdb3824f31cb457e8e0301ca4e0a06311e543f5328b9dea",
        "0x67b598cab933c71389176573822be763192a35a8c37e49999a11d611a5882e7d",
    }
    fills = t.own_fills(ours)
    assert [(f.price, f.size, f.liquidity) for f in fills] == [
        (Decimal("0.4"), Decimal(5), "MAKER"),
        (Decimal("0.3"), Decimal(5), "MAKER"),
    ]
    assert t.own_fills(set()) == ()


def test_rest_data_trades_item() -> None:
    text = (POLY / "rest" / "data_trades_item_confirmed.json").read_bytes()
    t = parse_rest_trade(text)
    assert t.trade_id == "0c357886-b9d3-44bb-9aa9-72d8abc90e6e"
    assert t.status is TradeStatus.CONFIRMED
    assert (t.side, t.price, t.size) == (Side.BUY, Decimal("0.489"), Decimal(5))
    assert t.match_time_ms == 1726043102000
    assert t.timestamp_ms is None
    assert t.trader_side == "TAKER"
    assert t.maker_orders[0].side is Side.SELL
    # as an item of a decoded page, with the REST-prefixed status
    item: dict[str, Any] = json.loads(text) | {"status": "TRADE_STATUS_MINED", "err_msg": ""}
    assert parse_rest_trade(item).status is TradeStatus.MINED


# --- statuses, timestamps, frames, errors ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status", "reason"),
    [
        ("TRADE_STATUS_CONFIRMED", TradeStatus.CONFIRMED, ""),
        ("TRADE_STATUS_MATCHED_NOT_BROADCASTED", TradeStatus.MATCHED_NOT_BROADCASTED, ""),
        ("MATCHED", TradeStatus.MATCHED, ""),
        ("RETRYING", TradeStatus.RETRYING, ""),
        ("failed", TradeStatus.FAILED, ""),
        ("SETTLED", TradeStatus.UNKNOWN, "SETTLED"),
    ],
)
def test_trade_status(text: str, status: TradeStatus, reason: str) -> None:
    assert parse_trade_status(text) == (status, reason)


@pytest.mark.parametrize(
    ("text", "status", "reason"),
    [
        ("ORDER_STATUS_LIVE", VenueOrderStatus.LIVE, ""),
        ("CANCELED_market resolved", VenueOrderStatus.CANCELED, "market resolved"),
        ("UNMATCHED", VenueOrderStatus.UNMATCHED, ""),
        ("LIVENESS", VenueOrderStatus.UNKNOWN, "LIVENESS"),  # a prefix needs a word boundary
        ("", VenueOrderStatus.UNKNOWN, ""),
    ],
)
def test_order_status(text: str, status: VenueOrderStatus, reason: str) -> None:
    assert parse_order_status(text) == (status, reason)


def test_epoch_units() -> None:
    assert to_epoch_ms("1725958681", "t") == 1725958681000
    assert to_epoch_ms("1725958682125", "t") == 1725958682125
    assert to_epoch_ms(1725958681, "t") == 1725958681000
    assert to_epoch_ms("0", "t") is None
    assert to_epoch_ms("", "t") is None
    with pytest.raises(MalformedMessage):
        to_epoch_ms("yesterday", "t")


def test_frames_arrays_and_pong() -> None:
    frame = (
        b"["
        + raw("user_order_placement_live.json")
        + b","
        + raw("user_trade_taker_matched.json")
        + b', {"event_type": "something_new"}]'
    )
    events = parse_user_message(frame)
    assert [type(e).__name__ for e in events] == ["UserOrderEvent", "UserTrade"]
    assert parse_user_message("PONG") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"price": "abc"}, "price: not a number"),
        ({"price": "-0.5"}, "price: not a non-negative number"),
        ({"side": "HOLD"}, "side must be BUY or SELL"),
        ({"id": None}, "order event"),
        ({"timestamp": "soon"}, "timestamp"),
    ],
)
def test_malformed_order_event(change: dict[str, object], message: str) -> None:
    data = json.loads(raw("user_order_placement_live.json")) | change
    with pytest.raises(MalformedMessage, match=message):
        parse_user_message(json.dumps(data))


def test_not_json() -> None:
    with pytest.raises(MalformedMessage, match="not JSON"):
        parse_user_message("{oops")
    with pytest.raises(MalformedMessage, match="not JSON"):
        parse_rest_trade(b"{oops")
