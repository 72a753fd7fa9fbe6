"""Fail closed on fees (issue 8 item 6): a set or a game whose market has no fee data is left out
and counted, never traded as if it were free."""

from __future__ import annotations

from polyarb.domain.market import NO_FEES, UNKNOWN_FEES
from polyarb.strategies import Clipper, NegRisk, SumTo100
from polyarb.strategies.base import ClipperConfig, NegRiskConfig, SumTo100Config

from .helpers import NOW, FakeView, binary_market, make_book, negrisk_event
from .test_sniper import SECOND, game, moneyline, sniper


def test_binary_sets_without_fee_data_are_left_out_and_counted() -> None:
    markets = [binary_market("a", fees=UNKNOWN_FEES), binary_market("b")]
    view = FakeView()
    for cid in ("a", "b"):
        view.add(
            make_book(f"{cid}-yes", [("0.45", "100")]), make_book(f"{cid}-no", [("0.50", "100")])
        )
    # Hand-made books that are not one matching book: the torn-view guard is off (test_torn_view).
    for strategy in (
        SumTo100(SumTo100Config(), independent_books=True),
        Clipper(ClipperConfig(), independent_books=True),
    ):
        routes = strategy.set_universe(markets, [])
        assert set(routes.values()) == {"b"}
        assert strategy.stats()["no_fee_data"] == 1
        [signal] = strategy.on_book(view, {"a", "b"}, NOW)
        assert signal.market == "b"
        strategy.set_universe(markets[1:], [])  # a gauge of the current universe
        assert strategy.stats()["no_fee_data"] == 0


def test_a_negrisk_set_with_one_leg_without_fee_data_is_left_out() -> None:
    event = negrisk_event("ev", ["A", "B", "C"], fees=[NO_FEES, UNKNOWN_FEES, NO_FEES])
    strategy = NegRisk(NegRiskConfig())
    assert strategy.set_universe(list(event.markets), [event]) == {}
    assert strategy.stats()["no_fee_data"] == 1


def test_the_sniper_refuses_a_game_whose_market_has_no_fee_data() -> None:
    strategy = sniper(moneyline(fees=UNKNOWN_FEES))
    view = FakeView().add(make_book("m1-lakers", [("0.80", "100")]))
    assert strategy.on_games(view, [game("in")], NOW) == []
    assert strategy.on_games(view, [game("post")], NOW + SECOND) == []
    assert strategy.refused == {"g1": "no_fee_data"}
    assert strategy.stats()["no_fee_data"] == 1
