"""Game results and matching a finished game to a market's outcome by team names."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from polyarb.domain.market import Market, Outcome
from polyarb.domain.sports import Game, Team, match_game_to_market, normalize_name

CELTICS = Team("Boston Celtics", "Celtics", "BOS", "Boston", "Celtics", "2")
SIXERS = Team("Philadelphia 76ers", "76ers", "PHI", "Philadelphia", "76ers", "20")
START = datetime(2026, 5, 2, 23, 30, tzinfo=UTC)


def game(home_score: int = 87, away_score: int = 92, **changes: object) -> Game:
    base = Game(
        game_id="401869412",
        league="nba",
        state="post",
        completed=True,
        home=CELTICS,
        away=SIXERS,
        home_score=home_score,
        away_score=away_score,
        start=START,
        detail="Final",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def market(*labels: str, start: datetime | None = START) -> Market:
    outcomes = tuple(Outcome(label, f"tok-{i}") for i, label in enumerate(labels))
    return Market("0xabc", "Celtics vs. 76ers", "nba-bos-phi", outcomes, game_start_time=start)


# --- Game ------------------------------------------------------------------------------------


def test_winner_only_when_final() -> None:
    assert game().winner == SIXERS
    assert game().loser == CELTICS
    assert game(state="in", completed=False).winner is None
    assert game(state="post", completed=False).winner is None  # postponed / canceled
    assert game(state="pre", completed=False).winner is None
    assert game(100, 90).winner == CELTICS
    assert game().margin == 5


def test_winner_flags_beat_the_score() -> None:
    # a knockout tie decided on penalties: equal score, the flag names the winner
    shootout = game(1, 1, home_winner=False, away_winner=True)
    assert shootout.winner == SIXERS
    assert game(1, 1).winner is None  # a draw
    assert game(1, 1, home_winner=False, away_winner=False).winner is None
    # contradictory flags fall back to the score
    assert game(100, 90, home_winner=True, away_winner=True).winner == CELTICS


def test_team_names() -> None:
    assert CELTICS.names() == {"boston celtics", "celtics", "bos"}
    national = Team("Mexico", "Mexico", "MEX", "Mexico", "Mexico")
    assert national.names() == {"mexico", "mex"}
    assert Team("Seattle Storm", abbreviation="SEA").names() == {"seattle storm", "sea"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("St. Louis Blues", "st louis blues"),
        ("Atlético Madrid", "atletico madrid"),
        ("  Philadelphia   76ers! ", "philadelphia 76ers"),
        ("Brighton & Hove Albion", "brighton and hove albion"),
        ("...", ""),
    ],
)
def test_normalize_name(text: str, expected: str) -> None:
    assert normalize_name(text) == expected


# --- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        ("Celtics", "76ers"),
        ("76ers", "Celtics"),  # position never matters
        ("Boston Celtics", "Philadelphia 76ers"),
        ("BOS", "PHI"),
        ("celtics", "PHILADELPHIA 76ERS."),
    ],
)
def test_winner_found_by_name(labels: tuple[str, str]) -> None:
    outcome = match_game_to_market(game(), market(*labels))
    assert outcome is not None
    assert normalize_name(outcome.label) in SIXERS.names()
    assert outcome.token_id == f"tok-{labels.index(outcome.label)}"


def test_location_plus_nickname_matches() -> None:
    sixers = replace(SIXERS, name="Sixers", short_name="")
    outcome = match_game_to_market(
        game(away=sixers), market("Boston Celtics", "Philadelphia 76ers")
    )
    assert outcome is not None
    assert outcome.label == "Philadelphia 76ers"


def test_no_answer_without_a_final_result() -> None:
    assert (
        match_game_to_market(game(state="in", completed=False), market("Celtics", "76ers")) is None
    )
    assert match_game_to_market(game(1, 1), market("Celtics", "76ers", "Draw")) is None


def test_other_markets_are_refused() -> None:
    assert match_game_to_market(game(), market("Yes", "No")) is None
    assert match_game_to_market(game(), market("Celtics", "Knicks")) is None  # other game
    assert match_game_to_market(game(), market("Heat", "76ers")) is None
    assert match_game_to_market(game(), market("Over", "Under")) is None


def test_ambiguous_labels_are_refused() -> None:
    # two outcomes naming the winner
    assert match_game_to_market(game(), market("76ers", "Philadelphia 76ers", "Celtics")) is None
    # one label naming both teams
    united_a = Team("Manchester United", "United", "MUN", "Manchester", "United")
    united_b = Team("Newcastle United", "United", "NEW", "Newcastle", "United")
    derby = game(home=united_a, away=united_b, home_score=2, away_score=0)
    assert match_game_to_market(derby, market("United", "Newcastle United")) is None
    assert match_game_to_market(derby, market("Manchester United", "Newcastle United")) == Outcome(
        "Manchester United", "tok-0"
    )


def test_start_time_must_agree() -> None:
    # same teams, a different game of the series (two days earlier)
    earlier = market("Celtics", "76ers", start=START - timedelta(days=2))
    assert match_game_to_market(game(), earlier) is None
    assert match_game_to_market(game(), earlier, max_start_skew=None) is not None
    delayed = market("Celtics", "76ers", start=START + timedelta(minutes=45))
    assert match_game_to_market(game(), delayed) is not None
    unknown = market("Celtics", "76ers", start=None)
    assert match_game_to_market(game(), unknown) is not None
