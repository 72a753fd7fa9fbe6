from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from polyarb.domain.book import Side
from polyarb.domain.market import FeeSchedule, Market
from polyarb.domain.sports import Game, Team
from polyarb.strategies import Sniper
from polyarb.strategies.base import SniperConfig

from .helpers import MS, NOW, FakeView, binary_market, make_book, set_ask

LAKERS = Team("Los Angeles Lakers", "Lakers", "LAL", "Los Angeles", "Lakers")
CELTICS = Team("Boston Celtics", "Celtics", "BOS", "Boston", "Celtics")
START = datetime(2026, 5, 2, 0, 30, tzinfo=UTC)
SECOND = 1_000_000_000


def game(state: str = "in", *, home: int = 101, away: int = 99, gid: str = "g1") -> Game:
    return Game(
        game_id=gid,
        league="nba",
        state=state,  # type: ignore[arg-type]
        completed=state == "post",
        home=LAKERS,
        away=CELTICS,
        home_score=home,
        away_score=away,
        start=START,
        detail="Final" if state == "post" else "8:41 - 4th",
    )


def moneyline(
    cid: str = "m1", labels: tuple[str, str] = ("Lakers", "Celtics"), **kw: object
) -> Market:
    options: dict[str, object] = {
        "sports_market_type": "moneyline",
        "game_start_time": START,
        "fees": FeeSchedule(Decimal("0.03")),
        "tags": ("Sports", "NBA"),  # Gamma's tag labels: the market's league
    }
    options.update(kw)
    return binary_market(cid, labels, **options)  # type: ignore[arg-type]


def sniper(*markets: Market, **config: object) -> Sniper:
    strategy = Sniper(SniperConfig(**config))  # type: ignore[arg-type]
    strategy.set_universe(list(markets), [])
    return strategy


@pytest.mark.parametrize("labels", [("Lakers", "Celtics"), ("Celtics", "Lakers")])
def test_turns_final_buys_the_winner_by_label(labels: tuple[str, str]) -> None:
    market = moneyline(labels=labels)
    strategy = sniper(market)
    view = FakeView().add(
        make_book("m1-lakers", [("0.80", "6"), ("0.90", "3"), ("0.97", "100")]),
        make_book("m1-celtics", [("0.25", "100")]),
    )
    assert strategy.on_games(view, [game("in")], NOW) == []
    [signal] = strategy.on_games(view, [game("post")], NOW + SECOND)
    assert signal.kind == "directional"
    assert signal.market == "m1"
    [leg] = signal.legs
    assert (leg.token_id, leg.side, leg.outcome) == ("m1-lakers", Side.BUY, "Lakers")
    # Sweeps 0.80 and 0.90 (0.97 is above SNIPER_MAX_PRICE), up to SNIPER_ORDER_SIZE 10.
    assert leg.size == signal.size == Decimal(9)
    assert leg.limit_price == Decimal("0.90")
    fee = FeeSchedule(Decimal("0.03"))
    expected_fees = fee.taker_fee(Decimal("0.80"), Decimal(6)) + fee.taker_fee(
        Decimal("0.90"), Decimal(3)
    )
    assert signal.fees == expected_fees
    assert signal.cost == Decimal("7.50") + expected_fees
    assert signal.edge == ((9 - signal.cost) / 9).quantize(Decimal("1e-8"), rounding="ROUND_FLOOR")


def test_game_already_final_when_first_seen_is_ignored() -> None:
    strategy = sniper(moneyline())
    view = FakeView().add(make_book("m1-lakers", [("0.80", "100")]))
    assert strategy.on_games(view, [game("post")], NOW) == []
    assert strategy.on_games(view, [game("post")], NOW + SECOND) == []
    assert strategy.watched() == {}
    assert strategy.stats()["final_when_first_seen"] == 1


def test_never_acts_twice_on_one_game() -> None:
    strategy = sniper(moneyline())
    view = FakeView().add(make_book("m1-lakers", [("0.80", "100")]))
    strategy.on_games(view, [game("in")], NOW)
    [signal] = strategy.on_games(view, [game("post")], NOW + SECOND)
    strategy.on_result(signal, "filled", NOW + SECOND)
    assert strategy.on_book(view, {"m1"}, NOW + 2 * SECOND) == []
    assert strategy.last_sightings[0].held_back == "bought"
    # A scoreboard flapping back to "in" and to final again does not re-trigger.
    strategy.on_games(view, [game("in")], NOW + 3 * SECOND)
    assert strategy.on_games(view, [game("post")], NOW + 4 * SECOND) == []


def test_book_already_repriced_no_trade_and_delay_recorded() -> None:
    strategy = sniper(moneyline())
    view = FakeView().add(make_book("m1-lakers", [("0.99", "100")], ts=NOW - 3 * SECOND))
    strategy.on_games(view, [game("in")], NOW - 10 * SECOND)
    assert strategy.on_games(view, [game("post")], NOW) == []
    [record] = strategy.repricing_records()
    assert record.outcome == "repriced"
    assert record.traded is False
    # The market repriced 3 s before the scoreboard said final.
    assert record.delay_ns == -3 * SECOND
    assert strategy.repricing_delays_ns() == [-3 * SECOND]
    assert strategy.watched() == {}


def test_reprices_after_the_buy_and_delay_is_measured() -> None:
    strategy = sniper(moneyline())
    view = FakeView().add(make_book("m1-lakers", [("0.80", "100")]))
    strategy.on_games(view, [game("in")], NOW - SECOND)
    [signal] = strategy.on_games(view, [game("post")], NOW)
    strategy.on_result(signal, "taken", NOW)
    book = view.books["m1-lakers"]
    set_ask(book, "0.80", "0", NOW + 2500 * MS)
    set_ask(book, "0.99", "500", NOW + 2500 * MS)
    view.now = NOW + 2600 * MS
    assert strategy.on_book(view, {"m1"}, view.now) == []
    [record] = strategy.repricing_records()
    assert (record.outcome, record.traded, record.delay_ns) == ("repriced", True, 2500 * MS)


def test_window_expires_without_repricing() -> None:
    strategy = sniper(moneyline(), reprice_window_ms=60_000)
    view = FakeView().add(make_book("m1-lakers", [("0.20", "100")]))  # below SNIPER_MIN_PRICE
    strategy.on_games(view, [game("in")], NOW - SECOND)
    assert strategy.on_games(view, [game("post")], NOW) == []
    assert strategy.on_timer(view, NOW + 30 * SECOND) == []
    assert strategy.watched() == {"m1": "g1"}
    strategy.on_timer(view, NOW + 60 * SECOND)
    [record] = strategy.repricing_records()
    assert (record.outcome, record.delay_ns) == ("window_expired", None)
    assert strategy.stats()["below_min_price"] >= 1


def test_waits_on_a_quiet_book_then_buys_when_the_price_comes() -> None:
    strategy = sniper(moneyline())
    view = FakeView().add(make_book("m1-lakers", [("0.45", "100")]))
    strategy.on_games(view, [game("in")], NOW - SECOND)
    assert strategy.on_games(view, [game("post")], NOW) == []
    set_ask(view.books["m1-lakers"], "0.45", "0", NOW + SECOND)
    set_ask(view.books["m1-lakers"], "0.70", "50", NOW + SECOND)
    [signal] = strategy.on_book(view, {"m1"}, NOW + SECOND)
    assert signal.size == Decimal(10)
    assert signal.legs[0].vwap == Decimal("0.7")


def test_profit_after_fee_must_clear_min_profit() -> None:
    # 1 - 0.94 - 0.03 x 0.94 x 0.06 = 0.0583 clears 5c; 0.95 leaves 0.0486 and does not.
    for depth, expected in (("4", None), ("6", Decimal(6))):
        strategy = sniper(moneyline())
        view = FakeView().add(make_book("m1-lakers", [("0.94", depth), ("0.95", "100")]))
        strategy.on_games(view, [game("in")], NOW - SECOND)
        signals = strategy.on_games(view, [game("post")], NOW)
        if expected is None:
            assert signals == []  # 4 shares clear the bar: below the 5-share minimum
            assert strategy.stats()["below_venue_minimum"] == 1
        else:
            [signal] = signals
            assert signal.size == expected
            assert signal.legs[0].limit_price == Decimal("0.94")
            assert signal.edge >= Decimal("0.05")


def test_denied_attempt_is_retried_after_the_poll_interval() -> None:
    strategy = sniper(moneyline(), poll_ms=1000)
    view = FakeView().add(make_book("m1-lakers", [("0.80", "100")]))
    strategy.on_games(view, [game("in")], NOW - SECOND)
    [signal] = strategy.on_games(view, [game("post")], NOW)
    assert strategy.on_book(view, {"m1"}, NOW) == []  # in flight
    strategy.on_result(signal, "denied:rate_limit", NOW)
    assert strategy.on_timer(view, NOW + 500 * MS) == []
    [retry] = strategy.on_timer(view, NOW + 1000 * MS)
    assert retry.signal_id != signal.signal_id


def test_ambiguous_markets_are_refused() -> None:
    strategy = sniper(moneyline("m1"), moneyline("m2"))
    view = FakeView().add(make_book("m1-lakers", [("0.80", "100")]))
    strategy.on_games(view, [game("in")], NOW - SECOND)
    assert strategy.on_games(view, [game("post")], NOW) == []
    assert strategy.refused == {"g1": "ambiguous_market"}


def test_a_label_naming_both_teams_is_refused() -> None:
    clippers = Team("LA Clippers", "Clippers", "LAC", "Los Angeles", "Clippers")
    lakers_la = dataclasses.replace(LAKERS, short_name="LA")
    clippers_la = dataclasses.replace(clippers, short_name="LA")
    strategy = sniper(moneyline(labels=("LA", "Clippers")))
    view = FakeView()
    derby = dataclasses.replace(game("in"), home=lakers_la, away=clippers_la)
    strategy.on_games(view, [derby], NOW - SECOND)
    final = dataclasses.replace(derby, state="post", completed=True)
    assert strategy.on_games(view, [final], NOW) == []
    assert strategy.refused == {"g1": "no_market"}


def test_other_markets_of_the_game_are_not_candidates() -> None:
    totals = binary_market("ou", ("Over", "Under"), sports_market_type="totals")
    yes_no = binary_market("yn", ("Yes", "No"))
    first_half = moneyline("h1", sports_market_type="first_half_moneyline")
    strategy = Sniper(SniperConfig())
    assert strategy.set_universe([totals, yes_no, first_half], []) == {}
    assert not strategy.watches(totals)


def test_a_game_on_another_day_is_not_matched() -> None:
    strategy = sniper(moneyline(game_start_time=START + timedelta(days=2)))
    view = FakeView().add(make_book("m1-lakers", [("0.80", "100")]))
    strategy.on_games(view, [game("in")], NOW - SECOND)
    assert strategy.on_games(view, [game("post")], NOW) == []
    assert strategy.refused == {"g1": "other_game"}


def test_a_draw_has_no_winner() -> None:
    strategy = sniper(moneyline())
    view = FakeView()
    strategy.on_games(view, [game("in", home=1, away=1)], NOW - SECOND)
    assert strategy.on_games(view, [game("post", home=1, away=1)], NOW) == []
    assert strategy.refused == {"g1": "no_winner"}


def test_memory_of_games_is_bounded() -> None:
    strategy = sniper(moneyline(), max_games=10)
    view = FakeView()
    strategy.on_games(view, [game("in", gid=f"g{i}") for i in range(50)], NOW)
    assert len(strategy._games) == 10
