"""Issue 8 item 2: a complete set is sized on its marginal edge, for the most expected profit.

The oracle below is written independently of the planner: plain ``Decimal`` arithmetic on the
venue's fee formula (docs.polymarket.com trading/fees: ``shares x rate x (p (1 - p))^exponent``
per fill), a brute force over every size on the venue's 0.01 share grid, and the documented
planner reserve of one fee quantum ($0.00001) per level touched on a fee-charging leg.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from polyarb.domain.book import BookSide
from polyarb.domain.market import FeeSchedule
from polyarb.strategies import SumTo100
from polyarb.strategies.base import SumTo100Config
from polyarb.strategies.complete_set import make_bounds, plan_sets
from polyarb.strategies.fees import FeeModel

from .helpers import FakeView, binary_market, make_book

GRID = Decimal("0.01")
QUANTUM = Decimal("0.00001")

Ladder = list[tuple[Decimal, Decimal]]  # (price, shares), best (lowest) first


def _fee_per_share(price: Decimal, rate: Decimal, exponent: int) -> Decimal:
    return rate * (price * (1 - price)) ** exponent


def _sweep(ladder: Ladder, q: Decimal) -> list[tuple[Decimal, Decimal]]:
    out = []
    left = q
    for price, shares in ladder:
        if left <= 0:
            break
        take = min(shares, left)
        out.append((price, take))
        left -= take
    return out


def oracle(
    ladders: list[Ladder],
    rate: Decimal,
    exponent: int,
    flat: Decimal | None,
    *,
    min_edge: Decimal,
    max_sets: Decimal,
    max_notional: Decimal,
    chain: Decimal,
) -> dict[Decimal, Decimal]:
    """Expected profit of every admissible size on the grid: size x $1 less prices, exact fees,
    reserves and nothing else; admissible = within the caps and the depth, and the last set
    bought (on every leg's worst level touched) still clears ``min_edge``."""
    depth = min(sum(s for _, s in ladder) for ladder in ladders)
    top = min(depth, max_sets)
    out: dict[Decimal, Decimal] = {}
    q = GRID
    while q <= top:
        cost = Decimal(0)
        marginal = Decimal(0)
        for ladder in ladders:
            slices = _sweep(ladder, q)
            for price, shares in slices:
                cost += price * shares
                if flat is None and rate:
                    cost += _fee_per_share(price, rate, exponent) * shares + QUANTUM
            worst = slices[-1][0]
            marginal += worst
            if flat is None:
                marginal += _fee_per_share(worst, rate, exponent)
        if flat is not None:
            cost += flat * q
            marginal += flat
        if 1 - marginal >= min_edge and cost + chain <= max_notional:
            out[q] = q - cost
        q += GRID
    return out


def _side(ladder: Ladder) -> BookSide:
    side = BookSide(False)
    for price, shares in ladder:
        side.set(int(price * 10_000), int(shares * 1_000_000))
    return side


level = st.tuples(
    st.integers(500, 6500).map(lambda p: Decimal(p) / 10_000),
    st.tuples(st.integers(1, 900), st.sampled_from([0, 3, 5_000])).map(
        lambda s: Decimal(s[0] * 10_000 + s[1]) / 1_000_000
    ),
)
ladder = st.lists(level, min_size=1, max_size=4, unique_by=lambda lv: lv[0]).map(sorted)


@settings(max_examples=120, deadline=None)
@given(
    ladders=st.lists(ladder, min_size=2, max_size=3),
    rate=st.sampled_from([Decimal(0), Decimal("0.03"), Decimal("0.07"), Decimal("0.25")]),
    exponent=st.sampled_from([1, 2]),
    flat=st.sampled_from([None, None, Decimal("0.01")]),
    min_edge=st.sampled_from([Decimal(0), Decimal("0.003"), Decimal("0.02")]),
    max_sets=st.sampled_from([Decimal(3), Decimal(10), Decimal(20)]),
    max_notional=st.sampled_from([Decimal(2), Decimal(8), Decimal(50)]),
    chain=st.sampled_from([Decimal(0), Decimal("0.01")]),
    min_profit=st.sampled_from([Decimal(0), Decimal("0.05")]),
)
def test_the_chosen_size_maximizes_expected_profit_on_the_grid(
    ladders: list[Ladder],
    rate: Decimal,
    exponent: int,
    flat: Decimal | None,
    min_edge: Decimal,
    max_sets: Decimal,
    max_notional: Decimal,
    chain: Decimal,
    min_profit: Decimal,
) -> None:
    fees = FeeModel([FeeSchedule(rate, exponent)] * len(ladders), flat)
    bounds = make_bounds(
        fees,
        min_edge=min_edge,
        max_sets=max_sets,
        max_notional=max_notional,
        min_sets=Decimal(0),
        min_profit=min_profit,
        chain_cost=chain,
    )
    plan, why = plan_sets([_side(lad) for lad in ladders], fees, bounds)
    profits = oracle(
        ladders,
        rate,
        exponent,
        flat,
        min_edge=min_edge,
        max_sets=max_sets,
        max_notional=max_notional,
        chain=chain,
    )
    best = max(profits.values(), default=Decimal(0))
    if plan is None:
        # Nothing admissible makes money, or the best size fails the venue's $1 per leg, or its
        # profit does not cover the chain transaction and the minimum.
        if best > 0 and why != "below_venue_minimum":
            assert best < chain + min_profit, (why, best)
        return
    q = Decimal(plan.sets) / 1_000_000
    assert q in profits, "the planner took a size the oracle finds inadmissible"
    assert profits[q] == best, (q, profits[q], best)
    assert best >= chain + min_profit
    # No segment taken has a negative marginal edge: the worst level touched on each leg, at its
    # own fee, still leaves min_edge (>= 0) on the last set.
    marginal = sum(
        (
            _sweep(lad, q)[-1][0]
            + (flat if flat is not None else _fee_per_share(_sweep(lad, q)[-1][0], rate, exponent))
            for lad in ladders
        ),
        Decimal(0),
    ) - (flat * (len(ladders) - 1) if flat is not None else 0)
    assert 1 - marginal >= min_edge >= 0
    # The fees the plan books are the venue's: each level's fee rounded down to $0.00001.
    if flat is None:
        for fill, lad in zip(plan.legs, ladders, strict=True):
            expected = sum(
                (
                    (_fee_per_share(p, rate, exponent) * s).quantize(QUANTUM, rounding="ROUND_DOWN")
                    for p, s in _sweep(lad, q)
                ),
                Decimal(0),
            )
            assert fees.to_usd(fill.fee) == expected


def test_marginal_sets_that_cost_more_than_a_dollar_are_not_bought() -> None:
    """The seed's average rule took 188.67 sets here: every set past the 80th costs
    0.55 + 0.50 = $1.05, paid for by the cheap sets before it."""
    config = SumTo100Config(
        max_position=Decimal(1000),
        max_notional=Decimal(1000),
        min_liquidity=Decimal(5),
        chain_tx_cost_usd=Decimal(0),
    )
    strategy = SumTo100(config, independent_books=True)  # sizing on hand-made books
    strategy.set_universe([binary_market()], [])
    view = FakeView().add(
        make_book("cond-1-yes", [("0.40", "40"), ("0.45", "40"), ("0.55", "200")]),
        make_book("cond-1-no", [("0.50", "1000")]),
    )
    [signal] = strategy.on_book(view, {"cond-1"}, view.now)
    assert signal.size == Decimal(80)
    assert signal.legs[0].limit_price == Decimal("0.45")
    assert signal.cost == Decimal("0.40") * 40 + Decimal("0.45") * 40 + Decimal("0.50") * 80
    assert signal.edge == Decimal("0.075")


def test_a_level_whose_profit_does_not_cover_its_reserve_is_left() -> None:
    """On a fee-charging market a new level costs one rounding reserve ($0.00001): 0.01 set at a
    marginal edge of 0.05c earns $0.000005, so the planner stops before that level."""
    fees = FeeModel([FeeSchedule(Decimal("0.001"))] * 2)
    # 0.509 + 0.49 + fees of 0.001 x p(1 - p) ~ 0.00025 each: a marginal cost of ~0.9995.
    yes = _side([(Decimal("0.40"), Decimal(10)), (Decimal("0.509"), Decimal("0.01"))])
    no = _side([(Decimal("0.49"), Decimal(20))])
    bounds = make_bounds(
        fees,
        min_edge=Decimal(0),
        max_sets=Decimal(100),
        max_notional=Decimal(100),
        min_sets=Decimal(0),
    )
    plan, _ = plan_sets([yes, no], fees, bounds)
    assert plan is not None
    assert plan.sets == 10_000_000  # 10 sets: the 0.50 level is not worth its reserve


def test_a_trade_must_cover_the_chain_transaction_and_the_minimum_profit() -> None:
    asks = ([("0.49", "10")], [("0.50", "10")])  # 1c a set, 10 sets: $0.10 before costs
    for min_profit, chain, traded in (
        ("0.05", "0.01", True),  # 0.10 >= 0.06
        ("0.05", "0.06", False),  # 0.10 < 0.11
        ("0.10", "0", True),
        ("0.11", "0", False),
    ):
        config = SumTo100Config(
            min_edge=Decimal(0),
            min_liquidity=Decimal(5),
            min_profit_usd=Decimal(min_profit),
            chain_tx_cost_usd=Decimal(chain),
        )
        strategy = SumTo100(config, independent_books=True)  # sizing on hand-made books
        strategy.set_universe([binary_market()], [])
        view = FakeView().add(make_book("cond-1-yes", asks[0]), make_book("cond-1-no", asks[1]))
        signals = strategy.on_book(view, {"cond-1"}, view.now)
        assert bool(signals) is traded, (min_profit, chain)
        if signals:  # the chain transaction is part of the plan's cost
            assert signals[0].cost == Decimal("9.90") + Decimal(chain)
        else:
            assert strategy.stats()["below_min_profit"] == 1
