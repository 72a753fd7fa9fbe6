"""Sniper in the live path: the simulator's ESPN scoreboard turns a game final, the engine buys
the winner's token (found by team name) in paper before the book reprices, and the repricing
delay is recorded."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from polyarb.domain.book import Side
from polyarb.sim import ScenarioConfig
from polyarb.strategies.sniper import Sniper

from .simrun import NS, fee_rate, run_against_sim, taker_fee

GAME_END_S = 1.2
# The game's market could delay marketable orders (``secondsDelay``, as sports markets in play
# do; the simulator's default is the venue's 3 s). Not here: the winner's book keeps moving
# around its last in-play level until it reprices, so after a delay an order limited at the
# price it saw misses about half of the time, which is honest but makes "buys the winner" a coin
# flip. The delay itself is tested in tests/execution/test_paper.py
# (test_a_market_taker_delay_holds_marketable_orders).
TAKER_DELAY_S = 0
REPRICE_DELAY_S = 2.5


async def test_a_game_turning_final_buys_the_winner_then_records_the_repricing(
    tmp_path: Path,
) -> None:
    scenario = ScenarioConfig(
        seed=8,
        binary_markets=1,
        negrisk_events=0,
        updates_per_s=200.0,
        closed_markets=0,
        games=1,
        game_start_s=0.2,
        game_duration_s=GAME_END_S - 0.2,
        reprice_delay_s=REPRICE_DELAY_S,
        game_taker_delay_s=TAKER_DELAY_S,
    )
    run = await run_against_sim(
        scenario,
        tmp_path,
        until_s=GAME_END_S + REPRICE_DELAY_S + 0.6,
        paper_latency_ms=20,
        sniper_enabled=True,
        sniper_leagues=("nba",),  # game 0 is an NBA game
        sniper_poll_ms=100,
        sniper_min_price=Decimal("0.01"),  # whoever won, at whatever price the game left
        sniper_order_size=Decimal(50),
    )
    engine = run.engine
    [game] = run.sim.games
    market = game.market
    assert market is not None
    winner = game.home if game.home_won() else game.away
    # The market's outcomes are the team names; the winner's token is found by its label.
    winner_token = market.token_ids[market.outcomes.index(winner.name)]

    # One attempt fills (a miss would be retried).
    sniper_reports = [(r, s) for r, s in run.reports if s.strategy == "sniper"]
    filled = [(r, s) for r, s in sniper_reports if r.outcome in ("filled", "partial")]
    assert {r.outcome for r, _ in sniper_reports} <= {"filled", "partial", "missed"}
    [(report, signal)] = filled
    assert signal.market == market.condition_id
    [leg] = signal.legs
    assert (leg.token_id, leg.side, leg.outcome) == (winner_token, Side.BUY, winner.name)
    assert report.outcome in ("filled", "partial")
    assert report.fills
    assert all(f.token_id == winner_token for f in report.fills)
    for fill in report.fills:
        assert fill.price <= Decimal("0.95")
        assert fill.fee == taker_fee(fee_rate(market), fill.price, fill.size)
    bought = sum((f.size for f in report.fills), Decimal(0))
    cost = sum((f.price * f.size + f.fee for f in report.fills), Decimal(0))
    assert engine.ledger.shares(winner_token, "sniper") == bought
    assert engine.ledger.cost_basis(winner_token, "sniper") == cost
    # Bought after the final whistle and before the book repriced.
    [taken_at] = [t for t, e in run.signals if e.signal_id == signal.signal_id]
    assert run.wall_ns(GAME_END_S) <= taken_at < run.wall_ns(GAME_END_S + REPRICE_DELAY_S)
    # The market's taker delay (none here) reached the paper executor from the venue's data.
    assert engine.markets_by_token[winner_token].taker_delay_s == TAKER_DELAY_S
    assert all(f.ts_ns >= taken_at for f in report.fills)

    [sniper] = [s for s in engine.strategies if isinstance(s, Sniper)]
    [record] = sniper.repricing_records()
    assert (record.market, record.winner, record.outcome) == (
        market.condition_id,
        winner.name,
        "repriced",
    )
    assert record.traded
    # Causal order, whatever the machine's load: the final is seen after the game ended, the
    # repricing after the venue repriced (REPRICE_DELAY_S later), never before (50 ms: the
    # estimate of the simulator's clock).
    slack = int(0.05 * NS)
    assert record.final_ns >= run.wall_ns(GAME_END_S) - slack, record
    assert record.repriced_ns is not None
    assert record.repriced_ns >= run.wall_ns(GAME_END_S + REPRICE_DELAY_S) - slack, record
    assert record.delay_ns is not None
    assert record.delay_ns > 0
