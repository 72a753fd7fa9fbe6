"""The matching engine: the second token trades on the first token's book exactly as if it had
a book of its own, the mirror image (bids at 1 - the asks, asks at 1 - the bids)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.numbers import ONE
from polyarb.sim.matching import match

levels = st.dictionaries(
    st.integers(min_value=1, max_value=99).map(lambda p: p * 100),
    st.integers(min_value=1, max_value=10**9),
    max_size=8,
)


@given(levels, levels, st.sampled_from(list(Side)), st.integers(1, 99), st.integers(1, 3 * 10**9))
def test_the_second_token_matches_like_its_mirror_book(
    bids: dict[int, int], asks: dict[int, int], side: Side, limit: int, size: int
) -> None:
    asks = {p: s for p, s in asks.items() if not bids or p > max(bids)}  # an uncrossed book
    first = OrderBook("yes")
    first.apply_snapshot(bids.items(), asks.items(), 0, 0)
    mirror = OrderBook("no")
    mirror.apply_snapshot(
        [(ONE - p, s) for p, s in asks.items()], [(ONE - p, s) for p, s in bids.items()], 0, 0
    )
    on_first = match(first, first=False, side=side, limit=limit * 100, size=size)
    on_mirror = match(mirror, first=True, side=side, limit=limit * 100, size=size)
    assert on_first.fills == on_mirror.fills
    assert on_first.size <= size
    # the same levels change, seen from the other token
    flip = {Side.BUY: Side.SELL, Side.SELL: Side.BUY}
    assert [(flip[s], ONE - p, n) for s, p, n in on_first.changes] == list(on_mirror.changes)


@given(levels, st.integers(1, 99), st.integers(1, 3 * 10**9))
def test_a_buy_takes_the_cheapest_asks_up_to_its_limit(
    asks: dict[int, int], limit: int, size: int
) -> None:
    book = OrderBook("yes")
    book.apply_snapshot([], asks.items(), 0, 0)
    result = match(book, first=True, side=Side.BUY, limit=limit * 100, size=size)
    eligible = sorted(p for p in asks if p <= limit * 100)
    assert [f.price for f in result.fills] == eligible[: len(result.fills)]
    assert result.size == min(size, sum(asks[p] for p in eligible))
