"""Hand-made market-channel frames and recordings for engine tests.

Frames follow the venue's wire format (polymarket_protocol.md): numbers as decimal strings, book
levels best LAST (bids ascending, asks descending). Markets come from the simulator's Gamma
listing so that they parse exactly as discovered ones do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from polyarb.config import Settings, load_settings
from polyarb.domain.clock import ReplayClock
from polyarb.engine.core import Engine
from polyarb.marketdata.gamma import MarketFilter, Universe, events_from_markets, select_universe
from polyarb.marketdata.recorder import Recorder
from polyarb.sim import ScenarioConfig
from polyarb.sim.generator import ScenarioDriver, build_scenario
from polyarb.strategies.set_strategy import SetStrategy

EPOCH = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
EPOCH_NS = int(EPOCH.timestamp()) * 1_000_000_000
MS = 1_000_000
Levels = Sequence[tuple[str, str]]  # (price, size), best first


def independent_books(engine: Engine) -> Engine:
    """Turn the binary strategies' torn-view guard off for HAND-MADE books that are not one
    matching book: for tests whose point is not binary arbitrage (merges, risk after a merge).
    On the venue a binary market's two books always agree; no setting reaches this."""
    for strategy in engine.strategies:
        if isinstance(strategy, SetStrategy):
            strategy.independent_books = True
    return engine


def replay_with_independent_books(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_replay_trading`` builds its own engine: make it one whose binary strategies read
    hand-made books as independent books (``independent_books``), for sizing tests that are
    not about torn views. The replay path is otherwise the users' one."""
    import polyarb.engine.runner as runner

    def engine(*args: Any, **kwargs: Any) -> Engine:
        return independent_books(Engine(*args, **kwargs))

    monkeypatch.setattr(runner, "Engine", engine)


def sim_driver(**config: Any) -> ScenarioDriver:
    return build_scenario(ScenarioConfig(**config), epoch=EPOCH)


def universe_of(raw_markets: list[dict[str, Any]], settings: Settings) -> Universe:
    """The universe a replay of these markets trades (negRisk sets rebuilt as it does)."""
    events = events_from_markets(raw_markets)
    return select_universe(raw_markets, events, MarketFilter.from_settings(settings))


def book(token_id: str, market: str, bids: Levels, asks: Levels, ts_ms: int) -> dict[str, Any]:
    """A ``book`` snapshot; ``bids``/``asks`` are given best first."""
    return {
        "event_type": "book",
        "asset_id": token_id,
        "market": market,
        "bids": [{"price": p, "size": s} for p, s in reversed(bids)],
        "asks": [{"price": p, "size": s} for p, s in reversed(asks)],
        "timestamp": str(ts_ms),
        "hash": "0" * 40,
    }


def price_change(
    market: str, ts_ms: int, changes: Iterable[tuple[str, str, str, str]]
) -> dict[str, Any]:
    """Level updates: (token id, "BUY"/"SELL", price, new size; "0" removes the level)."""
    return {
        "event_type": "price_change",
        "market": market,
        "timestamp": str(ts_ms),
        "price_changes": [
            {"asset_id": t, "side": side, "price": p, "size": s} for t, side, p, s in changes
        ],
    }


def text(message: dict[str, Any] | list[dict[str, Any]]) -> str:
    return json.dumps(message)


def write_recording(
    path: Path, raw_markets: list[dict[str, Any]], frames: Iterable[tuple[int, str]]
) -> Path:
    with Recorder(path) as recorder:
        recorder.write_markets(raw_markets)
        for recv_ns, raw in frames:
            recorder.write(recv_ns, raw)
    return path


def record_scenario(path: Path, driver: ScenarioDriver, seconds: float) -> int:
    """Record ``seconds`` of a scenario (its windows included) as the live feed would have
    received it: the subscription snapshot, then every frame 5 ms after its venue timestamp."""
    start_ns = driver.start_ms * MS
    tokens = driver.venue.catalog.live_token_ids()
    frames = [(start_ns + 40 * MS, driver.venue.snapshot_text(tokens, driver.start_ms))]
    last = frames[0][0]
    for frame in driver.advance_to(seconds):
        last = max(frame.ts_ms * MS + 5 * MS, last + 1_000)
        frames.append((last, frame.text))
    write_recording(path, driver.gamma_markets(), frames)
    return len(frames)


class EngineDriver:
    """Feeds frames to an ``Engine`` on a ``ReplayClock`` exactly as ``run_replay_trading`` does:
    time moves to each frame's receive time (waking executions whose latency is over) before
    the frame is applied."""

    def __init__(
        self, settings: Settings, universe: Universe, start_ns: int = EPOCH_NS, **engine: Any
    ) -> None:
        self.clock = ReplayClock(start_ns)
        self.engine = Engine(settings, universe, clock=self.clock, instance_id="test", **engine)

    async def frame(self, recv_ns: int, raw: str) -> None:
        if self.clock.advance(recv_ns):
            await self._run_tasks()
        self.engine.on_frame(raw, recv_ns)
        await self._run_tasks()

    async def settle(self) -> None:
        """Let every execution in flight finish (advancing time to each wake-up)."""
        while self.engine._tasks:
            deadline = self.clock.next_deadline_ns()
            self.clock.advance(deadline if deadline is not None else self.clock.now_ns() + MS)
            await self._run_tasks()

    async def _run_tasks(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)


def record_windows(
    path: Path, seconds: float = 12.0, *, negrisk_events: int = 1, fenced: bool = False
) -> Path:
    """``seconds`` of a simulator scenario with a window every 1.5 s (binary torn views and
    negRisk windows in turn), recorded at ``path``: a recording the strategies trade.
    ``fenced``: nothing else touches a window's markets while it is open (exact depth)."""
    driver = sim_driver(
        seed=17,
        binary_markets=3,
        negrisk_events=negrisk_events,
        outcomes_per_event=3,
        updates_per_s=300.0,
        window_every_s=1.5,
        closed_markets=0,
        fenced_windows=fenced,
    )
    record_scenario(path, driver, seconds)
    return path


def bare_engine(tmp_path: Path) -> tuple[Engine, list[tuple[str, str, str]]]:
    """An engine with no markets (paper, replay clock), and the errors it emits."""
    settings = load_settings(None, data_dir=tmp_path)
    universe = select_universe([], [], MarketFilter.from_settings(settings))
    built = Engine(settings, universe, clock=ReplayClock())
    errors: list[tuple[str, str, str]] = []
    built.error_sinks.append(lambda source, kind, message: errors.append((source, kind, message)))
    return built, errors
