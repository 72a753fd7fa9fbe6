"""Risk in the live path against the simulator: a limit denies (counted by reason, recorded by
the opportunity ledger), and the kill switch engaged on the engine's risk manager stops new
trades while earlier ones stand."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from polyarb.engine.core import Engine
from polyarb.sim import ArbWindow, ScenarioConfig

from .simrun import NS, run_against_sim

KILL_AT_S = 2.0


async def test_position_limit_and_kill_switch_deny_and_are_counted(tmp_path: Path) -> None:
    # negRisk windows on three events (a binary window is a torn view, never traded).
    traded = ArbWindow(
        "negrisk", 1, start_s=0.3, duration_s=0.8, edge=Decimal("0.05"), depth=Decimal(50)
    )
    too_big = ArbWindow(
        "negrisk", 0, start_s=1.2, duration_s=0.8, edge=Decimal("0.05"), depth=Decimal(100)
    )
    halted = ArbWindow(
        "negrisk", 2, start_s=2.5, duration_s=0.6, edge=Decimal("0.05"), depth=Decimal(50)
    )
    scenario = ScenarioConfig(
        seed=21,
        binary_markets=1,
        negrisk_events=3,
        outcomes_per_event=3,
        updates_per_s=300.0,
        closed_markets=0,
        windows=(traded, too_big, halted),
        fenced_windows=True,  # each window's depth holds: the sizes below are exact
    )
    engaged_ns: list[int] = []

    def kill_switch(engine: Engine, scenario_s: float) -> None:
        if scenario_s >= KILL_AT_S and not engaged_ns:
            now = engine.clock.now_ns()
            engine.risk.engage("pytest: stop everything", "pytest", now)
            engaged_ns.append(now)

    run = await run_against_sim(
        scenario,
        tmp_path,
        until_s=3.2,
        on_scenario_time=kill_switch,
        paper_latency_ms=20,
        risk_max_position=Decimal(80),
        negrisk_max_position=Decimal(100),  # 50-set windows fit the limit, a 100-set one not
        negrisk_min_liquidity=Decimal(10),
        negrisk_min_edge=Decimal("0.02"),  # only the injected window, not chance dips
        negrisk_cooldown_ms=60_000,
        negrisk_convert_enabled=False,  # the sim's chance conversion dips are not this test's
    )
    engine, driver = run.engine, run.sim.driver
    assert driver is not None
    assert engaged_ns
    traded_market = driver.neg_risk_events[1].event_id
    halted_market = driver.neg_risk_events[2].event_id
    event_id = driver.neg_risk_events[0].event_id

    # Only the first window traded; its P&L stands.
    timeline = [
        (round((t - run.wall_ns(0)) / NS, 3), e.strategy, e.decision, e.denial)
        for t, e in run.signals
    ]
    engaged_at_s = round((engaged_ns[0] - run.wall_ns(0)) / NS, 3)
    assert [s.market for _, s in run.reports] == [traded_market], (engaged_at_s, timeline)
    [(report, _)] = run.reports
    assert report.outcome == "filled"
    assert Decimal(50) <= report.locked <= Decimal(80)  # the window's level, within the limit
    [lock] = engine.ledger.locked_sets()
    assert lock.qty == report.locked
    assert lock.cost < lock.qty  # the set pays $1 each when the event resolves

    # Each denial is counted once by its reason, everywhere it is reported.
    assert engine.risk.denials == {"position_limit": 1, "halted": 1}
    assert engine.counters.denied == 2
    assert engine.counters.taken == 1
    assert run.summary is not None
    assert run.summary.denials == engine.risk.denials
    assert dict(engine.state().counters.denials) == engine.risk.denials
    denied = {e.market: e.denial for _, e in run.signals if e.decision == "denied"}
    assert denied == {event_id: "position_limit", halted_market: "halted"}
    # The halted signal came after the switch, from the window opened after it.
    [halted_at] = [t for t, e in run.signals if e.denial == "halted"]
    assert halted_at >= engaged_ns[0]
    assert halted_at >= run.wall_ns(halted.start_s) - int(0.1 * NS)

    # The opportunity ledger keeps why each was not taken.
    outcomes = {(r.strategy, r.market): r.outcome for r in run.closed_opportunities}
    assert outcomes[("negrisk", event_id)] == "denied:position_limit"
    assert outcomes[("negrisk", halted_market)] == "denied:halted"
    assert outcomes[("negrisk", traded_market)] == "filled"
    assert engine.risk.state.value == "halted"
