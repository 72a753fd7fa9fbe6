"""The book against an independent dict model, over random message sequences.

Frames (snapshots with and without a tick size, price changes on or off the tick grid, tick
size changes) go through ``BookStore.on_frame`` as the feed delivers them; a plain dict per side
models what the book must hold. After every frame each book must equal the model in every
public reading: ascending prices and their ends, levels, best-first walks, snapshots, depth,
sweeps and VWAPs, the stale flag, and the venue's best_bid/best_ask (taken from the model)
must always agree with the book.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.numbers import ONE, SIZE_SCALE, price_str
from polyarb.marketdata.books import BookStore

ASSETS = ("1111", "2222")
TICKS = {100: "0.01", 10: "0.001"}


def size_text(size: int) -> str:
    return f"{size // SIZE_SCALE}.{size % SIZE_SCALE:06d}"


@dataclass
class Model:
    """What one book must hold: two dicts, a tick, and whether a snapshot made it live."""

    tick: int = 100
    live: bool = False
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)

    def set(self, side: str, price: int, size: int) -> None:
        levels = self.bids if side == "BUY" else self.asks
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)

    def venue_top(self) -> tuple[str, str]:
        bid = max(self.bids, default=0)
        ask = min(self.asks, default=ONE)
        return price_str(bid), price_str(ask)


def walk(levels: dict[int, int], best_first: list[int], quantity: int) -> tuple[int, int, int]:
    """(filled, cost, levels used) of taking ``quantity`` best first: the model's sweep."""
    filled = cost = used = 0
    for price in best_first:
        if filled == quantity:
            break
        take = min(levels[price], quantity - filled)
        filled += take
        cost += take * price
        used += 1
    return filled, cost, used


prices = st.integers(min_value=1, max_value=ONE - 1)
sizes = st.one_of(st.just(0), st.integers(min_value=1, max_value=10**12))
levels = st.lists(st.tuples(prices, sizes), max_size=12)
# Where a change lands: on an existing level (index), at the drawn price on the grid, or off it.
target = st.one_of(st.integers(min_value=0, max_value=50), st.sampled_from(["grid", "off"]))
snapshot = st.tuples(
    st.just("book"), st.sampled_from(ASSETS), levels, levels, st.sampled_from([None, 100, 10])
)
change = st.tuples(
    st.just("change"),
    st.lists(
        st.tuples(st.sampled_from(ASSETS), st.sampled_from(["BUY", "SELL"]), prices, sizes, target),
        min_size=1,
        max_size=6,
    ),
)
tick_change = st.tuples(st.just("tick"), st.sampled_from(ASSETS), st.sampled_from([100, 10]))
messages = st.lists(
    st.one_of(snapshot, change, change, change, tick_change), min_size=1, max_size=40
)


def place(price: int, model: Model, side: str, where: int | str) -> int:
    """The price of a drawn change: an existing level of the side (an index), the drawn price
    moved onto the tick grid, or the drawn price as it is (often off the grid)."""
    existing = sorted(model.bids if side == "BUY" else model.asks)
    if isinstance(where, int):
        return existing[where % len(existing)] if existing else price
    return max(model.tick, price - price % model.tick) if where == "grid" else price


def frame_for(message: tuple[object, ...], models: dict[str, Model], ts: int) -> str:
    """The wire frame of a drawn message, applying it to the models as it goes."""
    kind = message[0]
    if kind == "book":
        _, asset, bids, asks, tick = message
        assert isinstance(asset, str)
        assert isinstance(bids, list)
        assert isinstance(asks, list)
        model = models[asset]
        if isinstance(tick, int):
            model.tick = tick
        model.live = True
        # A snapshot lists levels; a size 0 in it is no level (it removes nothing listed).
        model.bids = {price: size for price, size in bids if size}
        model.asks = {price: size for price, size in asks if size}
        body: dict[str, object] = {
            "event_type": "book",
            "asset_id": asset,
            "market": "0xm",
            # The venue's wire order: best LAST (the book must not care).
            "bids": [{"price": price_str(p), "size": size_text(s)} for p, s in bids],
            "asks": [{"price": price_str(p), "size": size_text(s)} for p, s in asks],
            "timestamp": str(ts),
            "hash": "h",
        }
        if isinstance(tick, int):
            body["tick_size"] = TICKS[tick]
        return json.dumps(body)
    if kind == "tick":
        _, asset, tick = message
        assert isinstance(asset, str)
        assert isinstance(tick, int)
        model = models[asset]
        old = model.tick
        model.tick, model.live, model.bids, model.asks = tick, False, {}, {}
        return json.dumps(
            {
                "event_type": "tick_size_change",
                "asset_id": asset,
                "market": "0xm",
                "old_tick_size": TICKS[old],
                "new_tick_size": TICKS[tick],
                "timestamp": str(ts),
            }
        )
    entries = []
    drawn = message[1]
    assert isinstance(drawn, list)
    for asset, side, raw_price, size, where in drawn:
        model = models[asset]
        price = place(raw_price, model, side, where)
        if model.live:
            model.set(side, price, size)
        best_bid, best_ask = model.venue_top()
        entry = {"asset_id": asset, "side": side, "price": price_str(price)}
        entry |= {"size": size_text(size), "hash": "x", "best_bid": best_bid}
        entries.append(entry | {"best_ask": best_ask})
    return json.dumps(
        {
            "event_type": "price_change",
            "market": "0xm",
            "timestamp": str(ts),
            "price_changes": entries,
        }
    )


def assert_equal(book: OrderBook, model: Model) -> None:
    bids = sorted(model.bids)
    asks = sorted(model.asks)
    assert book.stale == (not model.live)
    assert book.tick == model.tick
    assert list(book.bids.prices) == bids
    assert list(book.asks.prices) == asks
    assert book.bids.prices == bids
    assert list(reversed(book.bids.prices)) == bids[::-1]
    assert dict(book.bids.levels) == model.bids
    assert dict(book.asks.levels) == model.asks
    assert len(book.bids) == len(bids)
    assert len(book.asks) == len(asks)
    assert bool(book.bids.prices) == bool(bids)
    assert bool(book.asks.prices) == bool(asks)
    assert book.best_bid() == (bids[-1] if bids else None)
    assert book.best_ask() == (asks[0] if asks else None)
    if bids:
        assert (book.bids.prices[0], book.bids.prices[-1]) == (bids[0], bids[-1])
        assert book.bids.prices[-1:] == bids[-1:]
    if asks:
        assert (book.asks.prices[0], book.asks.prices[-1]) == (asks[0], asks[-1])
        assert book.asks.prices[:1] == asks[:1]
    assert book.snapshot_levels() == (
        [(p, model.bids[p]) for p in reversed(bids)],
        [(p, model.asks[p]) for p in asks],
    )
    assert book.bids.depth() == sum(model.bids.values())
    assert book.asks.depth() == sum(model.asks.values())
    for quantity in (1, 3 * SIZE_SCALE, 10**12):
        buy = book.vwap_buy(quantity)
        assert (buy.filled, buy.cost, buy.levels_used) == walk(model.asks, asks, quantity)
        sell = book.vwap_sell(quantity)
        assert (sell.filled, sell.cost, sell.levels_used) == walk(model.bids, bids[::-1], quantity)
        taken = book.asks.take(quantity)
        assert sum(size for _, size in taken) == buy.filled
    if asks:
        limit = asks[len(asks) // 2]
        limited = book.vwap_buy(10**13, limit)
        inside = [p for p in asks if p <= limit]
        assert limited.filled == sum(model.asks[p] for p in inside)
        assert limited.worst_price == inside[-1]


@settings(max_examples=150, deadline=None)
@given(messages)
def test_the_book_equals_a_dict_model(drawn: list[tuple[object, ...]]) -> None:
    store = BookStore()
    models = {asset: Model() for asset in ASSETS}
    for asset in ASSETS:
        store.register(asset, "0xm", 100)
    for n, message in enumerate(drawn):
        store.on_frame(frame_for(message, models, 1_000 + n), n)
        for asset in ASSETS:
            assert_equal(store.books[asset], models[asset])
    # The venue's best_bid/best_ask, taken from the model, always agree with the edges.
    agreement = store.agreement()
    assert agreement.agreed == agreement.checks
    assert store.stats.malformed == 0


@given(st.dictionaries(prices, st.integers(min_value=1, max_value=10**12), max_size=30))
def test_the_best_price_follows_removals_to_the_empty_value(levels: dict[int, int]) -> None:
    book = OrderBook("t", "0xm", 100)
    book.apply_snapshot(levels.items(), levels.items(), 1, 1)
    assert book.bids.edge == max(levels, default=0)
    assert book.asks.edge == min(levels, default=ONE)
    for price in sorted(levels):
        book.apply_level(Side.SELL, price, 0, 2, 2)
        book.apply_level(Side.BUY, price, 0, 2, 2)
        rest = [p for p in levels if p > price]
        assert book.best_ask() == min(rest, default=None)
        assert book.asks.edge == min(rest, default=ONE)
        assert book.bids.edge == (max(levels) if rest else 0)
    assert book.asks.edge == ONE
    assert not book.asks.prices
