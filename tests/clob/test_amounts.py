"""Marketable (FOK/FAK) sizes meet the venue's amount precision, and leg limits sit on the grid."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from polyarb.clob.amounts import (
    limit_amounts,
    marketable_precision_error,
    marketable_size,
)
from polyarb.domain.book import Side
from polyarb.execution.live.client import leg_limit

D = Decimal
prices = st.integers(min_value=1, max_value=99).map(lambda n: D(n) / 100)
sizes = st.integers(min_value=1, max_value=100_000).map(lambda n: D(n) / 100)
sides = st.sampled_from(list(Side))


@given(sides, prices, sizes)
def test_marketable_size_is_the_largest_precise_size(side: Side, price: D, size: D) -> None:
    chosen = marketable_size(side, price, size)
    assert D(0) <= chosen <= size
    if chosen:
        maker, taker = limit_amounts(side, price, chosen, D("0.01"))
        assert marketable_precision_error(side, maker, taker) is None
    step = chosen + D("0.01")
    while step <= size:  # nothing larger (up to size) would do
        maker, taker = limit_amounts(side, price, step, D("0.01"))
        assert marketable_precision_error(side, maker, taker) is not None
        step += D("0.01")


def test_examples() -> None:
    assert marketable_size(Side.BUY, D("0.53"), D("10.5")) == D(10)  # $5.30, not $5.565
    assert marketable_size(Side.SELL, D("0.53"), D("10.5")) == D("10.5")  # $5.565 has 4 places
    assert marketable_precision_error(Side.BUY, 5_565_000, 10_500_000) is not None


@given(
    sides,
    prices,
    st.integers(min_value=0, max_value=10).map(lambda n: D(n) / 100),
    st.sampled_from([D("0.01"), D("0.001")]),
)
def test_leg_limit_is_on_the_grid_and_never_beyond_the_leg(
    side: Side, vwap: D, slippage: D, tick: D
) -> None:
    limit = vwap + D("0.02") if side == Side.BUY else vwap - D("0.02")
    limit = min(max(limit, tick), 1 - tick)
    price = leg_limit(side, vwap, limit, slippage, tick)
    assert price % tick == 0
    assert tick <= price <= 1 - tick
    if side == Side.BUY:
        assert price <= limit
        assert price >= min(vwap, limit)
    else:
        assert price >= limit
        assert price <= max(vwap, limit)
