"""The whole venue on one core: the engine against 10,000 tokens over 20 WebSocket connections.

The simulator serves ``polyarb.sim.whole_venue`` (Zipf activity across 5,000 markets, bursts, a
seeded arbitrage window every ``--window-every`` seconds) in ANOTHER process, pinned to the last
core; the engine runs in this process, pinned to the first core, wired as in bench_decision.py
(paper, embedded MemoryBus with the 10 Hz state publisher, the 250 ms timer with GC pacing, one
MarketFeed of 500 assets per connection calling ``Engine.on_update``). The universe is the
simulator's Gamma listing, handed over in a file (Gamma paging stops at offset 2,000, so
``discover`` cannot list 5,000 markets). Each rate step is a fresh simulator and engine. The
simulator renders the step's frames before serving (``whole_venue.Prerendered``: generating
them live costs 50-100 µs a frame, more than its core has at 10x) and holds its stream until
the feed has every snapshot; 2 s after the stream starts, ``--seconds`` are measured:

  sim sent      frames the simulator published per second (the target is the model's rate:
                if it falls short, the simulator's core, not the engine, is the limit)
  received      frames the feed received per second; applied: frames that changed a book and
                went to the engine (``on_update``)
  CPU           process CPU time / wall time of the engine's process (one core: 100 % = busy);
                wait: the time its thread was runnable but other processes had the core (a
                shared machine); µs/fr: engine CPU per frame received; sim CPU / sim wait:
                the same for the simulator (near 100 % together: the simulator is the limit)
  tick-to-dec.  engine.counters.decision_ns, p50 / p99 (recv_ns to order command)
  data age      feed recv_ns - the frame's venue timestamp (ms), p50 / p99, every 8th frame
  lag slope     growth of the data age over the step (ms per s, a least-squares fit): a core
                that keeps up holds the age flat; a backlog grows it about linearly
  keeps up      lag slope < 5 ms/s, data age p99 over the step's last quarter < 1 s, and no
                connection dropped (the simulator drops a client 100,000 frames behind)

With ``--profile`` the engine process is sampled by py-spy (``--profile-rate`` step only) and the
top functions by own time are printed (py-spy needs ptrace: as root or with
kernel.yama.ptrace_scope = 0).

    .venv/bin/python bench/bench_scale.py [--rates 1,3,10] [--seconds 20] [--tokens 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import structlog

from polyarb.bus import StatePublisher, make_bus
from polyarb.config import Settings
from polyarb.domain.clock import WallClock
from polyarb.engine.core import Engine
from polyarb.engine.gc_pacing import GcPacer
from polyarb.marketdata.feed import FeedConfig, MarketFeed
from polyarb.marketdata.gamma import MarketFilter, events_from_markets, select_universe
from polyarb.sim import SimServer
from polyarb.sim.whole_venue import mean_rate_factor, whole_venue

sys.path.insert(0, str(Path(__file__).parent))
from bench_decision import bench_settings, engine_timer, stop_engine

SETTLE_S = 2.0  # from the stream's start to the measurement's
AGE_SAMPLE_EVERY = 8
TIMESTAMP = re.compile(r'"timestamp":"(\d+)"')
KEEPS_UP_SLOPE_MS_PER_S = 5.0
KEEPS_UP_AGE_P99_MS = 1000.0


def cpu_and_wait_s() -> tuple[float, float]:
    """This process's CPU time and its main thread's time runnable but waiting for a CPU
    (/proc schedstat: the share of the core other processes took from it); 0 wait when the
    kernel does not say."""
    wait = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        wait = int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    return time.process_time(), wait


def pin(core: int) -> str:
    """Pin this process to ``core`` (modulo the cores it may use); '' when it cannot."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
        chosen = allowed[core % len(allowed)]
        os.sched_setaffinity(0, {chosen})
        return f"core {chosen}"
    except (AttributeError, OSError):
        return "unpinned"


# --- the simulator process ------------------------------------------------------------------


def serve_venue(
    tokens: int,
    rate: float,
    window_every_s: float,
    horizon_s: float,
    markets: str,
    pipe: Connection,
) -> None:
    """The simulator, in its own process on the last core, its frames rendered ahead
    (``Prerendered``) and its clock paused until the engine's feed has its snapshots. Protocol
    on ``pipe``: it sends its address once the Gamma listing is written to ``markets``; then
    "resume" starts the stream, "mark" answers (frames published, its CPU time), "stop" ends."""
    pin(-1)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))

    async def main() -> None:
        config = whole_venue(tokens, rate, window_every_s=window_every_s)
        sim = SimServer(config, prerender_s=horizon_s)
        sim.pause()  # before the clock starts: nothing is due until "resume"
        async with sim:
            listing = orjson.dumps(sim.gamma_markets())
            await asyncio.to_thread(Path(markets).write_bytes, listing)
            pipe.send(sim.clob_url)
            loop = asyncio.get_running_loop()
            while True:
                ready = await loop.run_in_executor(None, pipe.poll, 0.2)
                if not ready:
                    continue
                message = pipe.recv()
                if message == "stop":
                    return
                if message == "resume":
                    sim.resume()
                    continue
                pipe.send((sim.channel.frames_sent, *cpu_and_wait_s()))

    asyncio.run(main())


# --- the engine side ------------------------------------------------------------------------


@dataclass
class Step:
    rate: float
    target_per_s: float
    seconds: float = 0.0
    sent_per_s: float = 0.0
    received_per_s: float = 0.0
    applied_per_s: float = 0.0
    cpu_share: float = 0.0
    wait_share: float = 0.0  # runnable, waiting for the core (other processes had it)
    sim_cpu_share: float = 0.0
    sim_wait_share: float = 0.0
    decisions: int = 0
    decision_p50_us: float = 0.0
    decision_p99_us: float = 0.0
    age_p50_ms: float = 0.0
    age_p99_ms: float = 0.0
    age_end_p99_ms: float = 0.0  # over the last quarter of the step
    lag_slope_ms_per_s: float = 0.0
    reconnects: int = 0
    connections: int = 0

    @property
    def cpu_per_frame_us(self) -> float:
        return self.cpu_share / max(self.received_per_s, 1) * 1e6

    def verdict(self) -> str:
        if self.keeps_up:
            return "yes"
        if self.sim_cpu_share + self.sim_wait_share > 0.9 > self.cpu_share + self.wait_share:
            return "NO: the simulator's core is the limit"
        if self.cpu_share > 0.9:
            return "NO: the engine's core is busy"
        if self.cpu_share + self.wait_share > 0.9:
            return "NO: the engine wants the whole core, other processes hold part of it"
        return "NO"

    @property
    def keeps_up(self) -> bool:
        return (
            self.lag_slope_ms_per_s < KEEPS_UP_SLOPE_MS_PER_S
            and self.age_end_p99_ms < KEEPS_UP_AGE_P99_MS
            and self.reconnects == 0
        )


def rank(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, -int(-p * len(ordered) // 100) - 1)]


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return cov / var if var else 0.0


class Meter:
    """The feed's callbacks: counts frames, samples the data age of every 8th."""

    def __init__(self) -> None:
        self.received = 0
        self.applied = 0
        self.ages: list[tuple[float, float]] = []  # (recv seconds, age ms)
        self.measuring = False

    def on_frame(self, recv_ns: int, raw: str) -> None:
        self.received += 1
        if self.measuring and self.received % AGE_SAMPLE_EVERY == 0:
            found = TIMESTAMP.search(raw)
            if found is not None:
                age_ms = recv_ns / 1e6 - int(found.group(1))
                self.ages.append((recv_ns / 1e9, age_ms))


async def run_engine(
    settings: Settings,
    raw_markets: list[dict[str, Any]],
    seconds: float,
    pipe: Connection,
    step: Step,
    on_measuring: Callable[[], object] = lambda: None,
) -> None:
    flt = MarketFilter.from_settings(settings)
    universe = select_universe(raw_markets, events_from_markets(raw_markets), flt)
    bus = make_bus(None, "bench")
    await bus.start()
    engine = Engine(settings, universe, clock=WallClock(), bus=bus, instance_id="bench")
    meter = Meter()
    on_update = engine.on_update

    def counted(changed: Any, recv_ns: int) -> None:
        meter.applied += 1
        on_update(changed, recv_ns)

    feed = MarketFeed(
        settings.poly_ws_url,
        universe.token_ids(),
        engine.books,
        FeedConfig(rest_check_interval_s=0, assets_per_connection=500),
        on_frame=meter.on_frame,
        on_update=counted,
    )
    pacer = GcPacer()

    tasks = [
        asyncio.create_task(feed.run()),
        asyncio.create_task(engine_timer(engine, pacer)),
        asyncio.create_task(StatePublisher(bus, engine.state).run()),
    ]
    loop = asyncio.get_running_loop()

    async def mark() -> tuple[int, tuple[float, float], float]:
        """(frames the simulator published, its CPU and wait times, our monotonic time)"""
        pipe.send("mark")
        sent, cpu, wait = await loop.run_in_executor(None, pipe.recv)
        return int(sent), (float(cpu), float(wait)), time.monotonic()

    try:
        await feed.wait_ready(120)
        pacer.start()
        pipe.send("resume")
        await asyncio.sleep(SETTLE_S)
        reconnects = feed.totals()["reconnects"]
        sent0, sim_cpu0, wall0 = await mark()
        (cpu0, wait0), received0, applied0 = cpu_and_wait_s(), meter.received, meter.applied
        decisions0 = len(engine.counters.decision_ns)
        samples0 = engine.counters.decision_samples
        meter.measuring = True
        on_measuring()
        await asyncio.sleep(seconds)
        meter.measuring = False
        (cpu1, wait1), received1, applied1 = cpu_and_wait_s(), meter.received, meter.applied
        sent1, sim_cpu1, wall1 = await mark()
        elapsed = wall1 - wall0
        step.seconds = elapsed
        step.sent_per_s = (sent1 - sent0) / elapsed
        step.received_per_s = (received1 - received0) / elapsed
        step.applied_per_s = (applied1 - applied0) / elapsed
        step.cpu_share = (cpu1 - cpu0) / elapsed
        step.wait_share = (wait1 - wait0) / elapsed
        step.sim_cpu_share = (sim_cpu1[0] - sim_cpu0[0]) / elapsed
        step.sim_wait_share = (sim_cpu1[1] - sim_cpu0[1]) / elapsed
        taken = engine.counters.decision_samples - samples0
        window = list(engine.counters.decision_ns)
        recent = window[-taken:] if 0 < taken <= len(window) else window[decisions0:]
        step.decisions = taken
        step.decision_p50_us = rank([float(ns) for ns in recent], 50) / 1000
        step.decision_p99_us = rank([float(ns) for ns in recent], 99) / 1000
        ages = [age for _, age in meter.ages]
        step.age_p50_ms = rank(ages, 50)
        step.age_p99_ms = rank(ages, 99)
        step.lag_slope_ms_per_s = slope(meter.ages)
        step.age_end_p99_ms = rank(ages[len(ages) * 3 // 4 :], 99)
        totals = feed.totals()
        step.reconnects = totals["reconnects"] - reconnects
        step.connections = totals["shards"]
    finally:
        await stop_engine(engine, bus, pacer, tasks)


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling ``pid`` for ``seconds`` into a raw (collapsed stacks) file."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not installed (pip install -e '.[dev]')")
        return None
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
    command += ["--format", "raw", "--output", str(out), "--rate", "200", "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def own_time(collapsed: Path, limit: int = 25) -> str:
    """Top functions by own (leaf) samples, and the share under a few entry points."""
    leaves: dict[str, int] = {}
    under: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaf = frames[-1]
        leaves[leaf] = leaves.get(leaf, 0) + count
        seen = set()
        for frame in frames:
            name = frame.split(" (")[0]
            if name not in seen:
                seen.add(name)
                under[name] = under.get(name, 0) + count
    lines = [f"{total} samples; own time:"]
    for leaf, count in sorted(leaves.items(), key=lambda kv: -kv[1])[:limit]:
        lines.append(f"  {count / total:6.1%}  {leaf}")
    lines.append("inclusive (a function and what it calls):")
    shared = [kv for kv in under.items() if kv[1] < 0.98 * total]  # not the loop's own frames
    for name, count in sorted(shared, key=lambda kv: -kv[1])[:limit]:
        lines.append(f"  {count / total:6.1%}  {name}")
    return "\n".join(lines)


def run_step(args: argparse.Namespace, rate: float, tmp: Path) -> Step:
    markets = tmp / f"markets-{rate:g}.json"
    parent, child = multiprocessing.Pipe()
    venue = multiprocessing.Process(
        target=serve_venue,
        args=(
            args.tokens,
            rate,
            args.window_every,
            SETTLE_S + args.seconds + 5,
            str(markets),
            child,
        ),
        daemon=True,
    )
    venue.start()
    config = whole_venue(args.tokens, rate)
    step = Step(rate, config.updates_per_s * mean_rate_factor())
    spy: subprocess.Popen[bytes] | None = None
    try:
        if not parent.poll(600):
            raise RuntimeError("the simulator did not start in 600 s")
        urls = parent.recv()
        raw_markets = orjson.loads(markets.read_bytes())
        settings = bench_settings(tmp, urls, markets_max=args.tokens)
        spies: list[subprocess.Popen[bytes] | None] = []
        if args.profile and rate == args.profile_rate:  # the measured seconds only

            def start_profile() -> None:
                spies.append(profile(os.getpid(), args.seconds, tmp / "profile.txt"))

            measuring: Callable[[], object] = start_profile
        else:
            measuring = lambda: None  # noqa: E731
        asyncio.run(run_engine(settings, raw_markets, args.seconds, parent, step, measuring))
        spy = spies[0] if spies else None
        parent.send("stop")
    finally:
        venue.join(10)
        if venue.is_alive():
            venue.kill()
            venue.join()
    if spy is not None:
        spy.wait(60)
        report = tmp / "profile.txt"
        if report.exists():
            print(f"\npy-spy profile of the engine at {rate:g}x:\n{own_time(report)}\n")
        elif spy.stderr is not None:
            print(f"py-spy failed: {spy.stderr.read().decode(errors='replace')[:300]}")
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1,3,10", help="rate factors, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per step")
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--window-every", type=float, default=1.0)
    parser.add_argument("--profile", action="store_true", help="py-spy the engine at one step")
    parser.add_argument("--profile-rate", type=float, default=3.0)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    where = pin(0)
    print(
        f"whole venue: {args.tokens:,} tokens, {args.seconds:g} s per step, engine on {where}, "
        f"simulator on the last core ({os.cpu_count()} cores)"
    )
    header = (
        f"{'rate':>5} {'target/s':>9} {'sent/s':>8} {'recv/s':>8} {'applied/s':>9} "
        f"{'conns':>5} {'CPU':>5} {'wait':>5} {'µs/fr':>6} {'sim CPU':>7} {'sim wait':>8} "
        f"{'decisions':>9} {'t2d p50':>8} {'t2d p99':>8} "
        f"{'age p50':>8} {'age p99':>8} {'lag ms/s':>8} {'drops':>5}  keeps up"
    )
    print(header)
    steps = []
    with tempfile.TemporaryDirectory() as tmp:
        for rate in rates:
            step = run_step(args, rate, Path(tmp))
            steps.append(step)
            print(
                f"{step.rate:>4g}x {step.target_per_s:>9,.0f} {step.sent_per_s:>8,.0f} "
                f"{step.received_per_s:>8,.0f} {step.applied_per_s:>9,.0f} "
                f"{step.connections:>5} {step.cpu_share:>5.0%} {step.wait_share:>5.0%} "
                f"{step.cpu_per_frame_us:>6.0f} {step.sim_cpu_share:>7.0%} "
                f"{step.sim_wait_share:>8.0%} "
                f"{step.decisions:>9} "
                f"{step.decision_p50_us:>6.0f}µs {step.decision_p99_us:>6.0f}µs "
                f"{step.age_p50_ms:>6.0f}ms {step.age_p99_ms:>6.0f}ms "
                f"{step.lag_slope_ms_per_s:>8.1f} {step.reconnects:>5}  "
                f"{step.verdict()}",
                flush=True,
            )
    kept = [s for s in steps if s.keeps_up]
    lost = [s for s in steps if not s.keeps_up]
    if not lost:
        print(f"one core keeps up at every rate tried (up to {max(rates):g}x)")
    else:
        first = min(lost, key=lambda s: s.rate)
        best = max((s for s in kept if s.rate < first.rate), key=lambda s: s.rate, default=None)
        below = f"keeps up at {best.rate:g}x ({best.received_per_s:,.0f} frames/s)" if best else ""
        print(
            f"one core stops keeping up at {first.rate:g}x (offered {first.sent_per_s:,.0f} "
            f"frames/s, applied {first.applied_per_s:,.0f}/s at {first.cpu_share:.0%} CPU): "
            f"{first.verdict()}" + (f"; {below}" if below else "")
        )
    busiest = max(steps, key=lambda s: s.received_per_s)
    modelled = busiest.target_per_s / busiest.rate  # the model at 1x, bursts included
    whole_core = 1e6 / busiest.cpu_per_frame_us
    print(
        f"engine CPU per frame at {busiest.rate:g}x: {busiest.cpu_per_frame_us:.0f} µs, so a core "
        f"of its own would apply about {whole_core:,.0f} frames/s "
        f"({whole_core / modelled:.1f}x the modelled rate)"
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
