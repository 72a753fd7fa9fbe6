"""The simulated venue's published state: every token's book exactly as its frames describe it.

``SimVenue`` is the only place that turns state changes into market-channel frames, and it applies
each change to its books in the same step. So ``truth(token)`` is, by construction, what a perfect
client holds after every frame emitted so far (stream faults such as duplicates or malformed
frames are added later, on the way out, and carry no state). Frames are returned as ``Frame``
values: the exact text plus the asset ids a subscriber must hold to receive it.

The venue's own state (what REST ``/book`` serves) is the MATCHING book: a binary market's second
token is its first token's book seen from the other side (bids at 1 - the asks, asks at 1 - the
bids), whatever the stream last said about it. A scenario's binary "window" is a torn view on the
wire (the second token's entries held back), never the venue's reality: a client that refreshes
the pair from REST sees one consistent book. A venue replaying a recording serves the recorded
books as they are (``matching=False``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.numbers import ONE, parse_price, parse_size
from polyarb.sim.catalog import Catalog, SimMarket
from polyarb.sim.wire import (
    BookInfo,
    best_ask_text,
    best_bid_text,
    dumps,
    price_text,
    rest_book,
    size_text,
    tick_text,
    ws_book,
)

LevelChange = tuple[str, Side, int, int]  # (token id, side, price, new absolute size)


@dataclass(frozen=True, slots=True)
class Frame:
    """One market-channel frame as sent, and who receives it."""

    text: str
    assets: tuple[str, ...]  # subscribers of any of these receive it
    market: str = ""  # condition id ("" when not about one market)
    ts_ms: int = 0
    kind: str = ""  # event_type ("" for arrays and raw recorded frames)


class SimVenue:
    """Books, catalog and the frame encoder of the simulated CLOB."""

    def __init__(self, catalog: Catalog, *, seed: int = 0, matching: bool = False) -> None:
        self.catalog = catalog
        self.matching = matching  # REST serves a binary market's second token as the mirror
        self.rng = random.Random(seed ^ 0x5EED)  # order hashes and trade ids only
        self.books: dict[str, OrderBook] = {}
        self._last_ts: dict[str, int] = {}  # condition id -> last frame timestamp (ms)
        self.last_trade_side: dict[str, str] = {}  # token id -> taker side of its last trade
        for m in catalog.markets:
            if m.live:
                for tid in m.token_ids:
                    self.books[tid] = OrderBook(tid, m.condition_id, m.tick)

    # --- views ----------------------------------------------------------------------------

    def market_of(self, token_id: str) -> SimMarket | None:
        return self.catalog.by_token.get(token_id)

    def info(self, market: SimMarket) -> BookInfo:
        return BookInfo(market.condition_id, market.tick, market.min_order_size, market.neg_risk)

    def truth(self, token_id: str) -> OrderBook:
        """A copy of the venue's book for ``token_id``; KeyError for a token without a book."""
        source = self.books[token_id]
        copy = OrderBook(source.token_id, source.market, source.tick)
        copy.apply_snapshot(
            source.bids.levels.items(),
            source.asks.levels.items(),
            source.ts_event_ms,
            source.ts_recv_ns,
        )
        copy.last_trade_price = source.last_trade_price
        copy.hash = source.hash
        return copy

    def stamp(self, condition_id: str, now_ms: int) -> int:
        """The next timestamp of a market: wall time, but strictly increasing per market so that
        two frames about the same books are always ordered by their timestamps."""
        ts = max(now_ms, self._last_ts.get(condition_id, 0) + 1)
        self._last_ts[condition_id] = ts
        return ts

    def last_stamp(self, condition_id: str, now_ms: int) -> int:
        return self._last_ts.get(condition_id, now_ms)

    def matching_book(self, token_id: str) -> OrderBook | None:
        """The venue's book of ``token_id``: for a binary market's second token (with
        ``matching``) the mirror of the first token's book, else the published book."""
        book = self.books.get(token_id)
        market = self.catalog.by_token.get(token_id)
        if book is None or market is None or not self.matching:
            return book
        first = market.token_ids[0]
        if len(market.token_ids) != 2 or token_id == first:
            return book
        source = self.books[first]
        mirror = OrderBook(token_id, book.market, book.tick)
        mirror.apply_snapshot(
            [(ONE - p, s) for p, s in source.asks.levels.items()],
            [(ONE - p, s) for p, s in source.bids.levels.items()],
            max(book.ts_event_ms, source.ts_event_ms),
            0,
        )
        mirror.last_trade_price = book.last_trade_price
        return mirror

    def rest_book(self, token_id: str) -> dict[str, Any] | None:
        book = self.matching_book(token_id)
        market = self.catalog.by_token.get(token_id)
        if book is None or market is None:
            return None
        ts = book.ts_event_ms or self.last_stamp(market.condition_id, 0)
        return rest_book(book, self.info(market), ts)

    def snapshot_text(self, token_ids: Iterable[str], now_ms: int) -> str:
        """The subscribe answer: ONE array with a ``book`` per known token ("[]" if none)."""
        books = []
        for tid in token_ids:
            book = self.books.get(tid)
            market = self.catalog.by_token.get(tid)
            if book is None or market is None:
                continue
            ts = self.last_stamp(market.condition_id, now_ms)
            books.append(ws_book(book, self.info(market), ts))
        return dumps(books)

    # --- state changes, each returning the frame that announces it ------------------------

    def set_book(
        self,
        market: SimMarket,
        token_id: str,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        now_ms: int,
    ) -> Frame:
        """Replace a token's levels and announce them with a ``book`` object."""
        ts = self.stamp(market.condition_id, now_ms)
        book = self.books[token_id]
        book.apply_snapshot(bids, asks, ts, 0)
        message = ws_book(book, self.info(market), ts)
        book.hash = str(message["hash"])
        return Frame(dumps(message), (token_id,), market.condition_id, ts, "book")

    def resend_book(self, market: SimMarket, token_id: str, now_ms: int) -> Frame:
        book = self.books[token_id]
        return self.set_book(
            market, token_id, list(book.bids.levels.items()), list(book.asks.levels.items()), now_ms
        )

    def price_change(
        self, market: SimMarket, changes: Sequence[LevelChange], now_ms: int
    ) -> Frame | None:
        """Apply level changes and announce them in ONE ``price_change`` (None if empty).

        ``best_bid``/``best_ask`` of every entry are its asset's top of book after the whole
        message, "0"/"1" for an empty side.
        """
        if not changes:
            return None
        ts = self.stamp(market.condition_id, now_ms)
        books = self.books
        touched: dict[str, OrderBook] = {}
        for token, side, price, size in changes:
            book = books[token]
            (book.bids if side is Side.BUY else book.asks).set(price, size)
            touched[token] = book
        tops = {}
        for token, book in touched.items():
            book.ts_event_ms = ts
            tops[token] = (best_bid_text(book), best_ask_text(book))
        getrandbits = self.rng.getrandbits
        entries = [
            {
                "asset_id": token,
                "price": price_text(price),
                "size": size_text(size),
                "side": side,  # a StrEnum: serialized as its value
                "hash": f"{getrandbits(160):040x}",  # the order that caused the change
                "best_bid": tops[token][0],
                "best_ask": tops[token][1],
            }
            for token, side, price, size in changes
        ]
        message = {
            "market": market.condition_id,
            "price_changes": entries,
            "timestamp": str(ts),
            "event_type": "price_change",
        }
        return Frame(dumps(message), tuple(touched), market.condition_id, ts, "price_change")

    def trade(
        self, market: SimMarket, token_id: str, price: int, size: int, taker: Side, now_ms: int
    ) -> Frame:
        """A ``last_trade_price`` (the level changes of the trade are a separate price_change)."""
        ts = self.stamp(market.condition_id, now_ms)
        self.books[token_id].last_trade_price = price
        self.last_trade_side[token_id] = taker.value
        fee_bps = "0" if not market.fees_enabled else str(int(market.category.fee_rate * 10_000))
        message = {
            "asset_id": token_id,
            "event_type": "last_trade_price",
            "fee_rate_bps": fee_bps,
            "market": market.condition_id,
            "price": price_text(price),
            "side": taker.value,
            "size": size_text(size),
            "timestamp": str(ts),
            "transaction_hash": f"0x{self.rng.getrandbits(256):064x}",
        }
        return Frame(dumps(message), (token_id,), market.condition_id, ts, "last_trade_price")

    def tick_size_change(self, market: SimMarket, new_tick: int, now_ms: int) -> list[Frame]:
        """Change a market's tick: one ``tick_size_change`` per token, then a fresh ``book`` each.

        Levels off the new grid are dropped (a coarser tick cancels them); clients clear the book
        on the change and rebuild it from the snapshot that follows.
        """
        old = market.tick
        market.tick = new_tick
        frames = []
        for tid in market.token_ids:
            ts = self.stamp(market.condition_id, now_ms)
            message = {
                "asset_id": tid,
                "event_type": "tick_size_change",
                "market": market.condition_id,
                "new_tick_size": tick_text(new_tick),
                "old_tick_size": tick_text(old),
                "timestamp": str(ts),
            }
            self.books[tid].tick = new_tick
            frames.append(
                Frame(dumps(message), (tid,), market.condition_id, ts, "tick_size_change")
            )
        for tid in market.token_ids:
            book = self.books[tid]
            bids = [(p, s) for p, s in book.bids.levels.items() if p % new_tick == 0]
            asks = [(p, s) for p, s in book.asks.levels.items() if p % new_tick == 0]
            frames.append(self.set_book(market, tid, bids, asks, now_ms))
        return frames

    # --- recorded frames -----------------------------------------------------------------

    def apply_recorded(self, raw: str) -> Frame:
        """Apply a recorded frame's state to the books and return it for sending verbatim.

        Bad frames are forwarded untouched (they test the client) and change nothing here.
        """
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return Frame(raw, ())
        items = decoded if isinstance(decoded, list) else [decoded]
        assets: list[str] = []
        market = ""
        for item in items:
            if isinstance(item, dict):
                try:
                    market = self._apply_recorded_event(item, assets) or market
                except (KeyError, TypeError, ValueError):
                    continue
        return Frame(raw, tuple(dict.fromkeys(assets)), market)

    def _apply_recorded_event(self, item: dict[str, Any], assets: list[str]) -> str:
        kind = item.get("event_type")
        ts = int(item.get("timestamp") or 0)
        if kind == "book":
            token = str(item["asset_id"])
            assets.append(token)
            book = self.books.get(token)
            if book is not None:
                book.apply_snapshot(_levels(item["bids"]), _levels(item["asks"]), ts, 0)
        elif kind == "price_change":
            for entry in item.get("price_changes") or []:
                token = str(entry["asset_id"])
                assets.append(token)
                book = self.books.get(token)
                if book is not None:
                    side = Side(entry["side"])
                    book.apply_level(
                        side, parse_price(entry["price"]), parse_size(entry["size"]), ts, 0
                    )
        elif kind == "last_trade_price":
            token = str(item["asset_id"])
            assets.append(token)
            book = self.books.get(token)
            if book is not None:
                book.last_trade_price = parse_price(item["price"])
                self.last_trade_side[token] = str(item.get("side", ""))
        elif kind == "tick_size_change":
            token = str(item["asset_id"])
            assets.append(token)
            market = self.catalog.by_token.get(token)
            if market is not None and token in self.books:
                market.tick = self.books[token].tick = parse_price(item["new_tick_size"])
        elif "asset_id" in item:
            assets.append(str(item["asset_id"]))
        return str(item.get("market", ""))


def _levels(raw_levels: Any) -> list[tuple[int, int]]:
    return [(parse_price(lv["price"]), parse_size(lv["size"])) for lv in raw_levels]
