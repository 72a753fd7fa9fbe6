"""Simulated sports games and ESPN's public scoreboard JSON (polymarket_protocol.md section 8).

A game is a seeded timeline in scenario seconds: scheduled (``pre``) until its start, in progress
(``in``) with scoring events spread over its duration, then final (``post``, ``completed`` true,
``winner`` flags on the competitors). A tie at the end is settled by one more score ("Final/OT"),
so every final game has a winner. ``finish(now)`` ends a game early (the Sniper tests' trigger).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from polyarb.sim.catalog import SimMarket

GameState = Literal["pre", "in", "post"]


@dataclass(frozen=True, slots=True)
class Team:
    team_id: str
    location: str
    name: str  # the bare nickname ("Celtics"): what Polymarket moneyline outcomes are labelled
    abbreviation: str

    @property
    def display_name(self) -> str:
        return f"{self.location} {self.name}"


@dataclass(frozen=True, slots=True)
class League:
    key: str
    sport: str
    league_id: str
    sport_uid: str
    name: str
    periods: int
    period_minutes: int  # 0: no game clock (baseball innings)
    period_word: str
    scores_per_game: int  # scoring events per game, both teams together
    points: tuple[int, ...]  # points of one scoring event
    logit_per_point: float  # how much one point of lead moves the market


LEAGUES: dict[str, League] = {
    "nba": League("nba", "basketball", "46", "40", "National Basketball Association",
                  4, 12, "Quarter", 90, (2, 2, 2, 3, 1), 0.07),
    "nfl": League("nfl", "football", "28", "20", "National Football League",
                  4, 15, "Quarter", 8, (3, 7, 7), 0.12),
    "mlb": League("mlb", "baseball", "10", "1", "Major League Baseball",
                  9, 0, "Inning", 8, (1, 1, 2), 0.45),
    "nhl": League("nhl", "hockey", "90", "70", "National Hockey League",
                  3, 20, "Period", 6, (1,), 0.6),
}  # fmt: skip

_TEAMS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "nba": (
        ("2", "Boston", "Celtics", "BOS"), ("20", "Philadelphia", "76ers", "PHI"),
        ("18", "New York", "Knicks", "NY"), ("15", "Milwaukee", "Bucks", "MIL"),
        ("7", "Denver", "Nuggets", "DEN"), ("21", "Phoenix", "Suns", "PHX"),
        ("9", "Golden State", "Warriors", "GS"), ("14", "Miami", "Heat", "MIA"),
    ),
    "nfl": (
        ("12", "Kansas City", "Chiefs", "KC"), ("2", "Buffalo", "Bills", "BUF"),
        ("6", "Dallas", "Cowboys", "DAL"), ("9", "Green Bay", "Packers", "GB"),
        ("26", "Seattle", "Seahawks", "SEA"), ("7", "Denver", "Broncos", "DEN"),
        ("3", "Chicago", "Bears", "CHI"), ("8", "Detroit", "Lions", "DET"),
    ),
    "mlb": (
        ("10", "New York", "Yankees", "NYY"), ("2", "Boston", "Red Sox", "BOS"),
        ("19", "Los Angeles", "Dodgers", "LAD"), ("16", "Chicago", "Cubs", "CHC"),
        ("18", "Houston", "Astros", "HOU"), ("15", "Atlanta", "Braves", "ATL"),
        ("12", "Seattle", "Mariners", "SEA"), ("13", "Texas", "Rangers", "TEX"),
    ),
    "nhl": (
        ("1", "Boston", "Bruins", "BOS"), ("21", "Toronto", "Maple Leafs", "TOR"),
        ("6", "Edmonton", "Oilers", "EDM"), ("17", "Colorado", "Avalanche", "COL"),
        ("20", "Tampa Bay", "Lightning", "TB"), ("37", "Vegas", "Golden Knights", "VGK"),
        ("9", "Dallas", "Stars", "DAL"), ("26", "Florida", "Panthers", "FLA"),
    ),
}  # fmt: skip


def league_teams(league: str) -> tuple[Team, ...]:
    return tuple(Team(*row) for row in _TEAMS[league])


@dataclass(slots=True)
class Score:
    """One scoring event: ``at_s`` seconds after the start."""

    at_s: float
    home: bool
    points: int


@dataclass(slots=True)
class SimGame:
    index: int
    league: str
    home: Team
    away: Team
    start_s: float
    end_s: float
    reprice_delay_s: float
    start_wall: datetime
    event_id: str
    scoring: list[Score]
    pregame_away_probability: float
    overtime: bool = False
    taker_delay_s: int = 3  # the market's ``secondsDelay`` on marketable orders
    market: SimMarket | None = field(default=None, repr=False)
    repriced: bool = False

    @classmethod
    def generate(
        cls,
        rng: random.Random,
        *,
        index: int,
        league: str,
        home: Team,
        away: Team,
        start_s: float,
        duration_s: float,
        reprice_delay_s: float,
        start_wall: datetime,
        event_id: str,
    ) -> SimGame:
        spec = LEAGUES[league]
        home_strength = rng.uniform(0.4, 0.6)
        scoring = sorted(
            (
                Score(
                    at_s=rng.uniform(0.02, 0.98) * duration_s,
                    home=rng.random() < home_strength,
                    points=rng.choice(spec.points),
                )
                for _ in range(max(1, int(spec.scores_per_game * rng.uniform(0.7, 1.3))))
            ),
            key=lambda s: s.at_s,
        )
        game = cls(
            index=index,
            league=league,
            home=home,
            away=away,
            start_s=start_s,
            end_s=start_s + duration_s,
            reprice_delay_s=reprice_delay_s,
            start_wall=start_wall,
            event_id=event_id,
            scoring=scoring,
            pregame_away_probability=1.0 - home_strength,
        )
        game._settle_tie()
        return game

    @property
    def spec(self) -> League:
        return LEAGUES[self.league]

    @property
    def duration_s(self) -> float:
        return max(self.end_s - self.start_s, 1e-9)

    def state(self, now_s: float) -> GameState:
        if now_s < self.start_s:
            return "pre"
        if now_s < self.end_s:
            return "in"
        return "post"

    def scores(self, now_s: float) -> tuple[int, int]:
        """(away, home) points at ``now_s`` (the final score once the game is over)."""
        elapsed = min(now_s, self.end_s) - self.start_s
        away = home = 0
        for s in self.scoring:
            if s.at_s > elapsed:
                break
            if s.home:
                home += s.points
            else:
                away += s.points
        return away, home

    def home_won(self) -> bool:
        away, home = self.scores(self.end_s)
        return home > away

    def finish(self, now_s: float) -> None:
        """End the game now (scores so far stand; a tie goes to overtime)."""
        if now_s >= self.end_s:
            return
        self.start_s = min(self.start_s, now_s)
        self.end_s = now_s
        elapsed = now_s - self.start_s
        self.scoring = [s for s in self.scoring if s.at_s <= elapsed]
        self._settle_tie()

    def _settle_tie(self) -> None:
        away, home = self.scores(self.end_s)
        if away == home:
            # Overtime decides it: one more score, by the home team so the result is seedless.
            self.scoring.append(Score(self.end_s - self.start_s, True, self.spec.points[0]))
            self.overtime = True

    def away_probability(self, now_s: float) -> float:
        """The fair price of the away team while the game is not yet repriced."""
        base = self.pregame_away_probability
        if now_s < self.start_s:
            return base
        away, home = self.scores(now_s)
        progress = min(1.0, (now_s - self.start_s) / self.duration_s)
        logit = math.log(base / (1 - base)) + self.spec.logit_per_point * (away - home) * (
            0.5 + progress
        )
        # Until the venue reprices, the market keeps some doubt: that gap is the Sniper's edge.
        return min(0.88, max(0.12, 1 / (1 + math.exp(-logit))))

    # --- ESPN JSON ------------------------------------------------------------------------

    def status(self, now_s: float) -> dict[str, Any]:
        spec = self.spec
        state = self.state(now_s)
        if state == "pre":
            start = self.start_wall
            detail = start.strftime("%a, %B %d at %I:%M %p UTC")
            return _status("pre", detail, start.strftime("%m/%d - %I:%M %p UTC"))
        if state == "post":
            detail = "Final/OT" if self.overtime else "Final"
            if self.overtime and spec.key == "mlb":
                detail = f"Final/{spec.periods + 1}"
            return _status("post", detail, detail, period=spec.periods)
        progress = (now_s - self.start_s) / self.duration_s
        period = min(spec.periods, int(progress * spec.periods) + 1)
        within = progress * spec.periods - (period - 1)
        if not spec.period_minutes:  # innings: no clock
            top = within < 0.5
            detail = f"{'Top' if top else 'Bottom'} {_ordinal(period)}"
            return _status("in", detail, f"{'Top' if top else 'Bot'} {_ordinal(period)}", period)
        clock = round((1 - within) * spec.period_minutes * 60, 1)
        shown = f"{int(clock // 60)}:{int(clock % 60):02d}"
        detail = f"{shown} - {_ordinal(period)} {spec.period_word}"
        return _status("in", detail, f"{shown} - {_ordinal(period)}", period, clock, shown)

    def _linescores(self, now_s: float, home: bool) -> list[dict[str, Any]]:
        spec = self.spec
        if self.state(now_s) == "pre":
            return []
        elapsed = min(now_s, self.end_s) - self.start_s
        periods = min(spec.periods, int(elapsed / self.duration_s * spec.periods) + 1)
        totals = [0] * (periods + (1 if self.overtime and now_s >= self.end_s else 0))
        for s in self.scoring:
            if s.at_s > elapsed:
                break
            if s.home == home:
                slot = min(int(s.at_s / self.duration_s * spec.periods), len(totals) - 1)
                totals[slot] += s.points
        return [
            {"value": float(v), "displayValue": str(v), "period": i + 1}
            for i, v in enumerate(totals)
        ]

    def _competitor(self, team: Team, home: bool, now_s: float, order: int) -> dict[str, Any]:
        spec = self.spec
        away_points, home_points = self.scores(now_s)
        mine, theirs = (home_points, away_points) if home else (away_points, home_points)
        out: dict[str, Any] = {
            "id": team.team_id,
            "uid": f"s:{spec.sport_uid}~l:{spec.league_id}~t:{team.team_id}",
            "type": "team",
            "order": order,
            "homeAway": "home" if home else "away",
        }
        if self.state(now_s) == "post":
            out["winner"] = mine > theirs
        out["team"] = {
            "id": team.team_id,
            "uid": f"s:{spec.sport_uid}~l:{spec.league_id}~t:{team.team_id}",
            "location": team.location,
            "name": team.name,
            "abbreviation": team.abbreviation,
            "displayName": team.display_name,
            "shortDisplayName": team.name,
            "isActive": True,
        }
        out["score"] = str(mine)
        out["linescores"] = self._linescores(now_s, home)
        out["records"] = [
            {
                "name": "overall",
                "abbreviation": "Game",
                "type": "total",
                "summary": f"{20 + int(team.team_id)}-{15 + order}",
            }
        ]
        return out

    def scoreboard_event(self, now_s: float) -> dict[str, Any]:
        spec = self.spec
        date = self.start_wall.strftime("%Y-%m-%dT%H:%MZ")
        status = self.status(now_s)
        uid = f"s:{spec.sport_uid}~l:{spec.league_id}~e:{self.event_id}"
        season = {"year": self.start_wall.year, "type": 2, "slug": "regular-season"}
        competition = {
            "id": self.event_id,
            "uid": f"{uid}~c:{self.event_id}",
            "date": date,
            "startDate": date,
            "timeValid": True,
            "neutralSite": False,
            "conferenceCompetition": False,
            "recent": True,
            "venue": {
                "id": str(1000 + int(self.home.team_id)),
                "fullName": f"{self.home.location} Arena",
                "address": {"city": self.home.location},
                "indoor": True,
            },
            "competitors": [
                self._competitor(self.home, True, now_s, 0),
                self._competitor(self.away, False, now_s, 1),
            ],
            "notes": [],
            "status": status,
        }
        return {
            "id": self.event_id,
            "uid": uid,
            "date": date,
            "name": f"{self.away.display_name} at {self.home.display_name}",
            "shortName": f"{self.away.abbreviation} @ {self.home.abbreviation}",
            "season": season,
            "competitions": [competition],
            "links": [],
            "status": status,
        }


_STATUS_TYPES: dict[GameState, tuple[str, str, str]] = {  # state -> (id, name, description)
    "pre": ("1", "STATUS_SCHEDULED", "Scheduled"),
    "in": ("2", "STATUS_IN_PROGRESS", "In Progress"),
    "post": ("3", "STATUS_FINAL", "Final"),
}


def _status(
    state: GameState,
    detail: str,
    short_detail: str,
    period: int = 0,
    clock: float = 0.0,
    display_clock: str = "0.0",
) -> dict[str, Any]:
    type_id, name, description = _STATUS_TYPES[state]
    return {
        "clock": clock,
        "displayClock": display_clock,
        "period": period,
        "type": {
            "id": type_id,
            "name": name,
            "state": state,
            "completed": state == "post",
            "description": description,
            "detail": detail,
            "shortDetail": short_detail,
        },
    }


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def scoreboard(
    league: League, games: list[SimGame], now_s: float, today: datetime
) -> dict[str, Any]:
    """The scoreboard document of one league (all its scenario games)."""
    year = today.year
    return {
        "leagues": [
            {
                "id": league.league_id,
                "uid": f"s:{league.sport_uid}~l:{league.league_id}",
                "name": league.name,
                "abbreviation": league.key.upper(),
                "slug": league.key,
                "season": {
                    "year": year,
                    "startDate": f"{year - 1}-10-01T07:00Z",
                    "endDate": f"{year}-06-27T06:59Z",
                    "displayName": f"{year - 1}-{str(year)[2:]}",
                    "type": {"id": "2", "type": 2, "name": "Regular Season", "abbreviation": "reg"},
                },
                "calendarType": "day",
                "calendarIsWhitelist": True,
                "calendar": [
                    (today + timedelta(days=d)).strftime("%Y-%m-%dT07:00Z") for d in (0, 1)
                ],
            }
        ],
        "season": {"type": 2, "year": year},
        "day": {"date": today.strftime("%Y-%m-%d")},
        "events": [g.scoreboard_event(now_s) for g in games if g.league == league.key],
    }
