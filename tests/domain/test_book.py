"""OrderBook properties against brute-force references (exact Fractions / Decimals)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from polyarb.domain.book import BookSide, OrderBook, Side
from polyarb.domain.numbers import COST_SCALE, ONE, PRICE_SCALE, SIZE_SCALE

prices = st.integers(min_value=1, max_value=ONE - 1)
sizes = st.integers(min_value=0, max_value=50_000 * SIZE_SCALE)
sides = st.sampled_from([Side.BUY, Side.SELL])
updates = st.lists(st.tuples(sides, prices, sizes), max_size=200)
levels = st.dictionaries(
    prices, st.integers(min_value=1, max_value=10_000 * SIZE_SCALE), max_size=40
)


def _reference(ops: list[tuple[Side, int, int]]) -> tuple[dict[int, int], dict[int, int]]:
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for side, price, size in ops:
        target = bids if side is Side.BUY else asks
        if size:
            target[price] = size
        else:
            target.pop(price, None)
    return bids, asks


@given(updates, levels, levels)
def test_level_updates_equal_the_equivalent_snapshot(
    ops: list[tuple[Side, int, int]], start_bids: dict[int, int], start_asks: dict[int, int]
) -> None:
    book = OrderBook("t")
    book.apply_snapshot(start_bids.items(), start_asks.items(), 1, 1)
    for i, (side, price, size) in enumerate(ops):
        book.apply_level(side, price, size, 2 + i, 2 + i)
    ref_bids, ref_asks = _reference(
        [(Side.BUY, p, s) for p, s in start_bids.items()]
        + [(Side.SELL, p, s) for p, s in start_asks.items()]
        + ops
    )
    snap = OrderBook("t")
    snap.apply_snapshot(ref_bids.items(), ref_asks.items(), 1, 1)
    assert book.snapshot_levels() == snap.snapshot_levels()
    assert book.best_bid() == max(ref_bids, default=None)
    assert book.best_ask() == min(ref_asks, default=None)
    assert book.bids.depth() == sum(ref_bids.values())


@given(updates)
def test_sides_stay_sorted_with_positive_sizes_only(ops: list[tuple[Side, int, int]]) -> None:
    book = OrderBook("t")
    for side, price, size in ops:
        book.apply_level(side, price, size, 1, 1)
    for book_side in (book.bids, book.asks):
        assert book_side.prices == sorted(book_side.levels)
        assert all(size > 0 for size in book_side.levels.values())
    bids, asks = book.snapshot_levels()
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)  # best first
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)


def test_apply_level_accepts_the_plain_string_side() -> None:
    book = OrderBook("t")
    book.apply_level("BUY", 4000, 5, 1, 1)  # type: ignore[arg-type]  # StrEnum-equal text
    book.apply_level("SELL", 6000, 7, 1, 1)  # type: ignore[arg-type]
    assert (book.best_bid(), book.best_ask()) == (4000, 6000)


def _brute_sweep(
    side_levels: dict[int, int], is_bid: bool, quantity: int, limit: int | None
) -> tuple[int, Fraction, int]:
    """(filled, cost in $, levels used) by walking every level in price priority."""
    filled = 0
    cost = Fraction(0)
    used = 0
    for price in sorted(side_levels, reverse=is_bid):
        if limit is not None and (price < limit if is_bid else price > limit):
            break
        if filled >= quantity:
            break
        take = min(side_levels[price], quantity - filled)
        filled += take
        cost += Fraction(price, PRICE_SCALE) * Fraction(take, SIZE_SCALE)
        used += 1
    return filled, cost, used


@given(
    levels,
    st.integers(min_value=0, max_value=20_000 * SIZE_SCALE),
    st.one_of(st.none(), prices),
    st.booleans(),
)
def test_sweep_and_vwap_equal_brute_force(
    side_levels: dict[int, int], quantity: int, limit: int | None, is_bid: bool
) -> None:
    side = BookSide(is_bid=is_bid)
    side.replace(side_levels.items())
    sweep = side.sweep(quantity, limit)
    filled, cost, used = _brute_sweep(side_levels, is_bid, quantity, limit)
    assert sweep.filled == filled
    assert Fraction(sweep.cost, COST_SCALE) == cost
    assert sweep.levels_used == used
    if filled:
        assert abs(Fraction(sweep.vwap) - cost / Fraction(filled, SIZE_SCALE)) < Fraction(1, 10**20)
        taken = side.take(quantity, limit)
        assert sum(s for _, s in taken) == filled
        assert sweep.worst_price == taken[-1][0]
    else:
        assert sweep.vwap == 0


@given(levels, st.integers(min_value=0, max_value=100_000))
def test_shares_for_usd_equals_brute_force(ask_levels: dict[int, int], dollars: int) -> None:
    book = OrderBook("t")
    book.apply_snapshot([], ask_levels.items(), 1, 1)
    budget = Decimal(dollars) / 7  # an awkward amount: not a whole number of cents
    sweep = book.shares_for_usd(budget)
    remaining = int(budget * COST_SCALE)
    filled = 0
    for price in sorted(ask_levels):
        take = min(ask_levels[price], remaining // price)
        if take <= 0:
            break
        filled += take
        remaining -= take * price
    assert sweep.filled == filled
    assert sweep.cost <= int(budget * COST_SCALE)
    assert sweep.cost_usd <= budget


@given(levels, levels)
def test_crossed_detection(bid_levels: dict[int, int], ask_levels: dict[int, int]) -> None:
    book = OrderBook("t")
    book.apply_snapshot(bid_levels.items(), ask_levels.items(), 1, 1)
    expected = bool(bid_levels and ask_levels and max(bid_levels) >= min(ask_levels))
    assert book.is_crossed() is expected
    if bid_levels and ask_levels:
        assert book.mid() == Decimal(max(bid_levels) + min(ask_levels)) / 2 / PRICE_SCALE
    else:
        assert book.mid() is None


def test_snapshot_sorts_wire_order_and_clear_marks_stale() -> None:
    book = OrderBook("t")
    assert book.stale
    # Wire order: bids ascending, asks descending (best LAST).
    book.apply_snapshot([(4800, 30), (4900, 20), (5000, 15)], [(5400, 10), (5300, 60)], 7, 8)
    assert not book.stale
    assert (book.best_bid(), book.best_ask()) == (5000, 5300)
    assert (book.ts_event_ms, book.ts_recv_ns, book.ts_snapshot_ns) == (7, 8, 8)
    book.clear()
    assert book.stale
    assert book.best_bid() is None
    assert len(book.asks) == 0
