"""A binary book is one book; an edge above the sanity cap is an anomaly (issue 8, item 3).

A binary market's NO book is its YES book seen from the other side. YES ask + NO ask < 1 can only
come from two views that disagree (torn or stale): SumTo100 and Clipper refuse it and say which
books to refresh. An edge above ``max_edge`` is reported as an anomaly and never traded.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyarb.strategies import Clipper, NegRisk, SumTo100
from polyarb.strategies.base import (
    ANOMALY,
    MISSED,
    TORN_VIEW,
    ClipperConfig,
    NegRiskConfig,
    SumTo100Config,
)
from polyarb.strategies.opportunities import OpportunityTracker
from polyarb.strategies.set_strategy import views_agree

from .helpers import NOW, FakeView, binary_market, make_book, negrisk_event

DEPTH = "200"


def mirrored_view(yes_bid: str, yes_ask: str, *, tick: str = "0.01") -> FakeView:
    """Both books as the venue has them: NO bids at 1 - YES asks, NO asks at 1 - YES bids."""
    no_bid = str(1 - Decimal(yes_ask))
    no_ask = str(1 - Decimal(yes_bid))
    return FakeView().add(
        make_book("cond-1-yes", [(yes_ask, DEPTH)], [(yes_bid, DEPTH)], tick=tick),
        make_book("cond-1-no", [(no_ask, DEPTH)], [(no_bid, DEPTH)], tick=tick),
    )


def torn_view() -> FakeView:
    """YES moved down to 0.44/0.45 but the NO view still shows the book before (0.50/0.51 for
    NO, i.e. YES at 0.49/0.50): YES ask + NO ask = 0.96, a 4 % "edge" that is no one's."""
    return FakeView().add(
        make_book("cond-1-yes", [("0.45", DEPTH)], [("0.44", DEPTH)]),
        make_book("cond-1-no", [("0.51", DEPTH)], [("0.50", DEPTH)]),
    )


SUMTO = SumTo100Config(min_liquidity=Decimal(5))


@pytest.mark.parametrize(
    "build",
    [lambda: SumTo100(SUMTO), lambda: Clipper(ClipperConfig())],
    ids=["sumto100", "clipper"],
)
def test_a_torn_binary_view_is_not_traded_and_names_the_books_to_refresh(build: object) -> None:
    strategy = build()  # type: ignore[operator]
    market = binary_market()
    strategy.set_universe([market], [])
    assert strategy.on_book(torn_view(), {"cond-1"}, NOW) == []
    [sighting] = strategy.last_sightings
    assert sighting.held_back == TORN_VIEW
    assert sighting.market == "cond-1"
    assert sighting.tokens == ("cond-1-yes", "cond-1-no")
    assert sighting.edge == Decimal("0.04")
    assert sighting.signal_id == ""
    assert strategy.stats()[TORN_VIEW] == 1
    assert strategy.stats().get("signals", 0) == 0


def test_the_same_books_as_independent_books_would_be_traded() -> None:
    """The guard, not the sizing, refuses the torn view: with the guard off (hand-made
    independent books) the same books make a signal."""
    strategy = SumTo100(SUMTO, independent_books=True)
    strategy.set_universe([binary_market()], [])
    [signal] = strategy.on_book(torn_view(), {"cond-1"}, NOW)
    assert signal.size == Decimal(100)  # max_position


def test_mirrored_books_never_show_an_edge() -> None:
    """Agreeing views of a binary market sum to at least $1: nothing to do, nothing torn."""
    strategy = SumTo100(SumTo100Config(min_edge=Decimal(0), min_liquidity=Decimal(5)))
    strategy.set_universe([binary_market()], [])
    for bid, ask in (("0.44", "0.45"), ("0.10", "0.30"), ("0.98", "0.99")):
        assert strategy.on_book(mirrored_view(bid, ask), {"cond-1"}, NOW) == []
        assert strategy.last_sightings == []
    assert strategy.stats().get(TORN_VIEW, 0) == 0


def test_views_agree_within_one_tick_and_not_beyond() -> None:
    def books(yes: tuple[str, str], no: tuple[str, str], tick: str = "0.01") -> tuple:  # type: ignore[type-arg]
        return (
            make_book("y", [(yes[1], "10")], [(yes[0], "10")], tick=tick),
            make_book("n", [(no[1], "10")], [(no[0], "10")], tick=tick),
        )

    assert views_agree(*books(("0.44", "0.45"), ("0.55", "0.56")))
    assert views_agree(*books(("0.44", "0.45"), ("0.54", "0.57")))  # one tick off each way
    assert not views_agree(*books(("0.44", "0.45"), ("0.53", "0.56")))  # bid two ticks off
    assert not views_agree(*books(("0.44", "0.45"), ("0.55", "0.58")))  # ask two ticks off
    assert not views_agree(*books(("0.440", "0.450"), ("0.548", "0.560"), tick="0.001"))
    # An empty side must face an empty side.
    yes = make_book("y", [("0.45", "10")], [])
    no = make_book("n", [("0.55", "10")], [])
    assert not views_agree(yes, no)
    assert views_agree(make_book("y", [("0.45", "10")]), make_book("n", [], [("0.55", "10")]))


def test_an_edge_above_the_sanity_cap_is_an_anomaly_never_a_signal() -> None:
    event = negrisk_event("ev", ["a", "b", "c"])
    strategy = NegRisk(NegRiskConfig(max_edge=Decimal("0.10")))
    strategy.set_universe(list(event.markets), [event])

    def view(asks: tuple[str, str, str]) -> FakeView:
        return FakeView().add(
            *(
                make_book(f"ev-m{i}-yes", [(price, DEPTH)], [("0.01", DEPTH)])
                for i, price in enumerate(asks)
            )
        )

    # The edge is per set after the chain transaction (CHAIN_TX_COST_USD) spread over the sets.
    sets = strategy.config.max_position  # the books are deeper (DEPTH)
    assert sets < Decimal(DEPTH)
    chain = strategy.config.chain_tx_cost_usd
    assert chain > 0
    # 0.25 + 0.30 + 0.30 = 0.85: a 15 % edge, above the 10 % cap.
    assert strategy.on_book(view(("0.25", "0.30", "0.30")), {"ev"}, NOW) == []
    [sighting] = strategy.last_sightings
    assert sighting.held_back == ANOMALY
    assert sighting.size == sets
    assert sighting.edge == (Decimal("0.15") * sets - chain) / sets
    assert strategy.stats()[ANOMALY] == 1
    # 0.30 + 0.30 + 0.32 = 0.92: 8 %, under the cap: traded.
    [signal] = strategy.on_book(view(("0.30", "0.30", "0.32")), {"ev"}, NOW + 1)
    assert signal.edge == (Decimal("0.08") * sets - chain) / sets


def test_the_cap_applies_to_binary_strategies_too() -> None:
    strategy = SumTo100(SUMTO, independent_books=True)
    strategy.set_universe([binary_market()], [])
    view = FakeView().add(
        make_book("cond-1-yes", [("0.40", DEPTH)], [("0.30", DEPTH)]),
        make_book("cond-1-no", [("0.45", DEPTH)], [("0.30", DEPTH)]),
    )
    assert strategy.on_book(view, {"cond-1"}, NOW) == []
    assert [s.held_back for s in strategy.last_sightings] == [ANOMALY]


def test_settings_feed_the_cap() -> None:
    from .helpers import FakeSettings

    settings = FakeSettings({"sumto100_max_edge": Decimal("0.05")})
    assert SumTo100Config.from_settings(settings).max_edge == Decimal("0.05")
    assert ClipperConfig.from_settings(settings).max_edge == Decimal("0.05")  # shared
    assert NegRiskConfig.from_settings(FakeSettings()).max_edge == Decimal("0.10")


def test_torn_views_and_anomalies_are_opportunity_outcomes() -> None:
    tracker = OpportunityTracker()
    strategy = SumTo100(SUMTO)
    strategy.set_universe([binary_market()], [])
    strategy.on_book(torn_view(), {"cond-1"}, NOW)
    tracker.observe(strategy.name, strategy.last_evaluated, strategy.last_sightings, NOW)
    strategy.on_book(mirrored_view("0.44", "0.45"), {"cond-1"}, NOW + 1)  # repaired
    tracker.observe(strategy.name, strategy.last_evaluated, strategy.last_sightings, NOW + 1)
    [closed] = tracker.drain_closed()
    assert closed.outcome == TORN_VIEW
    report = tracker.report()["sumto100"]
    assert report.by_outcome == {TORN_VIEW: 1}
    assert MISSED not in report.by_outcome
