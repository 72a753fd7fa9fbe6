"""The local mirror of the venue's order books, fed frame by frame (live WebSocket or replay).

``BookStore.on_frame`` decodes a frame and applies it to the domain ``OrderBook`` of each token:

- ``book`` replaces both sides (wire order is best LAST; the book sorts). A token unknown to the
  store gets its book on its first snapshot.
- ``price_change`` entries set absolute level sizes ("0" removes) on the entry's own asset: BUY is
  a bid level, SELL an ask level. A token with no snapshot yet is counted, not updated.
- ``tick_size_change`` clears the book (stale) until a fresh snapshot; the listener refetches.

Ordering: arrival order is the truth. One connection delivers the venue's messages in the
venue's order; the channel has no sequence numbers and its venue timestamps (ms) are labels that
need not rise from message to message. So every message is applied in the order it arrives,
whatever its timestamp; a timestamp older than the book's previous one is only counted
(``ts_backwards``). Timestamps arbitrate only between a REST snapshot and the stream, in the feed
(see ``feed.MarketFeed._replace_from_rest``). Duplicates are harmless because sizes are absolute.

Malformed input never raises: it is counted, sampled to the log, and a book it should have
updated is marked stale (its state is no longer known), as is one whose snapshot was malformed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from polyarb.domain.book import BookSide, OrderBook, Side
from polyarb.domain.numbers import parse_price, parse_size
from polyarb.marketdata.decoder import FrameDecoder, decode_objects
from polyarb.marketdata.schemas import (
    MESSAGE_TYPES,
    BestBidAsk,
    Book,
    LastTradePrice,
    MarketMessage,
    MarketResolved,
    NewMarket,
    PriceChange,
    TickSizeChange,
)

log = structlog.get_logger(__name__)


class FeedListener(Protocol):
    """Callbacks for the events that are not book levels (see NullListener for defaults)."""

    def on_trade(self, token_id: str, price: int, size: int, side: Side, ts_event_ms: int) -> None:
        """A trade printed; ``side`` is the taker's."""

    def on_resolved(self, market: str, winning_token_id: str, winning_outcome: str) -> None:
        """A market resolved (its books are marked stale)."""

    def on_tick_size_change(self, token_id: str, new_tick: int) -> None:
        """The tick size changed; the book was cleared and the caller should refetch it."""

    def on_new_market(self, raw: dict[str, object]) -> None:
        """A market was created (the raw event object, every field)."""


class NullListener:
    """A FeedListener that ignores everything; subclass it and override what you need."""

    def on_trade(self, token_id: str, price: int, size: int, side: Side, ts_event_ms: int) -> None:
        return None

    def on_resolved(self, market: str, winning_token_id: str, winning_outcome: str) -> None:
        return None

    def on_tick_size_change(self, token_id: str, new_tick: int) -> None:
        return None

    def on_new_market(self, raw: dict[str, object]) -> None:
        return None


@dataclass
class FeedStats:
    """Counters of one BookStore (all ints)."""

    frames: int = 0
    events: int = 0  # messages decoded (an array frame holds several)
    events_by_type: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MESSAGE_TYPES, 0))
    malformed: int = 0  # messages (or frames) that could not be used
    unknown: int = 0  # messages with an unknown event_type
    # Messages whose venue timestamp is older than the previous one applied to the same book:
    # applied all the same (arrival order is the truth), counted as a feed statistic.
    ts_backwards: int = 0
    pongs: int = 0
    book_events: int = 0  # snapshots applied + price_change level updates applied
    no_book: int = 0  # price_change entries for a token without a current snapshot
    listener_errors: int = 0


class _Track:
    """What the store keeps beside one book (its sides, for the hot path)."""

    __slots__ = ("asks", "bids", "book")

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self.bids: BookSide = book.bids
        self.asks: BookSide = book.asks


class BookStore:
    """Token id -> OrderBook, kept current from market-channel frames."""

    def __init__(self, listener: FeedListener | None = None) -> None:
        self.books: dict[str, OrderBook] = {}
        self.stats = FeedStats()
        self.listener = listener
        self._tracks: dict[str, _Track] = {}
        # The tracks whose book has a snapshot that deltas may update (not before the first
        # snapshot, nor between a tick size change and the next snapshot).
        self._live: dict[str, _Track] = {}
        self._prices: dict[str, int] = {}  # wire price text -> 1e-4 units (see _parse_price)
        self._decoder = FrameDecoder(self.stats)

    # ------------------------------------------------------------------ registration / state

    def register(self, token_id: str, market: str = "", tick: int = 100) -> None:
        """Create the (stale, empty) book of a token ahead of its first snapshot."""
        track = self._tracks.get(token_id)
        if track is None:
            self._track(token_id, market, tick)
        elif market:
            track.book.market = market

    def mark_stale(self, token_ids: Iterable[str] | None = None) -> None:
        """Mark books stale (None = all), e.g. on disconnect, until their next snapshot."""
        tracks = self._tracks
        ids = list(tracks) if token_ids is None else token_ids
        for token_id in ids:
            track = tracks.get(token_id)
            if track is not None:
                track.book.invalidate()

    def apply_snapshot(
        self,
        token_id: str,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        ts_event_ms: int,
        recv_ns: int,
        *,
        market: str = "",
        book_hash: str = "",
    ) -> None:
        """Apply a snapshot obtained elsewhere (REST ``/book``) now. Whether it is newer than the
        stream is the caller's decision (the feed buffers the stream while it fetches)."""
        track = self._tracks.get(token_id) or self._track(token_id, market, 100)
        self._snapshot(track, list(bids), list(asks), ts_event_ms, recv_ns)
        if market:
            track.book.market = market
        track.book.hash = book_hash

    # ------------------------------------------------------------------ the feed

    def on_frame(self, raw: str | bytes, recv_ns: int) -> set[str]:
        """Decode one frame and apply it; returns the token ids whose book changed."""
        stats = self.stats
        stats.frames += 1
        changed: set[str] = set()
        messages = self._decoder.decode(raw)
        by_type = stats.events_by_type
        new_markets = False
        for message in messages:
            stats.events += 1
            kind = type(message)
            if kind is PriceChange:
                by_type["price_change"] += 1
                self._on_price_change(message, recv_ns, changed)  # type: ignore[arg-type]
            elif kind is Book:
                by_type["book"] += 1
                self._on_book(message, recv_ns, changed)  # type: ignore[arg-type]
            elif kind is NewMarket:
                by_type["new_market"] += 1
                new_markets = True
            else:
                self._on_other(message, recv_ns, changed)
        if new_markets and self.listener is not None:
            # Listeners get the raw objects with every field, which the typed message drops.
            for obj in decode_objects(raw, "new_market"):
                self._notify("on_new_market", obj)
        return changed

    def _track(self, token_id: str, market: str, tick: int) -> _Track:
        book = OrderBook(token_id, market, tick)
        track = _Track(book)
        self._tracks[token_id] = track
        self.books[token_id] = book
        return track

    def _on_price_change(self, message: PriceChange, recv_ns: int, changed: set[str]) -> None:
        # The hot path: everything is a local, prices come from a memo, sides are chosen once.
        try:
            ts = int(message.timestamp)
            entries = message.price_changes
            if entries is None:
                entries = message.entries()
        except ValueError as exc:
            # Every book it would have touched missed an update.
            assets = [e.asset_id for e in message.price_changes or ()] + [message.asset_id or ""]
            self._malformed(f"price_change: {exc}", message, assets, changed)
            return
        live = self._live
        prices = self._prices
        skipped = 0
        backwards = False
        bad = ""
        # The venue emits a level change for both tokens of a market with the same size text
        # (the mirror at 1 - p), so remembering the last size parsed halves the parsing.
        size_text = ""
        size = 0
        for entry in entries:
            asset = entry.asset_id
            track = live.get(asset)
            if track is None:
                self.stats.no_book += 1
                skipped += 1
                continue
            try:
                price = prices.get(entry.price)
                if price is None:
                    price = self._parse_price(entry.price)
                if entry.size != size_text:
                    size = parse_size(entry.size)
                    size_text = entry.size
            except ValueError as exc:
                # This book's state is now unknown; the other entries are still good.
                bad = f"price_change level: {exc}"
                track.book.invalidate()
                changed.add(asset)
                skipped += 1
                continue
            book = track.book
            # Arrival order is the truth: applied whatever its timestamp, which is only counted.
            if ts < book.ts_event_ms:
                backwards = True
            book.ts_event_ms = ts
            (track.bids if entry.side == "BUY" else track.asks).set(price, size)
            book.ts_recv_ns = recv_ns
            changed.add(asset)
        self.stats.book_events += len(entries) - skipped
        if backwards:
            self.stats.ts_backwards += 1
        if bad:
            self._malformed(bad, message, (), changed)

    def _parse_price(self, text: str) -> int:
        """parse_price, memoised per store (valid prices only; a bounded set of spellings)."""
        price = parse_price(text)
        if len(self._prices) < 50_000:
            self._prices[text] = price
        return price

    def _on_book(self, message: Book, recv_ns: int, changed: set[str]) -> None:
        asset = message.asset_id
        try:
            ts = int(message.timestamp)
            bids = [(parse_price(level.price), parse_size(level.size)) for level in message.bids]
            asks = [(parse_price(level.price), parse_size(level.size)) for level in message.asks]
            tick = parse_price(message.tick_size) if message.tick_size else 0
            last = parse_price(message.last_trade_price) if message.last_trade_price else None
        except ValueError as exc:
            self._malformed(f"book: {exc}", message, (asset,), changed)
            return
        track = self._tracks.get(asset) or self._track(asset, message.market, tick or 100)
        self._snapshot(track, bids, asks, ts, recv_ns)
        book = track.book
        book.hash = message.hash
        if message.market:
            book.market = message.market
        if tick:
            book.tick = tick
        if last is not None:
            book.last_trade_price = last
        changed.add(asset)

    def _snapshot(
        self,
        track: _Track,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        ts: int,
        recv_ns: int,
    ) -> None:
        book = track.book
        if ts < book.ts_event_ms:
            self.stats.ts_backwards += 1
        book.apply_snapshot(bids, asks, ts, recv_ns)
        self._live[track.book.token_id] = track
        self.stats.book_events += 1

    def _on_other(self, message: MarketMessage, recv_ns: int, changed: set[str]) -> None:
        by_type = self.stats.events_by_type
        if isinstance(message, TickSizeChange):
            by_type["tick_size_change"] += 1
            self._on_tick_size_change(message, recv_ns, changed)
        elif isinstance(message, LastTradePrice):
            by_type["last_trade_price"] += 1
            self._on_trade(message)
        elif isinstance(message, BestBidAsk):
            by_type["best_bid_ask"] += 1  # the full book already says this
        elif isinstance(message, MarketResolved):
            by_type["market_resolved"] += 1
            self._on_resolved(message, changed)

    def _on_tick_size_change(
        self, message: TickSizeChange, recv_ns: int, changed: set[str]
    ) -> None:
        asset = message.asset_id
        try:
            ts = int(message.timestamp)
            new_tick = parse_price(message.new_tick_size)
            if new_tick <= 0:
                raise ValueError(f"tick size {message.new_tick_size!r}")
        except ValueError as exc:
            self._malformed(f"tick_size_change: {exc}", message, (asset,), changed)
            return
        track = self._tracks.get(asset)
        if track is not None:
            book = track.book
            if ts < book.ts_event_ms:
                self.stats.ts_backwards += 1
            book.clear()
            book.tick = new_tick
            book.ts_event_ms = ts
            book.ts_recv_ns = recv_ns
            self._live.pop(asset, None)
            changed.add(asset)
        self._notify("on_tick_size_change", asset, new_tick)

    def _on_trade(self, message: LastTradePrice) -> None:
        try:
            price = parse_price(message.price)
            size = parse_size(message.size)
            ts = int(message.timestamp)
        except ValueError as exc:
            self._malformed(f"last_trade_price: {exc}", message, (), set())
            return
        track = self._tracks.get(message.asset_id)
        if track is not None:
            track.book.last_trade_price = price
        self._notify("on_trade", message.asset_id, price, size, Side(message.side), ts)

    def _on_resolved(self, message: MarketResolved, changed: set[str]) -> None:
        # A resolved market's books say nothing about value any more: never trade on them.
        tokens = {*message.assets_ids, message.winning_asset_id}
        for token_id in tokens:
            track = self._tracks.get(token_id)
            if track is not None:
                track.book.invalidate()
                changed.add(token_id)
        self._notify(
            "on_resolved", message.market, message.winning_asset_id, message.winning_outcome
        )

    def _notify(self, method: str, *args: object) -> None:
        if self.listener is None:
            return
        try:
            getattr(self.listener, method)(*args)
        except Exception:
            # A listener bug must not stop the feed; it is counted and logged in full.
            self.stats.listener_errors += 1
            log.exception("feed listener failed", callback=method)

    def _malformed(
        self, reason: str, message: MarketMessage, token_ids: Iterable[str], changed: set[str]
    ) -> None:
        """Count and sample a message we cannot use; the books it was about become stale."""
        self._decoder.report_malformed(reason, message)
        for token_id in token_ids:
            track = self._tracks.get(token_id)
            if track is not None:
                track.book.invalidate()
                changed.add(token_id)
