"""The simulator's markets as the live executor knows them: token id -> market (from Gamma)."""

from __future__ import annotations

from polyarb.domain.market import Market
from polyarb.marketdata.gamma import parse_market
from polyarb.sim.server import SimServer


def markets_by_token(sim: SimServer) -> dict[str, Market]:
    markets: dict[str, Market] = {}
    for raw in sim.gamma_markets():
        market = parse_market(raw)
        for outcome in market.outcomes:
            markets[outcome.token_id] = market
    return markets
