"""The engine against the simulator over a real WebSocket: injected negRisk windows are found,
traded in paper with exactly the P&L their fills imply, and recorded by the opportunity ledger;
a binary "window" is a torn view (a binary market is one book) that is refreshed, never traded;
a quiet market and a frozen feed produce no trades."""

from __future__ import annotations

from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any

from polyarb.domain.book import Side
from polyarb.sim import ArbWindow, Fault, ScenarioConfig
from polyarb.strategies.opportunities import Opportunity
from polyarb.strategies.set_strategy import views_agree

from .simrun import NS, run_against_sim

FAST: dict[str, Any] = {
    "paper_latency_ms": 20,
    "sumto100_min_liquidity": Decimal(10),
    "negrisk_min_liquidity": Decimal(10),
}


def closed_records(records: list[Opportunity], strategy: str, market: str) -> list[Opportunity]:
    return [r for r in records if r.strategy == strategy and r.market == market]


# The wall time of a scenario second is computed from when the simulator was resumed; the
# simulator's own clock may run this far ahead of that estimate. Load only makes things later.
CLOCK_SLACK_NS = int(0.05 * NS)


def opened_during(
    records: list[Opportunity], strategy: str, market: str, start_ns: int, end_ns: int
) -> list[Opportunity]:
    """The records of ``market`` first seen while a window was open (``start_ns``..``end_ns``)."""
    return [
        r
        for r in closed_records(records, strategy, market)
        if start_ns - CLOCK_SLACK_NS <= r.first_seen_ns < end_ns
    ]


async def test_negrisk_windows_are_traded_with_exact_pnl_and_binary_torn_views_never(
    tmp_path: Path,
) -> None:
    binary_edge, binary_depth = Decimal("0.05"), Decimal(60)
    neg_edge, neg_depth = Decimal("0.04"), Decimal(40)
    binary = ArbWindow(
        "binary", 0, start_s=0.3, duration_s=1.5, edge=binary_edge, depth=binary_depth
    )
    negrisk = ArbWindow("negrisk", 0, start_s=0.6, duration_s=1.5, edge=neg_edge, depth=neg_depth)
    scenario = ScenarioConfig(
        seed=11,
        binary_markets=2,
        negrisk_events=1,
        outcomes_per_event=3,
        updates_per_s=400.0,
        windows=(binary, negrisk),
        fenced_windows=True,  # the window's depth holds until the engine comes: exact fills
    )
    run = await run_against_sim(
        scenario,
        tmp_path,
        until_s=2.6,
        # One attempt per window: the cooldown outlasts it.
        sumto100_cooldown_ms=60_000,
        negrisk_cooldown_ms=60_000,
        # Sized to the window's depth, every set is bought at the window's prices (beyond it
        # the average edge still clears the minimum, but the marginal sets lose money).
        sumto100_max_position=binary_depth,
        negrisk_max_position=neg_depth,
        negrisk_min_edge=Decimal("0.02"),  # the injected window only, not chance dips
        **FAST,
    )
    engine, driver = run.engine, run.sim.driver
    assert driver is not None
    market = driver.binary[0]
    yes, no = market.token_ids
    event = driver.neg_risk_events[0]
    event_yes = [m.token_ids[0] for m in event.markets]

    # --- the binary "window" is a torn view (the NO entries held back on the wire): seen,
    # refused, refreshed from REST; nothing is traded on it.
    assert run.reports_on(market.condition_id) == []
    assert not [e for _, e in run.signals if e.market == market.condition_id]
    assert engine.counters.torn_views >= 1
    assert engine.counters.refreshes >= 2  # both books of the pair
    stats = {s.name: s.stats() for s in engine.strategies}
    assert stats["sumto100"].get("torn_view", 0) >= 1
    assert stats["sumto100"].get("signals", 0) == 0
    assert stats["clipper"].get("signals", 0) == 0

    # --- the negRisk window: YES of every outcome at the window prices, held as a locked set.
    [(neg_report, neg_signal)] = run.reports_on(event.event_id)
    assert neg_signal.strategy == "negrisk"
    assert neg_report.outcome == "filled"
    assert sorted(f.token_id for f in neg_report.fills) == sorted(event_yes)
    assert all(f.size == neg_depth and f.side is Side.BUY for f in neg_report.fills)
    assert sum(f.price for f in neg_report.fills) == 1 - neg_edge
    neg_cost = sum((f.price * f.size + f.fee for f in neg_report.fills), Decimal(0))
    [lock] = engine.ledger.locked_sets()
    assert (lock.qty, lock.cost) == (neg_depth, neg_cost + Decimal("0.01"))  # + its redeem

    # The ledger: nothing realized (the locked set waits for its event), all of it in the lock.
    ledger = engine.ledger
    assert ledger.realized_pnl == 0
    assert ledger.fees_paid == sum((f.fee for f in neg_report.fills), Decimal(0))
    assert ledger.positions() == []  # everything bought was locked
    chain = Decimal("0.01")  # the locked set's redeem (CHAIN_TX_COST_USD), paid with the lock
    assert ledger.cash == ledger.starting_balance - neg_cost - chain
    assert ledger.chain_costs == chain
    assert run.summary is not None
    assert run.summary.realized_pnl == 0
    assert run.summary.torn_views == engine.counters.torn_views
    assert len(run.taken()) == 1
    # Every venue best_bid/best_ask of the run agreed with the books (windows and REST
    # refreshes included): the torn view is caught by the guard, not by the integrity check.
    agreement = engine.books.agreement()
    assert agreement.checks > 100
    assert run.summary.book_agreement == (
        f"book agreement: 100.000 % ({agreement.checks:,} of {agreement.checks:,}), 0 repairs"
    )
    # After the window the books are one book again.
    assert views_agree(engine.books.books[yes], engine.books.books[no])

    # --- the opportunity ledger: the torn view is a record with that outcome, closed by the
    # refresh long before the wire's NO view caught up; the negRisk window's record is filled.
    records = run.closed_opportunities + engine.tracker.drain_closed()
    torn = [r for r in records if r.market == market.condition_id]
    assert torn
    assert {r.outcome for r in torn} == {"torn_view"}
    binary_closed = run.wall_ns(binary.start_s + binary.duration_s)
    assert min(r.closed_ns for r in torn) < binary_closed - int(0.5 * NS)
    # (Independent negRisk books can also dip below 1 by chance; those are other records.)
    neg_opened = run.wall_ns(negrisk.start_s)
    neg_closed = run.wall_ns(negrisk.start_s + negrisk.duration_s)
    [neg_record] = opened_during(records, "negrisk", event.event_id, neg_opened, neg_closed)
    assert neg_record.outcome == "filled"
    assert neg_record.signal_ids
    # Causal order, whatever the machine's load: seen once the window opened and before it
    # closed; closed no earlier than the venue closed the window.
    assert neg_opened - CLOCK_SLACK_NS <= neg_record.first_seen_ns < neg_closed
    assert neg_record.first_seen_ns <= neg_record.last_seen_ns <= neg_record.closed_ns
    assert neg_record.closed_ns >= neg_closed - CLOCK_SLACK_NS
    # No fees on this event; the set's redeem (CHAIN_TX_COST_USD $0.01) is spread over its sets.
    assert neg_record.best_edge == neg_edge - (Decimal("0.01") / neg_depth).quantize(
        Decimal("1e-8"), rounding=ROUND_UP
    )
    report_by_strategy = engine.tracker.report()
    assert report_by_strategy["negrisk"].by_outcome.get("filled") == 1
    assert report_by_strategy["sumto100"].by_outcome.get("torn_view", 0) >= 1


async def test_no_window_no_trade(tmp_path: Path) -> None:
    """Binary books are one matching book seen twice: YES ask + NO ask never drops below 1."""
    scenario = ScenarioConfig(
        seed=3, binary_markets=4, negrisk_events=0, updates_per_s=500.0, closed_markets=0
    )
    run = await run_against_sim(scenario, tmp_path, until_s=1.5, **FAST)
    engine = run.engine
    stats = {s.name: s.stats() for s in engine.strategies}
    assert stats["sumto100"].get("evaluations", 0) > 100  # the books were really evaluated
    assert stats["sumto100"].get("no_edge", 0) > 100
    assert run.signals == []
    assert run.reports == []
    assert engine.counters.signals == 0
    assert engine.ledger.positions() == []
    assert all(r.opened == 0 for r in engine.tracker.report().values())


async def test_frozen_feed_trades_nothing_during_the_freeze(tmp_path: Path) -> None:
    """A window stays open across a freeze: no signal may come from the aging books."""
    window = ArbWindow(
        "negrisk", 0, start_s=0.3, duration_s=3.2, edge=Decimal("0.05"), depth=Decimal(60)
    )
    freeze = Fault("freeze", at_s=0.8, duration_s=1.8)
    scenario = ScenarioConfig(
        seed=5,
        binary_markets=1,
        negrisk_events=1,
        outcomes_per_event=3,
        updates_per_s=300.0,
        closed_markets=0,
        windows=(window,),
        faults=(freeze,),
        fenced_windows=True,
    )
    run = await run_against_sim(
        scenario,
        tmp_path,
        until_s=3.8,
        negrisk_cooldown_ms=300,
        negrisk_max_book_age_ms=300,
        negrisk_min_edge=Decimal("0.03"),  # the injected window only, not chance dips
        sumto100_enabled=False,
        clipper_enabled=False,
        **FAST,
    )
    engine = run.engine
    frozen_from = run.wall_ns(freeze.at_s) + int(0.4 * NS)  # the book age limit plus a margin
    frozen_to = run.wall_ns(freeze.at_s + freeze.duration_s) - int(0.05 * NS)
    assert run.taken(), "the window should be traded before the freeze"
    during = [(t, e) for t, e in run.signals if frozen_from <= t <= frozen_to]
    assert during == []
    # The cooldown ended during the freeze: the timer re-evaluated and refused the old books.
    assert engine.strategies[0].name == "negrisk"
    assert engine.strategies[0].stats().get("too_old", 0) >= 1
