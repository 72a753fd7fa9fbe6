"""Run the engine against a ``SimServer`` the way ``polyarb run`` does, and keep what it did.

``run_against_sim`` points ``run_engine`` (the production runner: Gamma discovery, the market
WebSocket feed, the timer, the ESPN poller) at a simulator the test owns, so the test can read
the venue's truth and scenario clock. The simulator is paused until the feed has its snapshots:
scenario times (windows, faults, games) then count from a connected engine, which keeps the
tests' timing independent of how long start-up took on a loaded machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from polyarb.bus import SignalEvent
from polyarb.config import Settings, load_settings
from polyarb.domain.trading import Signal
from polyarb.engine.core import Engine
from polyarb.engine.runner import Endpoints, RunSummary, run_engine, summarize
from polyarb.execution.base import ExecutionReport
from polyarb.marketdata.feed import MarketFeed
from polyarb.sim import ScenarioConfig, SimServer
from polyarb.sim.catalog import SimMarket

NS = 1_000_000_000
STARTUP_LIMIT_S = 20.0  # a safety net: runs are stopped at their scenario time
FEE_QUANTUM = Decimal("0.00001")

ScenarioHook = Callable[[Engine, float], None]


@dataclass
class EngineRun:
    sim: SimServer
    engine: Engine
    summary: RunSummary | None = None
    signals: list[tuple[int, SignalEvent]] = field(default_factory=list)  # (wall ns, event)
    reports: list[tuple[ExecutionReport, Signal]] = field(default_factory=list)
    resumed_wall_ns: int = 0  # wall time at scenario time ``resumed_at_s``
    resumed_at_s: float = 0.0
    closed_opportunities: list[Any] = field(default_factory=list)  # what the store was given

    def wall_ns(self, scenario_s: float) -> int:
        """Wall-clock time (ns) of a scenario time (the simulator runs at speed 1)."""
        return self.resumed_wall_ns + int((scenario_s - self.resumed_at_s) * NS)

    def reports_on(self, market: str) -> list[tuple[ExecutionReport, Signal]]:
        return [(r, s) for r, s in self.reports if s.market == market]

    def taken(self) -> list[SignalEvent]:
        return [e for _, e in self.signals if e.decision == "taken"]


def sim_settings(sim: SimServer, data_dir: Path, **overrides: Any) -> Settings:
    """Settings that point every venue URL at ``sim`` (``overrides``: other settings)."""
    return load_settings(
        None,
        data_dir=data_dir,
        poly_ws_url=sim.ws_url,
        poly_clob_url=sim.clob_url,
        poly_gamma_url=sim.gamma_url,
        sniper_espn_url=sim.espn_url,
        **overrides,
    )


async def run_against_sim(
    scenario: ScenarioConfig,
    data_dir: Path,
    *,
    until_s: float,
    on_scenario_time: ScenarioHook | None = None,
    **overrides: Any,
) -> EngineRun:
    """Run ``run_engine`` against a fresh simulator until scenario second ``until_s``.

    ``overrides`` are settings (field names, e.g. ``paper_latency_ms=20``); ``on_scenario_time``
    is called every 20 ms with the engine and the scenario time once the simulator runs.
    """
    async with SimServer(scenario) as sim:
        sim.pause()
        settings = sim_settings(sim, data_dir, **overrides)
        run: EngineRun | None = None

        def ready(engine: Engine, endpoints: Endpoints) -> None:
            nonlocal run
            assert endpoints.ws_url == sim.ws_url
            run = EngineRun(sim, engine)
            captured = run
            engine.signal_sinks.append(
                lambda event: captured.signals.append((time.time_ns(), event))
            )
            engine.trade_sinks.append(
                lambda report, signal: captured.reports.append((report, signal))
            )
            drain = engine.tracker.drain_closed

            def keep_drained() -> list[Any]:
                closed = drain()
                captured.closed_opportunities.extend(closed)
                return closed

            engine.tracker.drain_closed = keep_drained  # type: ignore[method-assign]

        def on_tick(engine: Engine, feed: MarketFeed) -> None:
            assert run is not None
            if not run.resumed_wall_ns:
                if not all(s.ready for s in feed.stats.values()):
                    return
                sim.resume()
                run.resumed_wall_ns = time.time_ns()
                run.resumed_at_s = sim.scenario_time()
            if on_scenario_time is not None:
                on_scenario_time(engine, sim.scenario_time())

        started = time.perf_counter()
        task = asyncio.create_task(
            run_engine(
                settings,
                venue="polymarket",
                duration_s=until_s + STARTUP_LIMIT_S,
                on_tick=on_tick,
                tick_interval_s=0.02,
                ready=ready,
            )
        )
        # Stop at scenario second ``until_s``: cancelling runs the runner's shutdown (drain the
        # executions in flight, close the opportunity records) like a signal would.
        while not task.done() and (run is None or sim.scenario_time() < until_s):
            await asyncio.sleep(0.02)
        if task.done():
            run_summary = task.result()
        else:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert run is not None
            frames = run.engine.books.stats.frames
            run_summary = summarize(run.engine, time.perf_counter() - started, frames)
        assert run is not None, "run_engine never built its engine"
        assert run.resumed_wall_ns, "the feed never became ready"
        run.summary = run_summary
        return run


def taker_fee(rate: Decimal, price: Decimal, shares: Decimal) -> Decimal:
    """The venue's taker fee of one fill, computed here from its definition (anchors.md 4):
    rate x p x (1 - p) x shares, charged to 5 decimals rounded down (docs.polymarket.com
    trading/fees), so a fee under 0.00001 is not charged."""
    if rate == 0:
        return Decimal(0)
    return (rate * price * (1 - price) * shares).quantize(FEE_QUANTUM, rounding=ROUND_DOWN)


def fee_rate(market: SimMarket) -> Decimal:
    return market.category.fee_rate
