"""Gamma (camelCase, JSON-in-JSON strings, paging, filters) and the ESPN scoreboard with games
going pre -> in -> post, and the moneyline repricing only after the configured delay."""

from __future__ import annotations

import asyncio
import json
import re

import httpx

from polyarb.domain.numbers import ONE
from polyarb.sim import ScenarioConfig, SimServer

CONFIG = ScenarioConfig(
    seed=9,
    binary_markets=3,
    negrisk_events=2,
    outcomes_per_event=3,
    games=2,
    closed_markets=1,
    updates_per_s=200.0,
    game_start_s=0.3,
    game_spacing_s=60.0,
    game_duration_s=30.0,
    reprice_delay_s=1.0,
)
CONDITION = re.compile(r"^0x[0-9a-f]{64}$")
TOKEN = re.compile(r"^\d{70,78}$")
SPACE_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00$")
ESPN_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\dZ$")


async def test_gamma_markets_are_shaped_like_the_live_api() -> None:
    async with SimServer(CONFIG) as sim, httpx.AsyncClient(base_url=sim.gamma_url) as http:
        markets = (await http.get("/markets")).json()
        assert len(markets) == 3 + 2 * 3 + 2 + 1
        for m in markets:
            assert isinstance(m["id"], str)
            assert CONDITION.match(m["conditionId"])
            tokens = json.loads(m["clobTokenIds"])  # JSON inside JSON
            outcomes = json.loads(m["outcomes"])
            prices = json.loads(m["outcomePrices"])
            assert len(tokens) == len(outcomes) == len(prices) == 2
            assert all(TOKEN.match(t) for t in tokens)
            assert all(isinstance(p, str) for p in prices)
            assert isinstance(m["orderPriceMinTickSize"], float)
            assert m["orderMinSize"] == 5
            assert isinstance(m["negRisk"], bool)
            assert isinstance(m["liquidityNum"], float)
            assert isinstance(m["volume24hr"], float)
            assert isinstance(m["acceptingOrders"], bool)
            assert isinstance(m["feesEnabled"], bool)
            if m["feesEnabled"]:
                assert set(m["feeSchedule"]) == {"exponent", "rate", "takerOnly", "rebateRate"}
            assert len(m["events"]) == 1
            assert "markets" not in m["events"][0]
        by_event: dict[str, set[str]] = {}
        for m in markets:
            if m["negRisk"]:
                assert m["negRiskMarketID"] == m["events"][0]["negRiskMarketID"]
                by_event.setdefault(m["events"][0]["id"], set()).add(m["negRiskMarketID"])
        assert len(by_event) == 2
        assert all(len(ids) == 1 for ids in by_event.values())
        moneylines = [m for m in markets if m.get("sportsMarketType") == "moneyline"]
        assert len(moneylines) == 2
        for m in moneylines:
            assert "Yes" not in json.loads(m["outcomes"])  # team names
            assert SPACE_TIME.match(m["gameStartTime"])
        assert [m["id"] for m in markets] == [m["id"] for m in sim.gamma_markets()]


async def test_gamma_paging_and_filters() -> None:
    async with SimServer(CONFIG) as sim, httpx.AsyncClient(base_url=sim.gamma_url) as http:
        sim.pause()
        everything = (await http.get("/markets")).json()
        paged = []
        for offset in range(0, 20, 4):
            paged += (await http.get("/markets", params={"limit": 4, "offset": offset})).json()
        assert [m["id"] for m in paged] == [m["id"] for m in everything]
        too_far = await http.get("/markets", params={"offset": 2001})
        assert too_far.status_code == 422
        open_only = (await http.get("/markets", params={"closed": "false"})).json()
        assert len(open_only) == len(everything) - 1
        assert not any(m["closed"] for m in open_only)
        closed = (await http.get("/markets", params={"closed": "true"})).json()
        assert len(closed) == 1
        assert json.loads(closed[0]["outcomePrices"]) in (
            ["1", "0"],
            ["0", "1"],
        )
        slug = everything[0]["slug"]
        assert [m["slug"] for m in (await http.get("/markets", params={"slug": slug})).json()] == [
            slug
        ]
        nba = (await http.get("/markets", params={"tag_slug": "nba"})).json()
        assert len(nba) == 1
        assert nba[0]["sportsMarketType"] == "moneyline"
        ordered = (
            await http.get("/markets", params={"order": "volume24hr", "ascending": "false"})
        ).json()
        volumes = [m["volume24hr"] for m in ordered]
        assert volumes == sorted(volumes, reverse=True)
        assert (await http.get("/markets", params={"order": "volume_24hr"})).status_code == 422

        events = (await http.get("/events", params={"closed": "false"})).json()
        neg_risk = [e for e in events if e["negRisk"]]
        assert len(neg_risk) == 2
        for event in neg_risk:
            assert len(event["markets"]) == 3
            assert event["tags"]
            assert all("events" not in m for m in event["markets"])
            assert {m["negRiskMarketID"] for m in event["markets"]} == {event["negRiskMarketID"]}
        games = [e for e in events if "gameId" in e]
        assert len(games) == 2
        assert all(isinstance(e["gameId"], int) for e in games)


async def scoreboard(http: httpx.AsyncClient, path: str) -> dict:
    response = await http.get(f"/apis/site/v2/sports/{path}/scoreboard")
    assert response.status_code == 200
    return response.json()


def competitors(board: dict) -> dict[str, dict]:
    [event] = board["events"]
    [competition] = event["competitions"]
    return {c["homeAway"]: c for c in competition["competitors"]}


async def test_espn_games_go_final_and_the_winner_reprices_after_the_delay() -> None:
    async with SimServer(CONFIG) as sim, httpx.AsyncClient(base_url=sim.espn_url) as http:
        board = await scoreboard(http, "basketball/nba")
        assert board["leagues"][0]["abbreviation"] == "NBA"
        assert board["day"]["date"]
        [event] = board["events"]
        assert ESPN_DATE.match(event["date"])
        assert " at " in event["name"]
        assert event["status"]["type"]["state"] == "pre"
        assert event["competitions"][0]["status"] == event["status"]
        teams = competitors(board)
        assert set(teams) == {"home", "away"}
        assert "winner" not in teams["home"]
        for c in teams.values():
            assert isinstance(c["score"], str)
            assert {"abbreviation", "displayName", "shortDisplayName", "name", "location"} <= set(
                c["team"]
            )

        await asyncio.sleep(1.0)
        board = await scoreboard(http, "basketball/nba")
        status = board["events"][0]["status"]["type"]
        assert (status["state"], status["name"], status["completed"]) == (
            "in",
            "STATUS_IN_PROGRESS",
            False,
        )

        game = sim.games[0]
        market = game.market
        sim.finish_game(0)
        board = await scoreboard(http, "basketball/nba")
        status = board["events"][0]["status"]["type"]
        assert (status["state"], status["completed"], status["name"]) == (
            "post",
            True,
            "STATUS_FINAL",
        )
        teams = competitors(board)
        assert teams["home"]["winner"] != teams["away"]["winner"]
        home_won = teams["home"]["winner"]
        winner, loser = (
            (teams["home"], teams["away"]) if home_won else (teams["away"], teams["home"])
        )
        assert int(winner["score"]) > int(loser["score"])
        assert home_won == game.home_won()
        winner_token = market.token_ids[1 if home_won else 0]
        label = market.outcomes[1 if home_won else 0]
        assert label == teams["home" if home_won else "away"]["team"]["shortDisplayName"]

        # Final on ESPN, but the book still has the old doubt: the Sniper's window.
        ask = sim.truth(winner_token).best_ask()
        assert ask is not None
        assert ask < ONE * 95 // 100
        await asyncio.sleep(0.6)
        assert (sim.truth(winner_token).best_ask() or 0) < ONE * 95 // 100
        await asyncio.sleep(0.8)
        repriced = sim.truth(winner_token)
        assert (repriced.best_bid() or 0) >= ONE * 97 // 100

        nfl = competitors(await scoreboard(http, "football/nfl"))
        assert (await scoreboard(http, "football/nfl"))["events"][0]["status"]["type"][
            "state"
        ] == "pre"
        assert "winner" not in nfl["home"]
        sim.finish_game(1)
        board = await scoreboard(http, "football/nfl")
        assert board["events"][0]["status"]["type"]["state"] == "post"
        assert (await scoreboard(http, "hockey/nhl"))["events"] == []
        assert (await http.get("/apis/site/v2/sports/basketball/nfl/scoreboard")).status_code == 404
