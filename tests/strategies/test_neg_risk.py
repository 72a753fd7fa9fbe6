from __future__ import annotations

import dataclasses
from decimal import ROUND_DOWN, Decimal

from polyarb.domain.market import FeeSchedule
from polyarb.strategies import NegRisk
from polyarb.strategies.base import NegRiskConfig

from .helpers import MS, NOW, FakeView, make_book, negrisk_event


def setup(
    asks: list[list[tuple[str, str]]],
    config: NegRiskConfig | None = None,
    fees: list[FeeSchedule] | None = None,
) -> tuple[NegRisk, FakeView]:
    event = negrisk_event("ev", [f"Candidate {i}" for i in range(len(asks))], fees=fees)
    strategy = NegRisk(config or NegRiskConfig())
    routes = strategy.set_universe(list(event.markets), [event])
    assert routes == {f"ev-m{i}-yes": "ev" for i in range(len(asks))}
    view = FakeView()
    for i, levels in enumerate(asks):
        view.add(make_book(f"ev-m{i}-yes", levels))
    return strategy, view


def test_buys_yes_of_every_outcome_sized_by_the_thinnest() -> None:
    strategy, view = setup([[("0.30", "100")], [("0.30", "40")], [("0.35", "100")]])
    [signal] = strategy.on_book(view, {"ev"}, NOW)
    assert signal.market == "ev"  # the event id is the market key
    assert signal.size == Decimal(40)
    assert [leg.token_id for leg in signal.legs] == ["ev-m0-yes", "ev-m1-yes", "ev-m2-yes"]
    assert [leg.market for leg in signal.legs] == ["ev-m0", "ev-m1", "ev-m2"]
    assert signal.edge == Decimal("0.04975")  # 5c a set less the $0.01 redeem over 40 sets
    assert all(leg.size == Decimal(40) for leg in signal.legs)


def test_never_reaches_into_a_level_whose_marginal_set_loses() -> None:
    strategy, view = setup(
        [[("0.30", "500")], [("0.30", "40"), ("0.40", "500")], [("0.35", "500")]]
    )
    [signal] = strategy.on_book(view, {"ev"}, NOW)
    # Past 40 sets every set costs 0.30 + 0.40 + 0.35 = 1.05: the seed's average rule bought 72.72
    # (1.05 Q - 4 <= 0.995 Q), the last 32.72 of them at a loss. The marginal rule stops at 40.
    assert signal.size == Decimal(40)
    assert signal.legs[1].limit_price == Decimal("0.30")
    assert signal.edge >= Decimal("0.005")

    steps, view = setup([[("0.30", "500")], [("0.30", "40"), ("0.33", "500")], [("0.35", "500")]])
    [signal] = steps.on_book(view, {"ev"}, NOW)
    assert signal.size == Decimal(100)  # 0.98 a set past 40 still clears 0.995: max position
    assert signal.legs[1].limit_price == Decimal("0.33")


def test_per_market_fees_are_summed() -> None:
    fees = [FeeSchedule(Decimal("0.04")), FeeSchedule(Decimal(0)), FeeSchedule(Decimal("0.05"))]
    strategy, view = setup([[("0.30", "50")], [("0.30", "50")], [("0.35", "50")]], fees=fees)
    [signal] = strategy.on_book(view, {"ev"}, NOW)
    expected = sum(
        (
            f.taker_fee(Decimal(p), Decimal(50)).quantize(Decimal("1e-5"), rounding=ROUND_DOWN)
            for f, p in zip(fees, ("0.30", "0.30", "0.35"), strict=True)
        ),
        Decimal(0),
    )
    assert signal.fees == expected
    assert signal.edge == (50 - signal.cost) / 50


def test_no_edge_when_the_set_costs_a_dollar() -> None:
    strategy, view = setup([[("0.30", "100")], [("0.35", "100")], [("0.35", "100")]])
    assert strategy.on_book(view, {"ev"}, NOW) == []


def test_incomplete_sets_are_refused() -> None:
    augmented = negrisk_event("aug", ["A", "B", "Other"])
    placeholder = negrisk_event("ph", ["A", "B"])
    placeholder = dataclasses.replace(
        placeholder,
        markets=(
            placeholder.markets[0],
            dataclasses.replace(placeholder.markets[1], neg_risk_other=True),
        ),
    )
    single = negrisk_event("one", ["A"])
    strategy = NegRisk(NegRiskConfig())
    markets = [m for e in (augmented, placeholder, single) for m in e.markets]
    assert strategy.set_universe(markets, [augmented, placeholder, single]) == {}


def test_a_closed_member_disqualifies_the_event() -> None:
    event = negrisk_event("ev", ["A", "B", "C"])
    closed = dataclasses.replace(event.markets[2], closed=True)
    event = dataclasses.replace(event, markets=(*event.markets[:2], closed))
    assert NegRisk(NegRiskConfig()).set_universe(list(event.markets), [event]) == {}


def test_every_outcome_book_is_checked() -> None:
    asks = [[("0.30", "100")], [("0.30", "100")], [("0.30", "100")]]
    strategy, view = setup(asks)
    view.books["ev-m2-yes"].invalidate()
    assert strategy.on_book(view, {"ev"}, NOW) == []
    strategy, view = setup(asks)
    view.now = NOW + 2001 * MS
    view.books["ev-m0-yes"].ts_recv_ns = view.now
    view.books["ev-m1-yes"].ts_recv_ns = view.now
    assert strategy.on_book(view, {"ev"}, view.now) == []  # outcome 2 is too old
    strategy, view = setup(asks)
    view.add(make_book("ev-m1-yes", [("0.30", "100")], [("0.31", "5")]))
    assert strategy.on_book(view, {"ev"}, NOW) == []
    strategy, view = setup(asks)
    del view.books["ev-m1-yes"]
    assert strategy.on_book(view, {"ev"}, NOW) == []
    assert strategy.stats()["no_book"] == 1


def test_a_long_shot_leg_must_still_be_worth_a_dollar() -> None:
    # 0.01 x 50 sets = $0.50 < $1 for the long shot's marketable order.
    strategy, view = setup([[("0.01", "50")], [("0.40", "50")], [("0.50", "50")]])
    assert strategy.on_book(view, {"ev"}, NOW) == []
    assert strategy.stats()["below_venue_minimum"] == 1
    strategy, view = setup([[("0.01", "500")], [("0.40", "500")], [("0.50", "500")]])
    [signal] = strategy.on_book(view, {"ev"}, NOW)
    assert signal.size == Decimal(100)  # max position; long-shot leg $1.00


def test_min_liquidity_and_notional() -> None:
    config = NegRiskConfig(min_liquidity=Decimal(60))
    strategy, view = setup([[("0.30", "50")], [("0.30", "500")], [("0.30", "500")]], config)
    assert strategy.on_book(view, {"ev"}, NOW) == []
    config = NegRiskConfig(max_notional=Decimal(45))
    strategy, view = setup([[("0.30", "500")], [("0.30", "500")], [("0.30", "500")]], config)
    [signal] = strategy.on_book(view, {"ev"}, NOW)
    assert signal.size == Decimal("49.98")  # ($45 - $0.01 chain) / 0.90
