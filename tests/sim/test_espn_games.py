"""Game timelines: status per league, scores, overtime and early finishes (no server)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest

from polyarb.sim.espn import LEAGUES, SimGame, league_teams

START = datetime(2026, 4, 1, 23, 30, tzinfo=UTC)


def game(league: str, seed: int = 1) -> SimGame:
    home, away = league_teams(league)[:2]
    return SimGame.generate(random.Random(seed), index=0, league=league, home=home, away=away,
                            start_s=10.0, duration_s=40.0, reprice_delay_s=2.0,
                            start_wall=START, event_id="401800001")  # fmt: skip


@pytest.mark.parametrize("league", sorted(LEAGUES))
def test_status_follows_the_clock(league: str) -> None:
    g = game(league)
    assert g.state(5.0) == "pre"
    assert g.status(5.0)["type"]["name"] == "STATUS_SCHEDULED"
    assert g.scores(5.0) == (0, 0)
    live = g.status(30.0)
    assert live["type"]["state"] == "in"
    assert live["period"] >= 1
    if LEAGUES[league].period_minutes:
        assert re.match(r"^\d+:\d\d - \d(st|nd|rd|th) (Quarter|Period)$", live["type"]["detail"])
    else:
        assert re.match(r"^(Top|Bottom) \d(st|nd|rd|th)$", live["type"]["detail"])
    final = g.status(60.0)
    assert final["type"]["completed"] is True
    assert final["type"]["detail"].startswith("Final")
    away, home = g.scores(60.0)
    assert away != home
    assert g.home_won() == (home > away)
    event = g.scoreboard_event(60.0)
    flags = {c["homeAway"]: c["winner"] for c in event["competitions"][0]["competitors"]}
    assert flags == {"home": g.home_won(), "away": not g.home_won()}


def test_finishing_before_the_start_still_names_a_winner() -> None:
    g = game("nhl")
    g.finish(3.0)
    assert g.state(3.0) == "post"
    assert g.overtime
    assert g.scores(3.0) == (0, 1)
    assert g.home_won()
    assert g.status(3.0)["type"]["detail"] == "Final/OT"


def test_scores_only_grow_and_the_away_price_follows_the_lead() -> None:
    g = game("nba", seed=4)
    previous = (0, 0)
    for t in range(10, 51):
        now = g.scores(float(t))
        assert now[0] >= previous[0]
        assert now[1] >= previous[1]
        previous = now
        price = g.away_probability(float(t))
        assert 0.12 <= price <= 0.88
    away, home = g.scores(50.0)
    assert (g.away_probability(50.0) > 0.5) == (away > home)
