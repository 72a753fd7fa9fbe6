"""Discovery, ESPN and game matching against the local simulator (polyarb.sim.server.SimServer),
which serves Gamma and ESPN in the real wire formats on one loopback port."""

from __future__ import annotations

from polyarb.domain.sports import Game, match_game_to_market
from polyarb.marketdata.espn import LEAGUE_PATHS, EspnClient
from polyarb.marketdata.gamma import (
    GammaClient,
    MarketFilter,
    VenueRequestError,
    discover,
    parse_market,
)
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer


async def scoreboards(espn: EspnClient) -> list[Game]:
    games: list[Game] = []
    for league in LEAGUE_PATHS:
        try:
            games += await espn.scoreboard(league)
        except VenueRequestError:
            continue  # a league the simulator does not serve
    return games


async def test_discover_covers_the_simulated_venue() -> None:
    config = ScenarioConfig(binary_markets=3, negrisk_events=2, games=1)
    async with SimServer(config) as sim:
        async with GammaClient(sim.gamma_url, backoff_s=0.01) as gamma:
            universe = await discover(gamma, MarketFilter())
        served = {m.condition_id: m for m in map(parse_market, sim.gamma_markets())}
    assert universe.skipped == 0
    assert set(universe.token_ids()) <= set(sim.token_ids())
    for market in universe.markets:
        assert market.outcomes == served[market.condition_id].outcomes
    assert len(universe.events) == 2
    for event in universe.events:
        assert event.is_complete_set
        assert all(m.neg_risk and m.event_id == event.event_id for m in event.markets)
    moneylines = [m for m in universe.markets if m.sports_market_type == "moneyline"]
    assert len(moneylines) == 1
    assert moneylines[0].yes is None  # team-name outcomes


async def test_finished_game_matches_its_moneyline_outcome() -> None:
    config = ScenarioConfig(binary_markets=1, negrisk_events=0, games=1)
    async with SimServer(config) as sim:
        async with GammaClient(sim.gamma_url, backoff_s=0.01) as gamma:
            universe = await discover(gamma, MarketFilter())
        [moneyline] = [m for m in universe.markets if m.sports_market_type == "moneyline"]
        async with EspnClient(sim.espn_url, backoff_s=0.01) as espn:
            [before] = await scoreboards(espn)
            assert not before.is_final
            assert match_game_to_market(before, moneyline) is None
            sim.finish_game(0)
            [after] = await scoreboards(espn)
    assert after.is_final
    assert after.winner is not None
    outcome = match_game_to_market(after, moneyline)
    assert outcome is not None
    assert outcome.label.casefold() in {
        name.casefold() for name in (after.winner.short_name, after.winner.name)
    }
    assert outcome in moneyline.outcomes
