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

Integrity: every ``price_change`` entry carries the venue's ``best_bid``/``best_ask`` of its asset
after the change ("0"/"1" or "" for an empty side). After a message is applied, each asset's last
entry in it is compared with the book's best levels (the last one is right whether the venue means
"after this entry" or "after the whole message"). Agreements are counted per book and in total. A
book that disagrees is stale at once (no strategy trades a book the venue just contradicted) and
fresh again if the next message agrees (the live feed can be inconsistent for a message or two);
a disagreement that lasts more than ``max_mismatches`` messages or ``max_mismatch_ms`` is a
failure: a ``BookMismatch`` is recorded for the feed to repair the book and the listener is told
(the engine publishes an error event).

Malformed input never raises: it is counted, sampled to the log, and a book it should have
updated is marked stale (its state is no longer known), as is one whose snapshot was malformed.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from polyarb.domain.book import BookSide, OrderBook, Side
from polyarb.domain.numbers import ONE, parse_price, parse_size, price_str
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
    PriceChangeEntry,
    TickSizeChange,
)

log = structlog.get_logger(__name__)

# Distinct size texts memoised per store (~100 bytes each with the dict's share: ~20 MB at most).
SIZE_MEMO = 200_000


@dataclass(frozen=True)
class BookCheckConfig:
    """How long a book may disagree with the venue's own best_bid/best_ask before it is stale."""

    max_mismatches: int = 2  # consecutive disagreeing messages tolerated (the live feed can
    max_mismatch_ms: int = 500  # be inconsistent for a message or two), and for how long

    def __post_init__(self) -> None:
        if self.max_mismatches < 0 or self.max_mismatch_ms < 0:
            raise ValueError("max_mismatches and max_mismatch_ms must be >= 0")


@dataclass(frozen=True)
class BookMismatch:
    """A book that kept disagreeing with the venue. Prices in 1e-4 units; an empty bid side is
    0 and an empty ask side is ONE, as the venue reports them."""

    token_id: str
    venue_bid: int
    venue_ask: int
    book_bid: int
    book_ask: int
    messages: int  # consecutive disagreeing messages
    elapsed_ms: int  # since the first of them

    def describe(self) -> str:
        return (
            f"book {self.token_id[:16]}… disagrees with the venue for {self.messages} "
            f"message(s) / {self.elapsed_ms} ms: venue best bid/ask "
            f"{_top_text(self.venue_bid, 0)}/{_top_text(self.venue_ask, ONE)}, book held "
            f"{_top_text(self.book_bid, 0)}/{_top_text(self.book_ask, ONE)}"
        )


def _top_text(price: int, empty: int) -> str:
    return "none" if price == empty else price_str(price)


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

    def on_book_mismatch(self, mismatch: BookMismatch) -> None:
        """A book kept disagreeing with the venue's best_bid/best_ask; it is stale now."""


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

    def on_book_mismatch(self, mismatch: BookMismatch) -> None:
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
    book_check_failures: int = 0  # books a lasting disagreement with the venue made stale


@dataclass(frozen=True)
class BookAgreement:
    """Totals of the integrity check: (message, asset) pairs compared, those that agreed, and
    books a lasting disagreement made stale (each one repaired by the feed)."""

    checks: int
    agreed: int
    repairs: int

    def text(self) -> str:
        """``book agreement: 99.998 % (n of m), k repairs``."""
        rate = f"{self.agreed * 100 / self.checks:.3f} %" if self.checks else "n/a"
        return (
            f"book agreement: {rate} ({self.agreed:,} of {self.checks:,}), {self.repairs:,} repairs"
        )


class _Track:
    """What the store keeps beside one book: its sides (for the hot path) and its agreement with
    the venue's best_bid/best_ask."""

    __slots__ = (
        "asks",
        "bids",
        "book",
        "checks",
        "disagreed",
        "mismatch_run",
        "mismatch_since_ns",
        "venue_top",
    )

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self.bids: BookSide = book.bids
        self.asks: BookSide = book.asks
        self.checks = 0  # price_change messages compared with the venue's best bid/ask
        self.disagreed = 0  # of which disagreed (counted apart: agreeing is the hot path)
        self.mismatch_run = 0  # consecutive disagreeing messages
        self.mismatch_since_ns = 0  # receive time of the first of them
        self.venue_top = (0, ONE)  # the venue's (best bid, best ask) in the last of them


class BookStore:
    """Token id -> OrderBook, kept current from market-channel frames."""

    def __init__(
        self, listener: FeedListener | None = None, check: BookCheckConfig | None = None
    ) -> None:
        self.books: dict[str, OrderBook] = {}
        self.stats = FeedStats()
        self.listener = listener
        config = check or BookCheckConfig()
        self._max_mismatches = config.max_mismatches
        self._max_mismatch_ns = config.max_mismatch_ms * 1_000_000
        # Books the check made stale, until their next snapshot: what the feed must repair.
        self.check_failures: dict[str, BookMismatch] = {}
        self._mismatching: dict[str, _Track] = {}  # books disagreeing right now
        self._checking = True  # off while the feed re-applies frames after a REST snapshot
        self._tracks: dict[str, _Track] = {}
        # The tracks whose book has a snapshot that deltas may update (not before the first
        # snapshot, nor between a tick size change and the next snapshot).
        self._live: dict[str, _Track] = {}
        self._prices: dict[str, int] = {}  # wire price text -> 1e-4 units (see _parse_price)
        self._sizes: dict[str, int] = {}  # wire size text -> 1e-6 units (see _parse_size)
        self._decoder = FrameDecoder(self.stats)

    # ------------------------------------------------------------------ registration / state

    def register(self, token_id: str, market: str = "", tick: int = 100) -> None:
        """Create the (stale, empty) book of a token ahead of its first snapshot."""
        track = self._tracks.get(token_id)
        if track is None:
            self._track(token_id, market, tick)
        elif market:
            track.book.market = market

    def agreement(self, token_id: str | None = None) -> BookAgreement:
        """The integrity check's totals, of one book or (None) of all: its price_change messages
        whose venue best_bid/best_ask matched the book right after they were applied."""
        if token_id is not None:
            track = self._tracks.get(token_id)
            tracks = [track] if track is not None else []
        else:
            tracks = list(self._tracks.values())
        checks = sum(t.checks for t in tracks)
        agreed = checks - sum(t.disagreed for t in tracks)
        repairs = self.stats.book_check_failures if token_id is None else 0
        return BookAgreement(checks, agreed, repairs)

    def expire_mismatches(self, now_ns: int) -> set[str]:
        """Fail the books that have disagreed for longer than ``max_mismatch_ms`` with no message
        since (a quiet market); returns them (stale now). Called by the feed's watchdog."""
        failed: set[str] = set()
        for track in list(self._mismatching.values()):
            if now_ns - track.mismatch_since_ns > self._max_mismatch_ns:
                venue_bid, venue_ask = track.venue_top
                book_bid, book_ask = track.bids.edge, track.asks.edge
                self._fail(track, venue_bid, venue_ask, book_bid, book_ask, now_ns, failed)
        return failed

    def apply_again(self, raw: str | bytes, recv_ns: int) -> set[str]:
        """Re-apply messages already received (the feed, after a REST snapshot). They are not
        checked: the first ones may predate the snapshot, so their best_bid/best_ask describe
        an earlier state; the next live message checks the result."""
        self._checking = False
        try:
            return self.on_frame(raw, recv_ns)
        finally:
            self._checking = True
            self.stats.frames -= 1

    def disagreeing_count(self) -> int:
        """Books disagreeing with the venue right now, not yet failed (for the metrics)."""
        return len(self._mismatching)

    def disagreeing(self, token_id: str) -> bool:
        """True while the book disagrees with the venue but not for long enough to be a failure
        (it is stale meanwhile; the check, not the feed, decides whether it needs a repair)."""
        return token_id in self._mismatching

    def mark_stale(self, token_ids: Iterable[str] | None = None) -> None:
        """Mark books stale (None = all), e.g. on disconnect, until their next snapshot."""
        tracks = self._tracks
        ids = list(tracks) if token_ids is None else token_ids
        for token_id in ids:
            track = tracks.get(token_id)
            if track is not None:
                self._invalidate(track)

    def _invalidate(self, track: _Track) -> None:
        """Stale for a reason other than the check: only a snapshot makes it fresh again."""
        track.book.invalidate()
        if track.mismatch_run:
            track.mismatch_run = 0
            self._mismatching.pop(track.book.token_id, None)

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

    def on_frame(
        self, raw: str | bytes, recv_ns: int, connection: AbstractSet[str] | None = None
    ) -> set[str]:
        """Decode one frame and apply it; returns the token ids whose book changed.

        ``connection``: the tokens the connection that received the frame subscribed. A
        ``price_change`` carries the entries of both tokens of a market and reaches the
        subscribers of either; when the two tokens live on different connections, only the
        token's own connection delivers its entries in the venue's order, so the others' copies
        are ignored. None (a replay): every entry applies."""
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
                self._on_price_change(message, recv_ns, changed, connection)  # type: ignore[arg-type]
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

    def _on_price_change(
        self,
        message: PriceChange,
        recv_ns: int,
        changed: set[str],
        connection: AbstractSet[str] | None,
    ) -> None:
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
        if connection is not None:
            entries = [e for e in entries if e.asset_id in connection]
        live = self._live
        prices = self._prices
        skipped = 0
        backwards = False
        bad = ""
        sizes = self._sizes
        track: _Track | None = None
        before: _Track | None = None  # the previous entry's track: the check's second asset
        seen: _Track | None = None  # the books whose timestamps this message has set
        seen_other: _Track | None = None
        for entry in entries:
            asset = entry.asset_id
            before = track
            track = live.get(asset)
            if track is None:
                self.stats.no_book += 1
                skipped += 1
                continue
            try:
                price = prices.get(entry.price)
                if price is None:
                    price = self._parse_price(entry.price)
                size = sizes.get(entry.size)
                if size is None:
                    size = self._parse_size(entry.size)
            except ValueError as exc:
                # This book's state is now unknown; the other entries are still good.
                bad = f"price_change level: {exc}"
                self._invalidate(track)
                changed.add(asset)
                skipped += 1
                continue
            if track is not seen and track is not seen_other:
                # The first entry of this book in the message (its two books alternate):
                # arrival order is the truth, applied whatever its timestamp, only counted.
                seen_other = seen
                seen = track
                book = track.book
                if ts < book.ts_event_ms:
                    backwards = True
                book.ts_event_ms = ts
                book.ts_recv_ns = recv_ns
                changed.add(asset)
            side = track.bids if entry.side == "BUY" else track.asks
            # The usual change, a level that stays but changes size, is one dict write; a
            # level that appears or goes (the best may move) takes BookSide.set.
            levels = side.levels
            if size and price in levels:
                levels[price] = size
            else:
                side.set(price, size)
        self.stats.book_events += len(entries) - skipped
        if backwards:
            self.stats.ts_backwards += 1
        if bad:
            self._malformed(bad, message, (), changed)
        if not entries or not self._checking:
            return
        # The integrity check, on each asset's LAST entry of the message. A message is about
        # one market, so at most two assets (YES and NO): the last entry (``entry``, whose
        # track the loop left in ``track``) and the last one of the other asset: the one before
        # it in the usual mirrored pair (its track is ``before``), else found walking back.
        # The hot path, for an agreeing fresh book: integer compares of the venue's prices
        # (memo lookups of their text) with the book's best levels, one count; no allocation
        # and no lookup of a track the update already found. Anything else takes ``_check``.
        # The two checks are written out: a loop over (track, entry) pairs measured 1.5 % of
        # the book update more (bench/bench_book_check.py), most of this check's budget.
        other = entry
        if before is not None and before is not track:
            other = entries[-2]  # the mirrored pair (tracks are per asset: a different asset)
        elif len(entries) > 1:  # the last two entries are of one asset: walk back to the other
            before = None
            for other in reversed(entries):
                if other.asset_id != entry.asset_id:
                    before = live.get(other.asset_id)
                    break
        if before is not None:
            if (
                prices.get(other.best_bid) == before.bids.edge  # type: ignore[arg-type]
                and prices.get(other.best_ask) == before.asks.edge  # type: ignore[arg-type]
                and not before.book.stale
            ):
                before.checks += 1
            else:
                self._check(before, other, recv_ns, changed)
        if track is not None:
            if (
                prices.get(entry.best_bid) == track.bids.edge  # type: ignore[arg-type]
                and prices.get(entry.best_ask) == track.asks.edge  # type: ignore[arg-type]
                and not track.book.stale
            ):
                track.checks += 1
            else:
                self._check(track, entry, recv_ns, changed)

    def _check(
        self, track: _Track, entry: PriceChangeEntry, recv_ns: int, changed: set[str]
    ) -> None:
        """Compare a book with the venue's best_bid/best_ask of its last entry in a message."""
        book = track.book
        if book.stale and not track.mismatch_run:
            return  # stale for another reason: waiting for a snapshot
        bid_text = entry.best_bid
        ask_text = entry.best_ask
        if bid_text is None and ask_text is None:
            return  # a venue (or the legacy format) that does not send them
        try:
            # "0" bid and "1" ask (or "" / absent) mean an empty side: 0 and ONE, as below.
            venue_bid = self._parse_price(bid_text) if bid_text else 0
            venue_ask = self._parse_price(ask_text) if ask_text else ONE
        except ValueError as exc:
            self._decoder.report_malformed(f"price_change best_bid/best_ask: {exc}", entry)
            return
        book_bid = track.bids.edge  # the best price, or 0 / ONE for an empty side
        book_ask = track.asks.edge
        track.checks += 1
        if venue_bid == book_bid and venue_ask == book_ask:
            if track.mismatch_run:  # a transient disagreement is over
                track.mismatch_run = 0
                self._mismatching.pop(book.token_id, None)
                book.stale = False
            return
        track.disagreed += 1
        track.mismatch_run += 1
        track.venue_top = (venue_bid, venue_ask)
        if track.mismatch_run == 1:
            track.mismatch_since_ns = recv_ns
            self._mismatching[book.token_id] = track
            book.invalidate()  # not traded while the venue contradicts it
        if (
            track.mismatch_run > self._max_mismatches
            or recv_ns - track.mismatch_since_ns > self._max_mismatch_ns
        ):
            self._fail(track, venue_bid, venue_ask, book_bid, book_ask, recv_ns, changed)

    def _fail(
        self,
        track: _Track,
        venue_bid: int,
        venue_ask: int,
        book_bid: int,
        book_ask: int,
        now_ns: int,
        changed: set[str],
    ) -> None:
        """The book kept disagreeing: stale until repaired, recorded, and the listener told."""
        book = track.book
        token_id = book.token_id
        mismatch = BookMismatch(
            token_id,
            venue_bid,
            venue_ask,
            book_bid,
            book_ask,
            track.mismatch_run,
            (now_ns - track.mismatch_since_ns) // 1_000_000,
        )
        track.mismatch_run = 0
        self._mismatching.pop(token_id, None)
        book.invalidate()
        changed.add(token_id)
        self.stats.book_check_failures += 1
        self.check_failures[token_id] = mismatch
        log.warning("book_mismatch", reason=mismatch.describe())
        self._notify("on_book_mismatch", mismatch)

    def _parse_price(self, text: str) -> int:
        """parse_price, memoised per store (valid prices only; a bounded set of spellings)."""
        price = parse_price(text)
        if len(self._prices) < 50_000:
            self._prices[text] = price
        return price

    def _parse_size(self, text: str) -> int:
        """parse_size, memoised per store: each distinct size text is parsed once. Sizes are
        not a small set (any amount of shares), so the memo stops growing at ``SIZE_MEMO``
        texts: the later ones are parsed each time."""
        size = parse_size(text)
        if len(self._sizes) < SIZE_MEMO:
            self._sizes[text] = size
        return size

    def _level(self, price_text: str, size_text: str) -> tuple[int, int]:
        """A snapshot level in integer units, through the memos."""
        price = self._prices.get(price_text)
        if price is None:
            price = self._parse_price(price_text)
        size = self._sizes.get(size_text)
        if size is None:
            size = self._parse_size(size_text)
        return price, size

    def _on_book(self, message: Book, recv_ns: int, changed: set[str]) -> None:
        asset = message.asset_id
        try:
            ts = int(message.timestamp)
            bids = [self._level(level.price, level.size) for level in message.bids]
            asks = [self._level(level.price, level.size) for level in message.asks]
            tick = parse_price(message.tick_size) if message.tick_size else 0
            last = parse_price(message.last_trade_price) if message.last_trade_price else None
        except ValueError as exc:
            self._malformed(f"book: {exc}", message, (asset,), changed)
            return
        track = self._tracks.get(asset) or self._track(asset, message.market, tick or 100)
        book = track.book
        if tick and tick != book.tick:
            book.tick = tick
        self._snapshot(track, bids, asks, ts, recv_ns)
        book.hash = message.hash
        if message.market:
            book.market = message.market
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
        token_id = book.token_id
        self._live[token_id] = track
        self.stats.book_events += 1
        if track.mismatch_run:
            track.mismatch_run = 0
            self._mismatching.pop(token_id, None)
        self.check_failures.pop(token_id, None)

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
            self._invalidate(track)
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
                self._invalidate(track)
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
                self._invalidate(track)
                changed.add(token_id)
