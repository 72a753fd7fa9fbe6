"""The venue's wire text: number formatting and the JSON objects of the market channel and REST.

Everything here renders what the real venue sends (polymarket_protocol.md sections 1 and 3):
prices and sizes as decimal strings without trailing zeros, books best LAST (bids ascending,
asks descending), millisecond timestamps as strings. It is the simulator's own encoder; it shares
nothing with the client's decoder so that tests against the simulator really test the client.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from polyarb.domain.book import OrderBook
from polyarb.domain.numbers import ONE, PRICE_SCALE, SIZE_SCALE

_PRICE_TEXT: list[str] = []


def _render_price(price: int) -> str:
    whole, frac = divmod(price, PRICE_SCALE)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:04d}".rstrip("0")


def price_text(price: int) -> str:
    """1e-4 units -> "0.52" (all 10,001 prices in [0, 1] are pre-rendered)."""
    if 0 <= price <= ONE:
        return _PRICE_TEXT[price]
    return _render_price(price)


_PRICE_TEXT.extend(_render_price(p) for p in range(ONE + 1))


def size_text(size: int) -> str:
    """1e-6 share units -> "219.21" (no trailing zeros, no exponent)."""
    whole, frac = divmod(size, SIZE_SCALE)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:06d}".rstrip("0")


def tick_text(tick: int) -> str:
    return price_text(tick)


def price_number(price: int) -> float:
    """A price or tick as the JSON number some endpoints send (``/tick-size``, Gamma's bestBid).

    The float only ever leaves the process as JSON text: its shortest repr is the exact decimal.
    """
    return float(price_text(price))


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def levels_best_last(book: OrderBook) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(bids ascending, asks descending): the venue's order, best level last on both sides."""
    bid_levels = book.bids.levels
    ask_levels = book.asks.levels
    bids = [{"price": price_text(p), "size": size_text(bid_levels[p])} for p in book.bids.prices]
    asks = [
        {"price": price_text(p), "size": size_text(ask_levels[p])}
        for p in reversed(book.asks.prices)
    ]
    return bids, asks


def summary_hash(summary: dict[str, Any]) -> str:
    """SHA-1 of the compact JSON of a book summary with ``hash`` blanked, in the venue's key order
    (the "server-compatible" order book hash of py-clob-client-v2)."""
    blank = dict(summary)
    blank["hash"] = ""
    return hashlib.sha1(orjson.dumps(blank), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class BookInfo:
    """The per-token facts a book summary carries besides its levels."""

    market: str
    tick: int
    min_order_size: int  # shares
    neg_risk: bool


def rest_book(book: OrderBook, info: BookInfo, ts_ms: int) -> dict[str, Any]:
    """The ``GET /book`` object: key order of the live API, hash computed over it."""
    bids, asks = levels_best_last(book)
    ltp = book.last_trade_price
    summary: dict[str, Any] = {
        "market": info.market,
        "asset_id": book.token_id,
        "timestamp": str(ts_ms),
        "hash": "",
        "bids": bids,
        "asks": asks,
        "min_order_size": str(info.min_order_size),
        "tick_size": tick_text(info.tick),
        "neg_risk": info.neg_risk,
        "last_trade_price": "" if ltp is None else price_text(ltp),
    }
    summary["hash"] = summary_hash(summary)
    return summary


def ws_book(book: OrderBook, info: BookInfo, ts_ms: int) -> dict[str, Any]:
    """The market channel's ``book`` event (sent on subscribe and re-sent after trades)."""
    bids, asks = levels_best_last(book)
    ltp = book.last_trade_price
    message: dict[str, Any] = {
        "event_type": "book",
        "asset_id": book.token_id,
        "market": info.market,
        "bids": bids,
        "asks": asks,
        "timestamp": str(ts_ms),
        "hash": "",
        "tick_size": tick_text(info.tick),
        "last_trade_price": "" if ltp is None else price_text(ltp),
    }
    message["hash"] = summary_hash(message)
    return message


def best_bid_text(book: OrderBook) -> str:
    """Top of book as the venue reports it in ``price_change``: an empty bid side is "0"."""
    prices = book.bids.prices
    return price_text(prices[-1]) if prices else "0"


def best_ask_text(book: OrderBook) -> str:
    """An empty ask side is reported as "1"."""
    prices = book.asks.prices
    return price_text(prices[0]) if prices else "1"
