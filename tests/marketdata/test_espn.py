"""ESPN scoreboard parsing: one test per fixture file, plus the traps (home/away by flag, final by
state+completed, string scores) and malformed events."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from polyarb.domain.errors import ConfigError, MalformedMessage
from polyarb.marketdata.espn import (
    LEAGUE_PATHS,
    league_path,
    parse_game,
    parse_scoreboard,
    parse_scoreboard_counted,
)

ESPN = Path(__file__).resolve().parents[1] / "fixtures" / "espn"
NBA_LIVE = "nba_scoreboard_in_progress_playoffs_2026-05-02.json"
WORLD_CUP = "soccer_fifa_world_scoreboard_full_time_2026-06-11.json"
WNBA_FINAL = "wnba_scoreboard_final_trimmed_2025-07-06.json"
NBA_SCHEDULED = "nba_scoreboard_scheduled_trimmed_2026-10-20.json"


def body(name: str) -> bytes:
    return (ESPN / name).read_bytes()


def events(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(body(name))["events"]
    return data


def test_nba_in_progress() -> None:
    [game] = parse_scoreboard(body(NBA_LIVE), "nba")
    assert game.game_id == "401869412"
    assert game.league == "nba"
    assert game.state == "in"
    assert not game.completed
    assert game.is_live
    assert not game.is_final
    assert game.winner is None  # PHI leads 92-87 but the game is not over
    assert game.home.name == "Boston Celtics"
    assert game.home.abbreviation == "BOS"
    assert game.home.short_name == "Celtics"
    assert game.home.location == "Boston"
    assert game.away.name == "Philadelphia 76ers"
    assert game.away.nickname == "76ers"
    assert (game.home_score, game.away_score) == (87, 92)
    assert game.start == datetime(2026, 5, 2, 23, 30, tzinfo=UTC)
    assert game.detail == "8:41 - 4th Quarter"
    assert game.status_name == "STATUS_IN_PROGRESS"


def test_world_cup_full_time_is_final() -> None:
    games = parse_scoreboard(body(WORLD_CUP), "worldcup")
    assert [g.game_id for g in games] == ["760415", "760414"]
    mexico, korea = games
    # soccer says STATUS_FULL_TIME, not STATUS_FINAL: final is decided by state + completed
    assert mexico.status_name == "STATUS_FULL_TIME"
    assert mexico.is_final
    assert (mexico.home.name, mexico.home_score, mexico.away.name, mexico.away_score) == (
        "Mexico",
        2,
        "South Africa",
        0,
    )
    assert mexico.winner is not None
    assert mexico.winner.abbreviation == "MEX"
    assert mexico.loser is not None
    assert mexico.loser.abbreviation == "RSA"
    assert korea.winner is not None
    assert korea.winner.name == "South Korea"
    assert korea.margin == 1
    assert korea.detail == "FT"


def test_wnba_final_away_winners() -> None:
    games = parse_scoreboard(body(WNBA_FINAL), "wnba")
    assert [(g.game_id, g.home.name, g.away.name) for g in games] == [
        ("401736228", "New York Liberty", "Seattle Storm"),
        ("401736227", "Connecticut Sun", "Las Vegas Aces"),
    ]
    assert all(g.is_final for g in games)
    assert [g.winner.name if g.winner else None for g in games] == [
        "Seattle Storm",
        "Las Vegas Aces",
    ]
    assert (games[0].home_score, games[0].away_score) == (70, 79)
    assert games[0].home.short_name == ""  # trimmed fixture: only displayName + abbreviation


def test_nba_scheduled() -> None:
    [game] = parse_scoreboard(body(NBA_SCHEDULED), "nba")
    assert game.state == "pre"
    assert not game.is_final
    assert not game.is_live
    assert game.winner is None
    assert (game.home_score, game.away_score) == (0, 0)
    assert game.home.abbreviation == "DET"
    assert game.away.abbreviation == "BOS"
    assert game.detail == "Tue, October 20th at 3:00 PM EDT"


def test_home_and_away_come_from_the_flag_not_list_order() -> None:
    [event] = events(NBA_LIVE)
    event["competitions"][0]["competitors"].reverse()
    game = parse_game(event, "nba")
    assert game.home.abbreviation == "BOS"
    assert game.home_score == 87
    assert game.away.abbreviation == "PHI"
    assert game.away_score == 92


def test_post_but_not_completed_is_not_final() -> None:
    [event] = events(WNBA_FINAL)[:1]
    event["competitions"][0]["status"]["type"].update(
        name="STATUS_POSTPONED", state="post", completed=False
    )
    game = parse_game(event, "wnba")
    assert not game.is_final
    assert game.winner is None


def test_competition_status_wins_over_event_status() -> None:
    [event] = events(NBA_SCHEDULED)
    event["competitions"][0]["status"]["type"].update(state="in", name="STATUS_IN_PROGRESS")
    assert parse_game(event, "nba").state == "in"
    del event["competitions"][0]["status"]
    assert parse_game(event, "nba").state == "pre"  # falls back to the event's status


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e["competitions"][0]["competitors"].pop(), "one home and one away"),
        (lambda e: e["competitions"][0]["competitors"][0].update(homeAway="away"), "one home"),
        (lambda e: e["competitions"][0]["competitors"][0].update(score="8x"), "score"),
        (lambda e: e["competitions"][0]["status"]["type"].update(state="later"), "state"),
        (lambda e: e.update(competitions=[]), "no competitions"),
        (lambda e: e["competitions"][0]["competitors"][0].update(team={}), "has no name"),
        (lambda e: e["competitions"][0].update(date="someday"), "date"),
        (lambda e: e["competitions"][0]["competitors"][0].update(score={"v": 1}), "score"),
    ],
)
def test_malformed_event_is_skipped_and_counted(mutate: Any, message: str) -> None:
    data = json.loads(body(WNBA_FINAL))
    broken = copy.deepcopy(data["events"][0])
    mutate(broken)
    with pytest.raises(MalformedMessage, match=message):
        parse_game(broken, "wnba")
    data["events"][0] = broken
    games, skipped = parse_scoreboard_counted(json.dumps(data), "wnba")
    assert skipped == 1
    assert [g.game_id for g in games] == ["401736227"]


def test_bad_bodies() -> None:
    with pytest.raises(MalformedMessage, match="not JSON"):
        parse_scoreboard(b"<html>", "nba")
    with pytest.raises(MalformedMessage, match="expected an object"):
        parse_scoreboard(b"[]", "nba")
    assert parse_scoreboard(b"{}", "nba") == []  # no games today


def test_league_paths() -> None:
    assert league_path("nba") == "basketball/nba"
    assert league_path(" NCAAB ") == "basketball/mens-college-basketball"
    assert LEAGUE_PATHS["ncaaf"] == "football/college-football"
    assert LEAGUE_PATHS["mls"] == "soccer/usa.1"
    assert LEAGUE_PATHS["epl"] == "soccer/eng.1"
    assert LEAGUE_PATHS["worldcup"] == "soccer/fifa.world"
    assert {"wnba", "nfl", "mlb", "nhl"} <= set(LEAGUE_PATHS)
    with pytest.raises(ConfigError, match="unknown league 'cricket'; accepted: epl"):
        league_path("cricket")
