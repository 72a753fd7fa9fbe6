"""Replay throughput: decode + book update vs ``json.loads`` alone, on one core.

Generates a seeded recording (hundreds of binary markets; mirrored books, so every level change
emits both tokens' entries; 1-5 changes per price_change; periodic book snapshots and trades),
loads its frames into memory, then times, in the same run:

  json.loads           json.loads(raw) for every frame (the floor any Python consumer pays)
  decode+books         BookStore.on_frame(raw, recv_ns) for every frame (typed decode + books)
  replay from disk     marketdata.replay.replay() end to end (gzip + line decoding included)
  polyarb replay       the command, a whole process (CLI start, imports, progress and summary
                       included): the CPU time of the child process
    reading: gunzip    of that, inflating the frames files and splitting the lines
    reading: + lines   of that, the whole RecordingReader (gunzip + decoding each JSON line's
                       {"recv_ns", "raw"} wrapper): the wrapper's share is the difference

and prints frames/s and book events/s for each (per CPU second of this process, best of
``--repeat`` interleaved runs) and the ratio decode+books / json.loads.
Targets: >= 100,000 book events/s and a ratio >= 0.5 (goal ~1.0).

The recording comes from ``polyarb.sim.scenario.generate_recording`` when that exists (the
simulator's generator), else from the generator in this file (``--generator bench`` forces it).

    .venv/bin/python bench/bench_replay.py [--frames 200000] [--markets 300] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from polyarb.marketdata.books import BookStore
from polyarb.marketdata.recorder import (
    Recorder,
    RecordingReader,
    _gunzip_lines,
    frame_files,
    iter_recording,
)
from polyarb.marketdata.replay import replay

TICK_CHOICES = (100, 100, 100, 100, 10)  # 0.01 mostly, some 0.001 markets (1e-4 units)
ONE = 10_000


def _price(p: int) -> str:
    whole, frac = divmod(p, ONE)
    return str(whole) if not frac else f"{whole}.{frac:04d}".rstrip("0")


def _size(s: int) -> str:
    whole, frac = divmod(s, 1_000_000)
    return str(whole) if not frac else f"{whole}.{frac:06d}".rstrip("0")


def _order_size(rnd: random.Random) -> int:
    """Order sizes in 1e-6 shares: round lots are common, odd amounts (2 decimals) too."""
    if rnd.random() < 0.55:
        return rnd.choice((5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2500, 5000)) * 1_000_000
    return rnd.randint(500, 2_000_000) * 10_000  # 5.00 .. 20000.00 shares


class _Market:
    """One binary market's matching book, seen from YES: bids/asks price -> size."""

    def __init__(self, rnd: random.Random, index: int) -> None:
        self.condition = f"0x{rnd.getrandbits(256):064x}"
        self.yes = str(rnd.getrandbits(254) | (1 << 253))
        self.no = str(rnd.getrandbits(254) | (1 << 253))
        self.tick = rnd.choice(TICK_CHOICES)
        mid = rnd.randint(5, 95) * 100
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        for i in range(rnd.randint(8, 40)):
            p = mid - self.tick * (1 + i)
            if p > 0:
                self.bids[p] = sum(_order_size(rnd) for _ in range(rnd.randint(1, 4)))
        for i in range(rnd.randint(8, 40)):
            p = mid + self.tick * i
            if p < ONE:
                self.asks[p] = sum(_order_size(rnd) for _ in range(rnd.randint(1, 4)))

    def best_bid(self) -> int:
        return max(self.bids, default=0)

    def best_ask(self) -> int:
        return min(self.asks, default=ONE)

    def book_events(self, ts_ms: int) -> list[dict[str, object]]:
        """The two tokens' snapshots; NO is the mirror (1 - p, sides swapped), best LAST."""
        bids = [{"price": _price(p), "size": _size(s)} for p, s in sorted(self.bids.items())]
        asks = [
            {"price": _price(p), "size": _size(s)}
            for p, s in sorted(self.asks.items(), reverse=True)
        ]
        no_bids = [
            {"price": _price(ONE - p), "size": _size(s)}
            for p, s in sorted(self.asks.items(), reverse=True)
        ]
        no_asks = [
            {"price": _price(ONE - p), "size": _size(s)} for p, s in sorted(self.bids.items())
        ]
        tick = _price(self.tick)
        return [
            {
                "event_type": "book",
                "asset_id": token,
                "market": self.condition,
                "bids": b,
                "asks": a,
                "timestamp": str(ts_ms),
                "hash": f"{random.getrandbits(160):040x}",
                "tick_size": tick,
                "last_trade_price": "",
            }
            for token, b, a in ((self.yes, bids, asks), (self.no, no_bids, no_asks))
        ]

    def change(self, rnd: random.Random) -> tuple[str, int, int]:
        """Mutate one level near the top (place, partly cancel or remove); (side, price, size)."""
        is_bid = rnd.random() < 0.5
        levels = self.bids if is_bid else self.asks
        best = self.best_bid() if is_bid else self.best_ask()
        if best in (0, ONE):
            best = 5000
        distance = min(int(rnd.expovariate(0.35)), 30)
        price = best - distance * self.tick if is_bid else best + distance * self.tick
        if not 0 < price < ONE:
            price = best
        # Keep the book uncrossed: a bid never at/above the best ask, an ask never at/below the bid.
        if is_bid and price >= self.best_ask():
            price = self.best_ask() - self.tick
        if not is_bid and price <= self.best_bid():
            price = self.best_bid() + self.tick
        if not 0 < price < ONE:
            return ("BUY" if is_bid else "SELL", max(self.tick, min(price, ONE - self.tick)), 0)
        current = levels.get(price, 0)
        roll = rnd.random()
        if current and roll < 0.35:
            size = 0
        elif current and roll < 0.6:
            size = max(0, current - _order_size(rnd))
        else:
            size = current + _order_size(rnd)
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)
        return ("BUY" if is_bid else "SELL", price, size)


def generate(out_dir: Path, *, frames: int, markets: int, seed: int) -> Path:
    """Write a recording of ``frames`` frames over ``markets`` binary markets (seeded)."""
    rnd = random.Random(seed)
    random.seed(seed)
    book_markets = [_Market(rnd, i) for i in range(markets)]
    weights = [1.0 / (i + 1) ** 0.8 for i in range(markets)]  # a few busy markets, a long tail
    ts_ms = 1_760_000_000_000
    recv_ns = ts_ms * 1_000_000
    written = 0
    gamma = [
        {
            "id": str(100000 + i),
            "conditionId": m.condition,
            "question": f"Bench market {i}?",
            "slug": f"bench-market-{i}",
            "outcomes": '["Yes", "No"]',
            "clobTokenIds": json.dumps([m.yes, m.no]),
            "orderPriceMinTickSize": float(_price(m.tick)),
            "active": True,
            "closed": False,
        }
        for i, m in enumerate(book_markets)
    ]
    with Recorder(out_dir, compress=True) as recorder:
        recorder.write_markets(gamma)
        # Subscription: the snapshots arrive as arrays, one per connection of 100 markets.
        for start in range(0, markets, 100):
            snapshot = [e for m in book_markets[start : start + 100] for e in m.book_events(ts_ms)]
            recorder.write(recv_ns, orjson.dumps(snapshot).decode())
            written += 1
        while written < frames:
            ts_ms += rnd.choice((0, 0, 1, 1, 2, 5))
            recv_ns = ts_ms * 1_000_000 + rnd.randint(20_000_000, 60_000_000)
            market = rnd.choices(book_markets, weights)[0]
            roll = rnd.random()
            event: object
            if roll < 0.02:  # a trade: the venue re-sends both books and prints the trade
                event = market.book_events(ts_ms)
            elif roll < 0.03:
                event = {
                    "event_type": "last_trade_price",
                    "asset_id": market.yes,
                    "market": market.condition,
                    "price": _price(market.best_ask()),
                    "size": _size(_order_size(rnd)),
                    "fee_rate_bps": "0",
                    "side": "BUY",
                    "timestamp": str(ts_ms),
                }
            else:
                entries = []
                for _ in range(rnd.randint(1, 5)):
                    side, price, size = market.change(rnd)
                    yes_bid, yes_ask = market.best_bid(), market.best_ask()
                    order_hash = f"{rnd.getrandbits(160):040x}"
                    entries.append(
                        {
                            "asset_id": market.yes,
                            "price": _price(price),
                            "size": _size(size),
                            "side": side,
                            "hash": order_hash,
                            "best_bid": _price(yes_bid),
                            "best_ask": _price(yes_ask),
                        }
                    )
                    entries.append(
                        {
                            "asset_id": market.no,
                            "price": _price(ONE - price),
                            "size": _size(size),
                            "side": "SELL" if side == "BUY" else "BUY",
                            "hash": order_hash,
                            "best_bid": _price(ONE - yes_ask),
                            "best_ask": _price(ONE - yes_bid),
                        }
                    )
                event = {
                    "market": market.condition,
                    "price_changes": entries,
                    "timestamp": str(ts_ms),
                    "event_type": "price_change",
                }
            recorder.write(recv_ns, orjson.dumps(event).decode())
            written += 1
    return out_dir


def _timed(fn: Callable[[], object]) -> float:
    """CPU seconds of this process running ``fn``: on a machine shared with other work, wall time
    measures the neighbours as much as the code (the figures are per core either way)."""
    gc.collect()
    started = time.process_time()
    fn()
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--markets", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--generator", choices=("auto", "sim", "bench"), default="auto")
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    parser.add_argument("--profile", action="store_true", help="cProfile the decode+books pass")
    parser.add_argument("--keep", type=Path, help="write the recording here instead of a temp dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "recording"
        generator, source = _generator(args.generator)
        started = time.perf_counter()
        generator(out, frames=args.frames, markets=args.markets, seed=args.seed)
        print(
            f"recording: {source}, {args.frames:,} frames, {args.markets} markets, "
            f"generated in {time.perf_counter() - started:.1f} s, "
            f"{sum(f.stat().st_size for f in out.iterdir()) / 1e6:.1f} MB on disk"
        )
        frames = list(iter_recording(out))
        raw_bytes = sum(len(raw) for _, raw in frames)
        print(f"frames loaded: {len(frames):,}, mean {raw_bytes / len(frames):,.0f} chars")

        def json_only() -> None:
            loads = json.loads
            for _, raw in frames:
                loads(raw)

        stores: list[BookStore] = []

        def decode_and_books() -> None:
            store = BookStore()
            on_frame = store.on_frame
            for recv_ns, raw in frames:
                on_frame(raw, recv_ns)
            stores.append(store)

        # Interleaved, best of N: on a shared machine load drifts, and the ratio must compare
        # the two under the same conditions.
        t_json = t_books = float("inf")
        for _ in range(args.repeat):
            t_json = min(t_json, _timed(json_only))
            t_books = min(t_books, _timed(decode_and_books))
        stats = stores[-1].stats
        n = len(frames)
        book_events = stats.book_events
        t_replay = min(_timed(lambda: replay(out, BookStore())) for _ in range(args.repeat))

        def gunzip_only() -> None:
            for file in frame_files(out):
                with file.open("rb") as disk:
                    for _ in _gunzip_lines(disk) if file.suffix == ".gz" else disk:
                        pass

        def reader_only() -> None:
            for _ in RecordingReader(out):
                pass

        t_process = min(_process_cpu_s(out) for _ in range(args.repeat))
        t_gunzip = min(_timed(gunzip_only) for _ in range(args.repeat))
        t_reader = min(_timed(reader_only) for _ in range(args.repeat))

        kinds = ", ".join(f"{k} {v:,}" for k, v in stats.events_by_type.items() if v)
        print(f"events: {stats.events:,} ({kinds})")
        print(
            f"book events (snapshots + level updates applied): {book_events:,}; "
            f"malformed {stats.malformed}, timestamps backwards {stats.ts_backwards}, "
            f"no book {stats.no_book}"
        )
        print(f"{'':22s}{'frames/s':>12s}{'book events/s':>16s}{'us/frame':>10s}")
        for name, seconds in (
            ("json.loads alone", t_json),
            ("decode+books", t_books),
            ("replay from disk", t_replay),
            ("polyarb replay (proc.)", t_process),
            ("  reading: gunzip", t_gunzip),
            ("  reading: + lines", t_reader),
        ):
            print(
                f"{name:22s}{n / seconds:12,.0f}{book_events / seconds:16,.0f}"
                f"{seconds / n * 1e6:10.2f}"
            )
        ratio = t_json / t_books
        print(f"replay from disk / json.loads time: {t_replay / t_json:.2f}x")
        print(
            f"polyarb replay, whole process / json.loads time: {t_process / t_json:.2f}x "
            "(goal <= 1.0)"
        )
        print(f"ratio decode+books / json.loads: {ratio:.2f}  (target >= 0.5, goal ~1.0)")
        print(
            f"book events/s target >= 100,000: "
            f"{'met' if book_events / t_books >= 100_000 else 'MISSED'}; "
            f"ratio target >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'}"
        )

        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            decode_and_books()
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
    return 0


def _process_cpu_s(recording: Path) -> float:
    """CPU seconds (user + system) of a ``polyarb replay`` process over the recording."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLY")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "polyarb", "replay", str(recording)],
        env=env,
        cwd=recording.parent,  # no .env of the developer's
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _generator(choice: str) -> tuple[Callable[..., Path], str]:
    if choice in ("auto", "sim"):
        try:
            module = importlib.import_module("polyarb.sim.scenario")
            return module.generate_recording, "polyarb.sim.scenario.generate_recording"
        except (ImportError, AttributeError):
            if choice == "sim":
                raise
    return generate, "bench generator (bench/bench_replay.py)"


if __name__ == "__main__":
    sys.exit(main())
