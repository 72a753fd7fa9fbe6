"""ESPN public scoreboard (``/apis/site/v2/sports/{sport}/{league}/scoreboard``) -> ``Game``.

Wire facts that matter: a game is over when ``status.type.state == "post"`` and ``completed`` is
true (soccer says STATUS_FULL_TIME, not STATUS_FINAL, so names are not used); scores are strings;
home and away come from each competitor's ``homeAway``, never from list order. A malformed event
is skipped with a warning and counted; the rest of the scoreboard is still used.

The body carries no time of its own, so each game is stamped with when the data was current
(``Game.as_of_ns``): the response's ``Date`` header less its ``Age`` (seconds a CDN cache held
it), never later than when we received it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import msgspec
import structlog

from polyarb.domain.errors import ConfigError, MalformedMessage
from polyarb.domain.sports import Game, GameState, Team
from polyarb.marketdata.gamma import decode_json, get_json, parse_timestamp
from polyarb.marketdata.guard import CallGuard
from polyarb.marketdata.http_source import HttpSource

log = structlog.get_logger(__name__)

ESPN_URL = "https://site.api.espn.com"
# ESPN rejects some default client user agents; a browser-like one is what its own site sends.
USER_AGENT = "Mozilla/5.0 (compatible; polyarb/0.1)"

LEAGUE_PATHS: dict[str, str] = {
    "nba": "basketball/nba",
    "wnba": "basketball/wnba",
    "nfl": "football/nfl",
    "mlb": "baseball/mlb",
    "nhl": "hockey/nhl",
    "ncaaf": "football/college-football",
    "ncaab": "basketball/mens-college-basketball",
    "mls": "soccer/usa.1",
    "epl": "soccer/eng.1",
    "worldcup": "soccer/fifa.world",
}
_STATES: dict[str, GameState] = {"pre": "pre", "in": "in", "post": "post"}


def league_path(league: str) -> str:
    """The ``sport/league`` path of a league key ("nba" -> "basketball/nba")."""
    path = LEAGUE_PATHS.get(league.strip().casefold())
    if path is None:
        raise ConfigError(f"unknown league {league!r}; accepted: {', '.join(sorted(LEAGUE_PATHS))}")
    return path


# --- wire shapes (only the fields we read; everything else is ignored) ----------------------


class _TeamJ(msgspec.Struct, rename="camel"):
    id: str = ""
    display_name: str = ""
    short_display_name: str = ""
    abbreviation: str = ""
    location: str = ""
    name: str = ""


class _CompetitorJ(msgspec.Struct, rename="camel"):
    home_away: str = ""
    score: str | int | None = None
    winner: bool | None = None
    team: _TeamJ | None = None


class _StatusTypeJ(msgspec.Struct, rename="camel"):
    name: str = ""
    state: str = ""
    completed: bool = False
    description: str = ""
    detail: str = ""
    short_detail: str = ""


class _StatusJ(msgspec.Struct):
    type: _StatusTypeJ | None = None


class _CompetitionJ(msgspec.Struct):
    date: str = ""
    competitors: list[_CompetitorJ] = []
    status: _StatusJ | None = None


class _EventJ(msgspec.Struct):
    id: str
    date: str = ""
    name: str = ""
    status: _StatusJ | None = None
    competitions: list[_CompetitionJ] = []


# --- parsing ---------------------------------------------------------------------------------


def _score(value: str | int | None, ctx: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.isdigit():
        raise MalformedMessage(f"{ctx}: score is not a whole number: {value!r}")
    return int(text)


def _team(competitor: _CompetitorJ, ctx: str) -> Team:
    team = competitor.team
    if team is None:
        raise MalformedMessage(f"{ctx}: competitor without a team")
    full = team.display_name or " ".join(p for p in (team.location, team.name) if p)
    if not full and not team.abbreviation:
        raise MalformedMessage(f"{ctx}: team {team.id or '?'} has no name")
    return Team(
        name=full or team.abbreviation,
        short_name=team.short_display_name,
        abbreviation=team.abbreviation,
        location=team.location,
        nickname=team.name,
        team_id=team.id,
    )


def _game(event: _EventJ, league: str) -> Game:
    ctx = f"ESPN {league} event {event.id}"
    if not event.competitions:
        raise MalformedMessage(f"{ctx}: no competitions")
    competition = event.competitions[0]
    status = competition.status or event.status
    status_type = status.type if status is not None else None
    if status_type is None:
        raise MalformedMessage(f"{ctx}: no status")
    state = _STATES.get(status_type.state)
    if state is None:
        raise MalformedMessage(f"{ctx}: unknown status state {status_type.state!r}")
    sides = {c.home_away: c for c in competition.competitors}
    if len(competition.competitors) != 2 or set(sides) != {"home", "away"}:
        raise MalformedMessage(f"{ctx}: expected one home and one away competitor")
    home, away = sides["home"], sides["away"]
    return Game(
        game_id=event.id,
        league=league,
        state=state,
        completed=status_type.completed,
        home=_team(home, ctx),
        away=_team(away, ctx),
        home_score=_score(home.score, ctx),
        away_score=_score(away.score, ctx),
        start=parse_timestamp(competition.date or event.date or None, f"{ctx}: date"),
        detail=status_type.detail or status_type.short_detail or status_type.description,
        status_name=status_type.name,
        home_winner=home.winner,
        away_winner=away.winner,
    )


def parse_game(event: Mapping[str, object], league: str) -> Game:
    """One scoreboard event -> ``Game``; raises ``MalformedMessage`` naming the event."""
    try:
        typed = msgspec.convert(event, _EventJ)
    except msgspec.ValidationError as exc:
        ident = event.get("id", "?") if isinstance(event, Mapping) else "?"
        raise MalformedMessage(f"ESPN {league} event {ident}: {exc}") from None
    return _game(typed, league)


def parse_scoreboard_counted(data: object, league: str) -> tuple[list[Game], int]:
    """(games, number of malformed events skipped) from a scoreboard body (bytes or decoded)."""
    if isinstance(data, bytes | str):
        try:
            data = decode_json(data)
        except msgspec.DecodeError:
            raise MalformedMessage(f"ESPN {league} scoreboard: not JSON") from None
    if not isinstance(data, Mapping):
        raise MalformedMessage(f"ESPN {league} scoreboard: expected an object")
    events = data.get("events")
    if events is None:
        return [], 0
    if not isinstance(events, list):
        raise MalformedMessage(f"ESPN {league} scoreboard: events is not a list")
    games: list[Game] = []
    skipped = 0
    for event in events:
        try:
            if not isinstance(event, Mapping):
                raise MalformedMessage(f"ESPN {league} scoreboard: event is not an object")
            games.append(parse_game(event, league))
        except MalformedMessage as exc:
            skipped += 1
            log.warning("espn_event_skipped", league=league, reason=str(exc))
    return games, skipped


def data_time_ns(headers: Mapping[str, str], received_ns: int) -> int:
    """When a response's data was current: ``Date`` less ``Age``, capped at ``received_ns``
    (a server clock ahead of ours does not make data younger than "now"); ``received_ns``
    when the headers are missing or unreadable."""
    try:
        sent = parsedate_to_datetime(headers["date"])
    except (KeyError, TypeError, ValueError, IndexError):
        return received_ns
    if sent.tzinfo is None:
        return received_ns
    age_text = headers.get("age", "0").strip()
    age_s = int(age_text) if age_text.isdigit() else 0
    current = int(sent.timestamp()) * 1_000_000_000 - age_s * 1_000_000_000
    return min(current, received_ns)


def parse_scoreboard(data: object, league: str) -> list[Game]:
    """Games of a scoreboard body; malformed events are skipped (logged)."""
    return parse_scoreboard_counted(data, league)[0]


# --- client ----------------------------------------------------------------------------------


class EspnClient(HttpSource):
    """Fetches scoreboards. ``base_url`` may carry a path (the simulator's ``.../espn``)."""

    def __init__(
        self,
        base_url: str = ESPN_URL,
        *,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
        max_attempts: int = 3,
        backoff_s: float = 0.5,
        max_wait_s: float = 10.0,
        guard: CallGuard | None = None,
    ) -> None:
        super().__init__(
            base_url,
            timeout_s=timeout_s,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            client=client,
            guard=guard,
        )
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_wait_s = max_wait_s
        self.skipped_events = 0  # malformed events seen so far
        self._as_of: dict[str, int] = {}  # request URL -> data time of its last response
        self._client.event_hooks["response"].append(self._note_data_time)

    async def _note_data_time(self, response: httpx.Response) -> None:
        self._as_of[str(response.request.url)] = data_time_ns(response.headers, time.time_ns())

    def scoreboard_url(self, league: str) -> str:
        return f"{self.base_url}/apis/site/v2/sports/{league_path(league)}/scoreboard"

    async def scoreboard(self, league: str, *, day: date | None = None) -> list[Game]:
        """Today's games of ``league`` (a key of ``LEAGUE_PATHS``), or those of ``day``."""
        url = self.scoreboard_url(league)
        params = [("dates", day.strftime("%Y%m%d"))] if day is not None else None
        body: Any = await get_json(
            self._client,
            url,
            what="ESPN scoreboard",
            params=params,
            max_attempts=self._max_attempts,
            backoff_s=self._backoff_s,
            max_wait_s=self._max_wait_s,
            guard=self.guard,
        )
        as_of = self._as_of.pop(str(httpx.URL(url, params=params)), None)
        games, skipped = parse_scoreboard_counted(body, league.strip().casefold())
        self.skipped_events += skipped
        stamp = as_of if as_of is not None else time.time_ns()
        return [dataclasses.replace(game, as_of_ns=stamp) for game in games]
