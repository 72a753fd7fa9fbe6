"""Tick-to-decision latency in the live path, against the simulator over a real WebSocket.

The engine is wired as ``run_engine`` wires it (Gamma discovery, one MarketFeed connection
calling ``Engine.on_update``, the 250 ms timer, a MemoryBus with the 10 Hz state publisher), to a
``SimServer`` in this process opening an arbitrage window every ``--window-every`` seconds.
Cooldowns are 0 and the risk limits wide, so every frame of a market inside a window yields a
decision (re-signals find the liquidity already taken by the paper overlay and miss: the
decision path is the same). Printed, from the same run:

  tick-to-decision   engine.counters.decision_ns: from the moment the websockets library handed
                     the frame to polyarb (the feed's recv_ns) until the order command is issued
                     (Engine._dispatch, just before execution is called); all samples, and only
                     those triggered by a frame (the timer's re-evaluations are stamped "now")
  publish -> recv    the wire: from the simulator publishing a frame (MarketChannel fan-out to
                     the connections' queues) until the feed's recv_ns, both wall clock; this is
                     where Nagle's algorithm showed (tens of ms) before the sockets had
                     TCP_NODELAY. Not part of tick-to-decision, which starts at recv_ns
  decode + book      BookStore.on_frame alone on the frames recorded by the feed's on_frame
                     callback in that run: all frames, and the frames that led to a decision
  engine.on_frame    the same frames replayed through a fresh Engine (ReplayClock): decode +
                     book + strategies + risk + dispatch, i.e. the hot path without the socket

Target: p99 tick-to-decision <= 200 µs (done under 1 ms). ``--profile`` adds a cProfile of the
replayed hot path: the top functions by own time, in µs per decision frame. ``--metrics`` wires
the Prometheus metrics as ``polyarb run`` does (the collector and the event sinks, on both the
live and the replayed engine) and scrapes the live one every ``--scrape-every`` seconds (1 s:
15 times what a usual Prometheus does), printing what a scrape costs: run with and without it
to see what metrics cost the hot path.

    .venv/bin/python bench/bench_decision.py [--seconds 20] [--profile] [--metrics]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import logging
import pstats
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import structlog
from prometheus_client import generate_latest

from polyarb.bus import Bus, SignalEvent, StatePublisher, make_bus
from polyarb.config import Settings, load_settings
from polyarb.domain.clock import ReplayClock, WallClock
from polyarb.engine.core import Engine
from polyarb.engine.gc_pacing import GcPacer
from polyarb.engine.metrics import Watched, build_registry
from polyarb.marketdata.books import BookStore
from polyarb.marketdata.feed import FeedConfig, MarketFeed
from polyarb.marketdata.gamma import GammaClient, MarketFilter, Universe, discover
from polyarb.sim import ScenarioConfig, SimServer

TIMER_INTERVAL_S = 0.25
WIDE = Decimal(10) ** 9
# Paper trading held back by nothing but the strategies: no cooldowns, risk limits out of reach.
UNBOUNDED_PAPER: dict[str, object] = {
    "sniper_enabled": False,
    "paper_latency_ms": 20,
    "sumto100_cooldown_ms": 0,
    "negrisk_cooldown_ms": 0,
    "risk_max_position": WIDE,
    "risk_max_notional": WIDE,
    "risk_max_exposure": WIDE,
    "risk_max_daily_loss": WIDE,
    "risk_max_orders_per_minute": 10**9,
    "paper_starting_balance": WIDE,
}


def percentiles(samples_ns: Sequence[int]) -> str:
    if not samples_ns:
        return "no samples"
    ordered = sorted(samples_ns)

    def rank(p: float) -> float:  # nearest rank, in µs
        return ordered[max(0, -int(-p * len(ordered) // 100) - 1)] / 1000

    return (
        f"n={len(ordered):>6}  p50 {rank(50):8.1f} µs  p90 {rank(90):8.1f} µs  "
        f"p99 {rank(99):8.1f} µs  max {ordered[-1] / 1000:9.1f} µs"
    )


def bench_settings(data_dir: Path, urls: str, **overrides: object) -> Settings:
    """Paper settings with zero cooldowns and wide risk limits, for a simulator at ``urls``
    (its ``http://host:port``)."""
    return load_settings(
        None,
        data_dir=data_dir,
        poly_ws_url=f"ws{urls.removeprefix('http')}/ws/market",
        poly_clob_url=urls,
        poly_gamma_url=f"{urls}/gamma",
        sumto100_min_liquidity=Decimal(10),
        **UNBOUNDED_PAPER,
        **overrides,
    )


async def engine_timer(engine: Engine, pacer: GcPacer) -> None:
    """As run_engine's timer: the tick's work, then the paced collection."""
    while True:
        await asyncio.sleep(TIMER_INTERVAL_S)
        engine.on_timer()
        pacer.on_timer()


async def stop_engine(
    engine: Engine, bus: Bus, pacer: GcPacer, tasks: list[asyncio.Task[None]]
) -> None:
    """Stop a live engine's tasks, let its executions finish, close its bus."""
    pacer.stop()
    engine.paused = True
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await engine.drain()
    await bus.close()


class LiveRun:
    def __init__(self) -> None:
        self.frames: list[tuple[int, str]] = []
        self.taken: list[SignalEvent] = []
        self.engine: Engine | None = None
        self.universe: Universe | None = None
        self.settings: Settings | None = None
        self.scrape_ns: list[int] = []
        self.published_ns: dict[str, int] = {}  # frame text -> when the simulator published it
        # (generation, start, end) of each collection during the live run: wall clock ns,
        # the clock of recv_ns, so a pause can be placed inside a decision's window
        self.gc_pauses: list[tuple[int, int, int]] = []
        self._gc_started = 0

    def watch_gc(self, phase: str, info: dict[str, int]) -> None:
        """A gc.callbacks hook: when every collection of the live run started and ended."""
        if phase == "start":
            self._gc_started = time.time_ns()
        else:
            self.gc_pauses.append((info["generation"], self._gc_started, time.time_ns()))

    def decisions_with_gc(self, decision_ns: Sequence[int], frame_driven: bool) -> str:
        """Decisions whose tick-to-decision window (recv_ns .. decision) held a collection."""
        pauses = [(start, end) for _, start, end in self.gc_pauses]
        frame_times = {recv_ns for recv_ns, _ in self.frames}
        hit = n = 0
        for ns, event in zip(decision_ns, self.taken, strict=True):
            if frame_driven and event.ts_recv_ns not in frame_times:
                continue
            n += 1
            begin, end = event.ts_recv_ns, event.ts_recv_ns + ns
            hit += any(start < end and stop > begin for start, stop in pauses)
        return f"{hit} of {n}"

    def watch_publishing(self, sim: SimServer) -> None:
        """Stamp each frame as the simulator's channel fans it out (wall clock, like recv_ns)."""
        fan_out = sim.channel._fan_out
        published, now = self.published_ns, time.time_ns

        def stamped(text: str, assets: tuple[str, ...]) -> None:
            published.setdefault(text, now())
            fan_out(text, assets)

        sim.channel._fan_out = stamped  # type: ignore[method-assign]

    def wire_ns(self) -> list[int]:
        """publish -> recv per received frame the simulator published (not the snapshots)."""
        published = self.published_ns
        return [recv - published[raw] for recv, raw in self.frames if raw in published]

    def on_frame(self, recv_ns: int, raw: str) -> None:
        self.frames.append((recv_ns, raw))

    def on_signal(self, event: SignalEvent) -> None:
        if event.decision == "taken":
            self.taken.append(event)


async def live(
    seconds: float,
    scenario: ScenarioConfig,
    data_dir: Path,
    scrape_every_s: float | None,
    paced_gc: bool = False,
) -> LiveRun:
    run = LiveRun()
    async with SimServer(scenario) as sim:
        run.watch_publishing(sim)
        settings = bench_settings(data_dir, sim.clob_url)
        async with GammaClient(sim.gamma_url, timeout_s=10) as gamma:
            universe = await discover(gamma, MarketFilter.from_settings(settings))
        bus = make_bus(None, "bench")
        await bus.start()
        engine = Engine(settings, universe, clock=WallClock(), bus=bus, instance_id="bench")
        engine.signal_sinks.append(run.on_signal)
        run.engine, run.universe, run.settings = engine, universe, settings
        feed = MarketFeed(
            sim.ws_url,
            universe.token_ids(),
            engine.books,
            FeedConfig(rest_check_interval_s=0, assets_per_connection=500),
            on_frame=run.on_frame,
            on_update=engine.on_update,
        )

        pacer = GcPacer()  # collects only once started (paced_gc)

        async def scraper(every_s: float) -> None:
            registry = build_registry(Watched(engine, feed, bus))
            while True:
                await asyncio.sleep(every_s)
                started = time.perf_counter_ns()
                generate_latest(registry)
                run.scrape_ns.append(time.perf_counter_ns() - started)

        tasks = [
            asyncio.create_task(feed.run()),
            asyncio.create_task(engine_timer(engine, pacer)),
            asyncio.create_task(StatePublisher(bus, engine.state).run()),
        ]
        if scrape_every_s is not None:
            tasks.append(asyncio.create_task(scraper(scrape_every_s)))
        try:
            await feed.wait_ready(30)
            if paced_gc:
                pacer.start()
            gc.callbacks.append(run.watch_gc)
            await asyncio.sleep(seconds)
        finally:
            gc.callbacks.remove(run.watch_gc)
            await stop_engine(engine, bus, pacer, tasks)
    return run


def books_cost(run: LiveRun) -> list[int]:
    """BookStore.on_frame alone, per recorded frame (ns), books registered like the engine's."""
    assert run.engine is not None
    store = BookStore()
    for token_id, book in run.engine.books.books.items():
        store.register(token_id, book.market, book.tick)
    out = []
    clock = time.perf_counter_ns
    for recv_ns, raw in run.frames:
        started = clock()
        store.on_frame(raw, recv_ns)
        out.append(clock() - started)
    return out


async def engine_cost(
    run: LiveRun, profiler: cProfile.Profile | None, metrics: bool = False
) -> tuple[list[int], list[int], int]:
    """Engine.on_frame per recorded frame on a replay clock: wall ns, this thread's CPU ns (no
    preemption by other processes), and the number of decisions taken."""
    assert run.settings is not None
    assert run.universe is not None
    clock = ReplayClock(run.frames[0][0] if run.frames else 0)
    engine = Engine(run.settings, run.universe, clock=clock, instance_id="replay")
    if metrics:
        build_registry(Watched(engine))
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    wall_out, cpu_out = [], []
    if profiler is not None:
        profiler.enable()
    for recv_ns, raw in run.frames:
        clock.advance(recv_ns)
        await asyncio.sleep(0)  # let executions whose latency is over finish
        started, started_cpu = wall(), cpu()
        engine.on_frame(raw, recv_ns)
        cpu_out.append(cpu() - started_cpu)
        wall_out.append(wall() - started)
    if profiler is not None:
        profiler.disable()
    engine.paused = True
    for task in list(engine._tasks):
        task.cancel()
    await asyncio.gather(*engine._tasks, return_exceptions=True)
    return wall_out, cpu_out, engine.counters.taken


class CostSplit:
    """Wall time inside the hot path's parts, per frame: each part is wrapped on the engine's
    own objects (instance attributes), so the engine code runs unchanged."""

    def __init__(self, engine: Engine) -> None:
        self.current: dict[str, int] = {}
        self.all: dict[str, int] = {}
        self.decisions: dict[str, int] = {}
        self.frames = 0
        self.decision_frames = 0
        self._wrap(engine.books, "on_frame", "decode + book")
        self._wrap(engine.execution, "on_book", "paper overlay (execution.on_book)")
        for strategy in engine.strategies:
            self._wrap(strategy, "on_book", f"strategy {strategy.name}.on_book")
        self._wrap(engine.tracker, "observe", "opportunity ledger (tracker.observe)")
        self._wrap(engine.tracker, "resolve", "opportunity ledger (tracker.resolve)")
        self._wrap(engine.risk, "check", "risk.check")
        self._wrap(engine.risk, "on_submit", "risk.on_submit")

    def _wrap(self, obj: object, name: str, label: str) -> None:
        inner = getattr(obj, name)
        clock = time.perf_counter_ns
        current = self.current

        def timed(*args: object, **kwargs: object) -> object:
            started = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                current[label] = current.get(label, 0) + clock() - started

        setattr(obj, name, timed)

    def end_frame(self, total_ns: int, decided: bool) -> None:
        self.current["whole engine.on_frame"] = total_ns
        self.frames += 1
        self.decision_frames += decided
        for label, ns in self.current.items():
            self.all[label] = self.all.get(label, 0) + ns
            if decided:
                self.decisions[label] = self.decisions.get(label, 0) + ns
        self.current.clear()

    def table(self) -> str:
        """Wall time per part (a loaded machine inflates all of them alike: read the shares)."""
        whole = max(self.all.get("whole engine.on_frame", 0), 1)
        whole_decisions = max(self.decisions.get("whole engine.on_frame", 0), 1)
        lines = [f"{'µs/frame':>9} {'share':>6} {'µs/decision frame':>18} {'share':>6}  part"]
        for label, ns in sorted(self.all.items(), key=lambda kv: -kv[1]):
            per_frame = ns / max(self.frames, 1) / 1000
            decided = self.decisions.get(label, 0)
            per_decision = decided / max(self.decision_frames, 1) / 1000
            lines.append(
                f"{per_frame:9.1f} {ns / whole:6.0%} {per_decision:18.1f} "
                f"{decided / whole_decisions:6.0%}  {label}"
            )
        return "\n".join(lines)


async def cost_split(run: LiveRun) -> CostSplit:
    """The same frames through a fresh engine with its parts timed (no profiler overhead)."""
    assert run.settings is not None
    assert run.universe is not None
    clock = ReplayClock(run.frames[0][0] if run.frames else 0)
    engine = Engine(run.settings, run.universe, clock=clock, instance_id="split")
    split = CostSplit(engine)
    wall = time.perf_counter_ns
    for recv_ns, raw in run.frames:
        clock.advance(recv_ns)
        await asyncio.sleep(0)
        taken = engine.counters.taken
        started = wall()
        engine.on_frame(raw, recv_ns)
        split.end_frame(wall() - started, engine.counters.taken > taken)
    engine.paused = True
    for task in list(engine._tasks):
        task.cancel()
    await asyncio.gather(*engine._tasks, return_exceptions=True)
    return split


def top_costs(profiler: cProfile.Profile, frames: int, limit: int = 25) -> str:
    """The functions with the most own time, in µs per frame (cProfile inflates small calls)."""
    stats = pstats.Stats(profiler)
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(file).name}:{line}({name})" if line else name
        rows.append((own, cumulative, calls, where))
    rows.sort(reverse=True)
    per = max(frames, 1)
    lines = [f"{'own µs/fr':>10} {'cum µs/fr':>10} {'calls/fr':>9}  function"]
    for own, cumulative, calls, where in rows[:limit]:
        lines.append(
            f"{own * 1e6 / per:10.2f} {cumulative * 1e6 / per:10.2f} {calls / per:9.2f}  {where}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--updates-per-s", type=float, default=400.0)
    parser.add_argument("--window-every", type=float, default=0.5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--metrics", action="store_true", help="wire and scrape the metrics")
    parser.add_argument("--scrape-every", type=float, default=1.0)
    parser.add_argument(
        "--gc",
        choices=("auto", "paced"),
        default="paced",
        help="paced: gc.freeze() after start-up and collections from the 250 ms timer, as "
        "`polyarb run` does (engine/gc_pacing.py); auto: CPython's allocation-count collector",
    )
    args = parser.parse_args()
    # Info lines (one per paper execution) would drown the figures; nothing logs before the
    # decision point, so the measurement is the same.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))

    scenario = ScenarioConfig(
        seed=42,
        binary_markets=6,
        negrisk_events=2,
        outcomes_per_event=4,
        updates_per_s=args.updates_per_s,
        window_every_s=args.window_every,
        closed_markets=0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        scrape_every = args.scrape_every if args.metrics else None
        run = asyncio.run(
            live(args.seconds, scenario, Path(tmp), scrape_every, paced_gc=args.gc == "paced")
        )
    engine = run.engine
    assert engine is not None
    samples = list(engine.counters.decision_ns)
    frame_times = {recv_ns for recv_ns, _ in run.frames}
    # decision_ns and the "taken" signal events are appended in the same order, one each.
    by_frame = [
        ns for ns, event in zip(samples, run.taken, strict=True) if event.ts_recv_ns in frame_times
    ]
    decision_frames = {e.ts_recv_ns for e in run.taken} & frame_times

    gc.collect()
    book_ns = books_cost(run)
    decision_book_ns = [
        ns
        for (recv_ns, _), ns in zip(run.frames, book_ns, strict=True)
        if recv_ns in decision_frames
    ]
    profiler = cProfile.Profile() if args.profile else None
    engine_ns, engine_cpu_ns, replay_decisions = asyncio.run(
        engine_cost(run, profiler, args.metrics)
    )

    def at_decisions(values: list[int]) -> list[int]:
        pairs = zip(run.frames, values, strict=True)
        return [ns for (recv_ns, _), ns in pairs if recv_ns in decision_frames]

    print(
        f"live run: {args.seconds:g} s, {len(run.frames)} frames, "
        f"{engine.counters.signals} signals, {engine.counters.taken} taken, "
        f"{engine.counters.denied} denied, {engine.counters.fills} fills, "
        f"{len(engine.universe.markets)} markets"
    )
    print(f"garbage collector: {args.gc}")
    print(f"tick-to-decision, all          {percentiles(samples)}")
    print(f"tick-to-decision, frame-driven {percentiles(by_frame)}")
    print(f"sim publish -> feed recv       {percentiles(run.wire_ns())}")
    print(f"decode + book, all frames      {percentiles(book_ns)}")
    print(f"decode + book, decision frames {percentiles(decision_book_ns)}")
    print(f"engine.on_frame, all frames    {percentiles(engine_ns)}")
    print(f"engine.on_frame, decision fr.  {percentiles(at_decisions(engine_ns))}")
    print(f"  same, thread CPU time, all   {percentiles(engine_cpu_ns)}")
    print(f"  same, thread CPU, decision   {percentiles(at_decisions(engine_cpu_ns))}")
    book_mean = sum(book_ns) / max(len(book_ns), 1) / 1000
    engine_mean = sum(engine_cpu_ns) / max(len(engine_cpu_ns), 1) / 1000
    print(
        f"mean per frame: decode + book {book_mean:.1f} µs, whole hot path {engine_mean:.1f} µs "
        f"(CPU): strategies + risk + dispatch = {engine_mean - book_mean:.1f} µs "
        f"({(engine_mean - book_mean) / book_mean:.1f}x the book update)"
    )
    print(f"(the replay of the same frames took {replay_decisions} decisions)")
    for generation in (0, 1, 2):
        pauses = [end - start for g, start, end in run.gc_pauses if g == generation]
        print(f"GC pauses, generation {generation}, live  {percentiles(pauses)}")
    print(
        "decisions with a GC pause inside their window: "
        f"frame-driven {run.decisions_with_gc(samples, True)}, "
        f"all {run.decisions_with_gc(samples, False)}"
    )
    if args.metrics:
        every = f"every {args.scrape_every:g} s"
        print(f"metrics scrape (generate_latest), {every} {percentiles(run.scrape_ns)}")
    split = asyncio.run(cost_split(run))
    print(f"\ncost split, same frames ({split.frames}, {split.decision_frames} with a decision):")
    print(split.table())
    if profiler is not None:
        print(f"\nhot path profile, replayed frames ({len(run.frames)}), per frame:")
        print(top_costs(profiler, len(run.frames)))
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        with contextlib.suppress(OSError):
            Path("bench_decision.prof.txt").write_text(out.getvalue())


if __name__ == "__main__":
    main()
