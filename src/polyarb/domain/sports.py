"""Sports games (as reported by a scoreboard such as ESPN's) and matching them to markets.

A game's result is trusted only when the scoreboard says it is over: ``state == "post"`` and
``completed``. Names, not list positions, tie a game to a market: home/away come from the
scoreboard's own flags and the winning team is found among a market's outcome labels by its
names, refusing anything ambiguous. Names alone are not enough (the same two teams meet again
in a series, or in another competition): the market must also be of the game's league
(``league_matches``) and start when the game starts (``match_game_to_market``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from polyarb.domain.market import Market, Outcome

GameState = Literal["pre", "in", "post"]

# A market's scheduled game start and the scoreboard's may differ by a delay, not by a day:
# a larger gap means a different game between the same teams (a playoff series, a rematch).
DEFAULT_MAX_START_SKEW = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Team:
    name: str  # full display name: "Boston Celtics"
    short_name: str = ""  # "Celtics"
    abbreviation: str = ""  # "BOS"
    location: str = ""  # "Boston"
    nickname: str = ""  # the scoreboard's bare team name: "Celtics"
    team_id: str = ""

    def names(self) -> frozenset[str]:
        """Every normalized name this team is known by (empty names left out)."""
        candidates = [self.name, self.short_name, self.abbreviation, self.nickname]
        if self.location and self.nickname and self.location != self.nickname:
            candidates.append(f"{self.location} {self.nickname}")
        return frozenset(n for n in (normalize_name(c) for c in candidates) if n)


@dataclass(frozen=True, slots=True)
class Game:
    """One game on a scoreboard; scores are final only when ``is_final``."""

    game_id: str
    league: str
    state: GameState
    completed: bool
    home: Team
    away: Team
    home_score: int
    away_score: int
    start: datetime | None
    detail: str  # the scoreboard's human status: "8:41 - 4th Quarter", "Final/OT", "FT"
    status_name: str = ""  # e.g. STATUS_FINAL, STATUS_FULL_TIME (informative only)
    home_winner: bool | None = None  # the scoreboard's own winner flags, when it sends them
    away_winner: bool | None = None
    # When the scoreboard data was current (Unix ns): the server's Date header less the Age a
    # cache held it, else when we received it; None when the caller does not know.
    as_of_ns: int | None = None

    @property
    def is_final(self) -> bool:
        return self.state == "post" and self.completed

    @property
    def is_live(self) -> bool:
        return self.state == "in"

    @property
    def winner(self) -> Team | None:
        """The winning team of a final game; None before the end or for a draw.

        The scoreboard's winner flags win over the score because a tie on the score can be
        decided otherwise (a penalty shoot-out). Note that a market may resolve on regulation
        time only; matching that is the strategy's decision, not the scoreboard's.
        """
        if not self.is_final:
            return None
        if self.home_winner is True and self.away_winner is not True:
            return self.home
        if self.away_winner is True and self.home_winner is not True:
            return self.away
        if self.home_winner is False and self.away_winner is False:
            return None
        if self.home_score > self.away_score:
            return self.home
        if self.away_score > self.home_score:
            return self.away
        return None

    @property
    def loser(self) -> Team | None:
        winner = self.winner
        if winner is None:
            return None
        return self.away if winner is self.home else self.home

    @property
    def margin(self) -> int:
        return abs(self.home_score - self.away_score)


_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize_name(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a name: "St. Louis Blues" -> "st louis
    blues", "Atlético" -> "atletico", "&" -> "and"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("&", " and "))
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", ascii_only).strip()


def _teams_named(label: str, game: Game) -> list[Team]:
    wanted = normalize_name(label)
    if not wanted:
        return []
    return [team for team in (game.home, game.away) if wanted in team.names()]


def match_game_to_market(
    game: Game, market: Market, *, max_start_skew: timedelta | None = DEFAULT_MAX_START_SKEW
) -> Outcome | None:
    """The outcome of ``market`` that the winner of ``game`` makes win, or None.

    The market must be this game's: both teams name distinct outcomes (exact normalized name
    match, never a substring or a list position) and, when both sides know the start time, the
    starts agree within ``max_start_skew``. Anything ambiguous (a label naming both teams, a team
    naming two outcomes) returns None: no answer is better than a wrong one with real money.
    """
    winner, loser = game.winner, game.loser
    if winner is None or loser is None:
        return None
    if (
        max_start_skew is not None
        and game.start is not None
        and market.game_start_time is not None
        and abs(game.start - market.game_start_time) > max_start_skew
    ):
        return None
    winner_outcomes: list[Outcome] = []
    loser_outcomes: list[Outcome] = []
    for outcome in market.outcomes:
        teams = _teams_named(outcome.label, game)
        if len(teams) > 1:
            return None  # one label names both teams (shared city, abbreviation clash)
        if teams and teams[0] is winner:
            winner_outcomes.append(outcome)
        elif teams:
            loser_outcomes.append(outcome)
    if len(winner_outcomes) != 1 or len(loser_outcomes) != 1:
        return None
    return winner_outcomes[0]


# Scoreboard league keys (``marketdata.espn.LEAGUE_PATHS``) -> the names Polymarket uses for
# them in slugs ("nba-bos-lal-2026-05-02"), series slugs and tags, when they differ.
LEAGUE_ALIASES: dict[str, frozenset[str]] = {
    "worldcup": frozenset({"worldcup", "world cup", "fifa world cup", "fifwc", "fifa"}),
    "ncaab": frozenset({"ncaab", "cbb", "college basketball"}),
    "ncaaf": frozenset({"ncaaf", "cfb", "college football"}),
    "epl": frozenset({"epl", "premier league"}),
}


def market_leagues(market: Market) -> frozenset[str]:
    """The league names a market carries: its slug's and event slug's first word, its tags and
    its parent event's ``seriesSlug`` (normalized)."""
    names: set[str] = set()
    for slug in (market.slug, market.event_slug or ""):
        head = slug.split("-", 1)[0]
        if head:
            names.add(head)
    names.update(market.tags)
    events = market.raw.get("events")
    parents = [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
    for parent in (market.raw, *parents):
        series = parent.get("seriesSlug")
        if isinstance(series, str):
            names.add(series)
    return frozenset(n for n in (normalize_name(x) for x in names) if n)


def league_matches(league: str, market: Market) -> bool:
    """True when ``market`` says it is of the scoreboard league ``league`` (never by default: a
    market that names no league is not matched)."""
    key = normalize_name(league)
    wanted = {normalize_name(a) for a in LEAGUE_ALIASES.get(key, frozenset())} | {key}
    return bool(wanted & market_leagues(market))
