"""Feed throughput: frames from a loopback WebSocket through MarketFeed into the BookStore.

A seeded recording (``polyarb.sim.scenario.generate_recording``) is loaded into memory; a plain
websockets server in a separate process answers the subscription and then sends every recorded
frame as fast as it can. One MarketFeed connection (compression off, as in production) receives
them, hands each to a recorder-like callback and to the BookStore. Printed, per event loop
(asyncio, uvloop):

  feed          frames/s and µs/frame from the first to the last frame received by the feed
  books only    BookStore.on_frame on the same frames without any socket (the decode floor)

so the difference is what the socket, websockets and the feed's own bookkeeping cost.

    .venv/bin/python bench/bench_feed.py [--frames 100000] [--markets 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve

from polyarb.marketdata.books import BookStore
from polyarb.marketdata.feed import FeedConfig, MarketFeed
from polyarb.marketdata.gamma import parse_market
from polyarb.marketdata.recorder import iter_recording, load_recording_markets
from polyarb.sim.scenario import generate_recording


def load(frames: int, markets: int) -> tuple[list[str], list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = generate_recording(Path(tmp), frames=frames, markets=markets, seed=3)
        raws = [raw for _, raw in iter_recording(out)]
        tokens = [t for m in load_recording_markets(out) for t in parse_market(m).token_ids]
    return raws, tokens


def serve_frames(raws: list[str], ports: multiprocessing.Queue[int]) -> None:
    """The venue, in its own process so that sending does not share the feed's core."""

    async def main() -> None:
        async def handler(ws: ServerConnection) -> None:
            await ws.recv()  # the subscription
            for raw in raws:
                await ws.send(raw)
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
            ports.put(server.sockets[0].getsockname()[1])
            await asyncio.Future()

    asyncio.run(main())


async def run_feed(url: str, expected: int, tokens: list[str]) -> float:
    """Seconds from the feed's first frame to its last."""
    done = asyncio.Event()
    count = 0
    first_ns = last_ns = 0

    def on_frame(recv_ns: int, raw: str) -> None:
        nonlocal count, first_ns, last_ns
        count += 1
        if count == 1:
            first_ns = recv_ns
        if count == expected:
            last_ns = recv_ns
            done.set()

    config = FeedConfig(assets_per_connection=500, rest_check_interval_s=0)
    feed = MarketFeed(url, tokens, BookStore(), config, on_frame=on_frame)
    task = asyncio.create_task(feed.run())
    await asyncio.wait_for(done.wait(), timeout=600)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return (last_ns - first_ns) / 1e9


def books_only(raws: list[str]) -> float:
    store = BookStore()
    start = time.perf_counter()
    recv_ns = time.time_ns()
    for raw in raws:
        store.on_frame(raw, recv_ns)
    return time.perf_counter() - start


def report(name: str, frames: int, seconds: float) -> None:
    print(
        f"  {name:<12} {frames / seconds:>10,.0f} frames/s  {seconds / frames * 1e6:7.2f} µs/frame"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--markets", type=int, default=200)
    args = parser.parse_args()
    raws, tokens = load(args.frames, args.markets)
    print(f"{len(raws):,} frames, {len(tokens)} tokens, one connection")
    loops: list[tuple[str, Callable[[], asyncio.AbstractEventLoop]]] = [
        ("asyncio", asyncio.new_event_loop)
    ]
    try:
        import uvloop

        loops.append(("uvloop", uvloop.new_event_loop))
    except ImportError:
        pass
    gc.collect()
    report("books only", len(raws), books_only(raws))
    for name, factory in loops:
        ports: multiprocessing.Queue[int] = multiprocessing.Queue()
        venue = multiprocessing.Process(target=serve_frames, args=(raws, ports), daemon=True)
        venue.start()
        try:
            url = f"ws://127.0.0.1:{ports.get(timeout=60)}"
            with asyncio.Runner(loop_factory=factory) as runner:
                seconds = runner.run(run_feed(url, len(raws), tokens))
        finally:
            venue.kill()
            venue.join()
        report(f"feed {name}", len(raws), seconds)


if __name__ == "__main__":
    main()
