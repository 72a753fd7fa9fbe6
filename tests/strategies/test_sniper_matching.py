"""Sniper on real ESPN scoreboards (the fixtures' wire format, parsed by ``marketdata.espn``):
a market is the game's only when teams, league and start agree; unknown starts and stale
scoreboard data are refused."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from polyarb.config import load_settings
from polyarb.domain.market import Market
from polyarb.domain.sports import Game
from polyarb.marketdata.espn import parse_scoreboard
from polyarb.strategies import Sniper
from polyarb.strategies.base import SniperConfig

from .helpers import FakeView, binary_market, make_book

ESPN = Path(__file__).resolve().parents[1] / "fixtures" / "espn"
SECOND = 1_000_000_000
# The playoff game of the NBA fixture: Philadelphia 76ers at Boston Celtics.
TIPOFF = datetime(2026, 5, 2, 23, 30, tzinfo=UTC)
NOW = int((TIPOFF + timedelta(hours=2, minutes=30)).timestamp()) * SECOND


def nba_board() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (ESPN / "nba_scoreboard_in_progress_playoffs_2026-05-02.json").read_text()
    )
    return data


def finished(board: dict[str, Any]) -> dict[str, Any]:
    """The same scoreboard once the game is over (the in-progress capture, made final the way
    ESPN reports it: state post, completed, winner flags): the 76ers win 110-104."""
    done = copy.deepcopy(board)
    for event in done["events"]:
        competition = event["competitions"][0]
        for status in (event["status"], competition["status"]):
            status["type"].update(
                {"id": "3", "name": "STATUS_FINAL", "state": "post", "completed": True}
            )
            status["type"]["detail"] = status["type"]["shortDetail"] = "Final"
        for competitor in competition["competitors"]:
            home = competitor["homeAway"] == "home"
            competitor["score"] = "104" if home else "110"
            competitor["winner"] = not home
    return done


def games(board: dict[str, Any], as_of_ns: int | None = None) -> list[Game]:
    parsed = parse_scoreboard(board, "nba")
    if as_of_ns is None:
        return parsed
    return [replace(g, as_of_ns=as_of_ns) for g in parsed]


def moneyline(cid: str, start: datetime | None, tags: tuple[str, ...], slug: str = "") -> Market:
    market = binary_market(
        cid,
        ("76ers", "Celtics"),
        sports_market_type="moneyline",
        game_start_time=start,
        tags=tags,
        event_slug=slug or None,
    )
    return market


def view_for(*markets: Market) -> FakeView:
    view = FakeView(now=NOW)
    for m in markets:
        view.add(make_book(f"{m.condition_id}-76ers", [("0.80", "100")], ts=NOW - SECOND))
    return view


def run(markets: list[Market], board: dict[str, Any], **config: Any) -> tuple[Sniper, list[Any]]:
    strategy = Sniper(SniperConfig(**config))
    strategy.set_universe(markets, [])
    view = view_for(*markets)
    assert strategy.on_games(view, games(board), NOW - 60 * SECOND) == []
    signals = strategy.on_games(view, games(finished(board)), NOW)
    return strategy, signals


def test_the_fixture_game_is_what_the_tests_assume() -> None:
    [live] = games(nba_board())
    [final] = games(finished(nba_board()))
    assert (live.league, live.start, live.is_final) == ("nba", TIPOFF, False)
    assert final.winner is not None
    assert final.winner.name == "Philadelphia 76ers"


def test_a_market_of_another_game_of_the_same_teams_does_not_match() -> None:
    """A playoff series: game 3 (two days later) has a market with the same two labels and the
    same league. Only the market of the game that ended is bought."""
    game_3 = moneyline("game-3", TIPOFF + timedelta(days=2), ("Sports", "NBA"), "nba-phi-bos-3")
    strategy, signals = run([game_3], nba_board())
    assert signals == []
    assert strategy.refused == {"401869412": "other_game"}

    game_1 = moneyline("game-1", TIPOFF, ("Sports", "NBA"), "nba-phi-bos-2026-05-02")
    strategy, signals = run([game_3, game_1], nba_board())
    [signal] = signals
    assert signal.market == "game-1"
    assert signal.legs[0].token_id == "game-1-76ers"


def test_a_market_of_another_league_does_not_match() -> None:
    """Same team names, same start, but the market says it is another competition (tags and
    slug name no NBA): refused."""
    other = moneyline("summer", TIPOFF, ("Sports", "Basketball", "Exhibition"), "exh-phi-bos")
    strategy, signals = run([other], nba_board())
    assert signals == []
    assert strategy.refused == {"401869412": "other_league"}


def test_the_league_may_come_from_the_slug_or_the_series() -> None:
    by_slug = moneyline("a", TIPOFF, (), "nba-phi-bos-2026-05-02")
    _, signals = run([by_slug], nba_board())
    assert [s.market for s in signals] == ["a"]
    by_series = binary_market(
        "b",
        ("76ers", "Celtics"),
        sports_market_type="moneyline",
        game_start_time=TIPOFF,
        raw={"events": [{"seriesSlug": "nba"}]},
    )
    _, signals = run([by_series], nba_board())
    assert [s.market for s in signals] == ["b"]


def test_an_unknown_start_is_refused() -> None:
    nba = ("Sports", "NBA")
    # The market does not say when its game starts: it could be any game of the two teams.
    _, signals = run([moneyline("m", None, nba)], nba_board())
    assert signals == []
    strategy, _ = run([moneyline("m", None, nba)], nba_board())
    assert strategy.refused == {"401869412": "market_start_unknown"}
    # The scoreboard does not say when the game started.
    board = nba_board()
    for event in board["events"]:
        event.pop("date")
        for competition in event["competitions"]:
            competition.pop("date")
            competition.pop("startDate", None)
    assert games(board)[0].start is None
    strategy, signals = run([moneyline("m", TIPOFF, nba)], board)
    assert signals == []
    assert strategy.refused == {"401869412": "start_unknown"}


def test_scoreboard_data_older_than_the_limit_is_ignored() -> None:
    """A scoreboard as of 20 s ago (a cache, a slow poll) is not the present: the game turning
    final in it is not acted on, and not remembered either; the next fresh poll decides."""
    market = moneyline("m", TIPOFF, ("Sports", "NBA"))
    strategy = Sniper(SniperConfig(max_data_age_s=10))
    strategy.set_universe([market], [])
    view = view_for(market)
    board = nba_board()
    assert strategy.on_games(view, games(board, NOW - 61 * SECOND), NOW - 60 * SECOND) == []
    stale = games(finished(board), as_of_ns=NOW - 20 * SECOND)
    assert strategy.on_games(view, stale, NOW) == []
    assert strategy.stats()["stale_data"] == 1
    assert strategy.watched() == {}
    fresh = games(finished(board), as_of_ns=NOW - 2 * SECOND)
    [signal] = strategy.on_games(view, fresh, NOW + SECOND)
    assert signal.legs[0].token_id == "m-76ers"
    assert signal.legs[0].size == Decimal(10)


def test_the_data_age_limit_is_a_setting() -> None:
    settings = load_settings(None, sniper_max_data_age_s=7)
    assert SniperConfig.from_settings(settings).max_data_age_s == 7
