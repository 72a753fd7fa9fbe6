"""The held-back estimate of the set planner (``top_of_book_sets``) against the planner itself."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from polyarb.domain.book import BookSide
from polyarb.domain.market import FeeSchedule
from polyarb.strategies import SumTo100
from polyarb.strategies.base import SumTo100Config
from polyarb.strategies.complete_set import best_sets, make_bounds, plan_sets, top_of_book_sets
from polyarb.strategies.fees import FeeModel

from .helpers import NOW, FakeView, binary_market, make_book, set_ask

# (price in 1e-4, size in 1e-6) levels; sizes off the 0.01 share grid happen too.
level = st.tuples(st.integers(1, 6000), st.integers(1, 300).map(lambda s: s * 10_000 + 3))
ladder = st.lists(level, min_size=1, max_size=3, unique_by=lambda lv: lv[0])


def asks_of(levels: list[tuple[int, int]]) -> BookSide:
    side = BookSide(False)
    for price, size in levels:
        side.set(price, size)
    return side


@settings(max_examples=200, deadline=None)
@given(
    ladders=st.lists(ladder, min_size=2, max_size=4),
    rate=st.sampled_from([Decimal(0), Decimal("0.03"), Decimal("0.072")]),
    flat=st.sampled_from([None, Decimal("0.01")]),
    min_edge=st.sampled_from([Decimal(0), Decimal("0.003"), Decimal("0.02")]),
    max_notional=st.sampled_from([Decimal(1), Decimal(20), Decimal(100)]),
    min_sets=st.sampled_from([Decimal(0), Decimal(5)]),
)
def test_top_of_book_estimate_is_the_planners_first_segment(
    ladders: list[list[tuple[int, int]]],
    rate: Decimal,
    flat: Decimal | None,
    min_edge: Decimal,
    max_notional: Decimal,
    min_sets: Decimal,
) -> None:
    asks = [asks_of(levels) for levels in ladders]
    fees = FeeModel([FeeSchedule(rate)] * len(asks), flat)
    bounds = make_bounds(
        fees,
        min_edge=min_edge,
        max_sets=Decimal(100),
        max_notional=max_notional,
        min_sets=min_sets,
    )
    sets, total = top_of_book_sets(asks, fees, bounds)
    top, _ = best_sets(asks, fees, bounds, top_only=True)
    assert sets == (top if top >= bounds.min_units else 0)
    if not sets:
        assert total == 0
        return
    # Clears min_edge at the estimated cost, within the notional cap.
    assert bounds.edge_ratio[1] * total <= bounds.threshold * sets
    assert total <= bounds.max_cost
    plan, _ = plan_sets(asks, fees, bounds)
    if plan is not None:  # never more size or less cost per set than the real plan
        assert sets <= plan.sets
        exact, _ = plan_sets(asks, fees, bounds, top_only=True)
        if exact is not None:
            assert exact.sets == sets
            assert exact.total <= total


def test_a_held_back_market_is_sighted_from_the_best_levels() -> None:
    config = SumTo100Config(fee_rate=Decimal("0.01"), min_liquidity=Decimal(5))
    strategy = SumTo100(config, independent_books=True)
    strategy.set_universe([binary_market()], [])
    view = FakeView().add(
        make_book("cond-1-yes", [("0.45", "30"), ("0.46", "100")]),
        make_book("cond-1-no", [("0.50", "100")]),
    )
    [signal] = strategy.on_book(view, {"cond-1"}, view.now)
    assert signal.size == Decimal(100)  # the plan goes deeper than the best level
    assert strategy.on_book(view, {"cond-1"}, view.now) == []
    [sighting] = strategy.last_sightings
    assert sighting.held_back == "in_flight"
    assert sighting.signal_id == ""
    assert sighting.size == Decimal(30)  # the best levels alone
    assert sighting.edge == Decimal("0.03966666")  # 1 - 0.45 - 0.50 - 0.01, less 0.01 / 30 sets
    set_ask(view.books["cond-1-yes"], "0.45", "4", NOW)  # too thin for min_liquidity
    assert strategy.on_book(view, {"cond-1"}, view.now) == []
    assert strategy.last_sightings == []
