"""Replay throughput with every strategy on, beside decode + book alone, on the same recording.

Generates a seeded recording (``polyarb.sim.scenario.generate_recording``: plain binary markets
and negRisk events of 4 outcomes, 1-5 level changes per frame, trades, re-sent books), then
times in the same run, in CPU seconds of this process:

  from disk, book only       marketdata.replay.replay() into a BookStore (gzip + lines included)
  from disk, strategies      engine.runner.run_replay_trading() with SumTo100, Clipper, NegRisk
                             and Sniper on and the paper executor (what ``polyarb replay
                             --signals-out`` runs)
  in memory, book only       BookStore.on_frame over the frames held in memory
  in memory, strategies      Engine.on_frame over the same frames (ReplayClock): decode + book +
                             the strategies watching what changed + risk + dispatch

and the per-frame split: what the engine adds on top of decode + book, against the book update
itself (target: strategies cost less than the book update they follow).

    .venv/bin/python bench/bench_replay_strategies.py [--frames 200000] [--markets 300]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import structlog

from bench_decision import CostSplit  # this folder is on sys.path when run as a script
from polyarb.config import Settings, load_settings
from polyarb.domain.clock import ReplayClock
from polyarb.engine.core import Engine
from polyarb.engine.runner import RunSummary, run_replay_trading
from polyarb.marketdata.books import BookStore
from polyarb.marketdata.gamma import MarketFilter, Universe, events_from_markets, select_universe
from polyarb.marketdata.recorder import (
    iter_recording,
    load_recording_events,
    load_recording_markets,
)
from polyarb.marketdata.replay import ReplaySummary, replay
from polyarb.sim.scenario import generate_recording


def settings(data_dir: Path, markets: int) -> Settings:
    return load_settings(
        None,
        data_dir=data_dir,
        sumto100_enabled=True,
        clipper_enabled=True,
        negrisk_enabled=True,
        sniper_enabled=True,
        markets_max=max(200, markets * 2),
    )


def universe_of(recording: Path, config: Settings) -> Universe:
    """The universe ``run_replay_trading`` trades (negRisk sets rebuilt like it does)."""
    raw_markets = load_recording_markets(recording)
    raw_events = load_recording_events(recording)
    if raw_events is None:
        raw_events = events_from_markets(raw_markets)
    return select_universe(raw_markets, raw_events, MarketFilter.from_settings(config))


def register_like_engine(store: BookStore, engine: Engine) -> None:
    for token_id, book in engine.books.books.items():
        store.register(token_id, book.market, book.tick)


def from_disk_books(recording: Path, engine: Engine) -> tuple[float, ReplaySummary]:
    store = BookStore()
    register_like_engine(store, engine)
    started = time.process_time()
    summary = replay(recording, store)
    return time.process_time() - started, summary


def from_disk_strategies(recording: Path, config: Settings) -> tuple[float, RunSummary]:
    started = time.process_time()
    summary = asyncio.run(run_replay_trading(config, recording))
    return time.process_time() - started, summary


def in_memory_books(frames: list[tuple[int, str]], engine: Engine) -> float:
    store = BookStore()
    register_like_engine(store, engine)
    on_frame = store.on_frame
    started = time.process_time()
    for recv_ns, raw in frames:
        on_frame(raw, recv_ns)
    return time.process_time() - started


async def in_memory_strategies(
    frames: list[tuple[int, str]], config: Settings, universe: Universe, *, split: bool = False
) -> tuple[float, Engine, CostSplit | None]:
    """Engine.on_frame over the frames; ``split`` times the hot path's parts (a second pass:
    the wrappers add a little overhead)."""
    clock = ReplayClock(frames[0][0])
    engine = Engine(config, universe, clock=clock, instance_id="bench")
    parts = CostSplit(engine) if split else None
    on_frame = engine.on_frame
    wall = time.perf_counter_ns
    started = time.process_time()
    for count, (recv_ns, raw) in enumerate(frames, 1):
        if clock.advance(recv_ns) or engine._tasks:
            await asyncio.sleep(0)  # executions waiting on the replay clock
        if parts is None:
            on_frame(raw, recv_ns)
        else:
            taken = engine.counters.taken
            frame_started = wall()
            on_frame(raw, recv_ns)
            parts.end_frame(wall() - frame_started, engine.counters.taken > taken)
        if count % 5000 == 0:
            engine.on_timer()
    elapsed = time.process_time() - started
    engine.paused = True
    for task in list(engine._tasks):
        task.cancel()
    await asyncio.gather(*engine._tasks, return_exceptions=True)
    return elapsed, engine, parts


def line(label: str, seconds: float, frames: int, events: int) -> str:
    return (
        f"{label:<26} {frames / seconds:>10,.0f} frames/s {events / seconds:>11,.0f} events/s "
        f"{seconds * 1e6 / frames:>8.2f} µs/frame  ({seconds:.2f} CPU s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--markets", type=int, default=300)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))

    with tempfile.TemporaryDirectory() as tmp:
        recording = generate_recording(
            Path(tmp) / "rec", frames=args.frames, markets=args.markets, seed=5
        )
        config = settings(Path(tmp) / "data", args.markets)
        universe = universe_of(recording, config)
        probe = Engine(config, universe, clock=ReplayClock(), instance_id="probe")
        frames = list(iter_recording(recording))
        print(
            f"recording: {len(frames)} frames, {len(universe.markets)} markets "
            f"({len(universe.events)} complete negRisk events), {len(probe.books.books)} books; "
            f"strategies: {', '.join(s.name for s in probe.strategies)}"
        )

        gc.collect()
        disk_books_s, book_summary = from_disk_books(recording, probe)
        events = book_summary.events
        gc.collect()
        disk_all_s, run_summary = from_disk_strategies(recording, config)
        gc.collect()
        memory_books_s = in_memory_books(frames, probe)
        gc.collect()
        memory_all_s, engine, _ = asyncio.run(in_memory_strategies(frames, config, universe))
        gc.collect()
        _, _, parts = asyncio.run(in_memory_strategies(frames, config, universe, split=True))

    n = len(frames)
    print(line("from disk, book only", disk_books_s, n, events))
    print(line("from disk, strategies", disk_all_s, n, events))
    print(line("in memory, book only", memory_books_s, n, events))
    print(line("in memory, strategies", memory_all_s, n, events))
    print(
        f"run_replay_trading: {run_summary.signals} signals, {run_summary.taken} taken, "
        f"{run_summary.fills} fills, realized {run_summary.realized_pnl} $; in memory: "
        f"{engine.counters.evaluations} strategy evaluations ({engine.counters.evaluations / n:.2f}"
        f"/frame), {engine.counters.signals} signals"
    )
    book_us = memory_books_s * 1e6 / n
    added_us = (memory_all_s - memory_books_s) * 1e6 / n
    print(
        f"per frame (in memory): decode + book {book_us:.2f} µs, strategies + risk + engine "
        f"{added_us:.2f} µs = {Decimal(added_us / book_us).quantize(Decimal('0.01'))}x the book "
        f"update (target < 1x); whole replay from disk costs "
        f"{disk_all_s / disk_books_s:.2f}x the book-only replay"
    )
    if parts is not None:
        print(f"\ncost split, in memory ({parts.frames} frames, wall time, parts wrapped):")
        print(parts.table())


if __name__ == "__main__":
    main()
