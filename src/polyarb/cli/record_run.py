"""The work of `polyarb record` (see ``record_cmd``), imported only when the command runs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.live import Live
from rich.text import Text

from polyarb.cli.record_cmd import Venue
from polyarb.config import Settings
from polyarb.domain.errors import PolyarbError, Transient
from polyarb.domain.numbers import decimal_to_price
from polyarb.marketdata.books import BookStore
from polyarb.marketdata.clob_rest import ClobRestClient
from polyarb.marketdata.feed import FeedConfig, MarketFeed
from polyarb.marketdata.gamma import GammaClient, MarketFilter, discover, parse_market
from polyarb.marketdata.recorder import Recorder, RecordingError

T = TypeVar("T")

# Give up (exit 2) when no shard managed to connect within this time of starting.
CONNECT_DEADLINE_S = 20.0
STATUS_REFRESH_S = 0.5


@dataclass
class RecordSummary:
    out_dir: Path
    markets: int
    tokens: int
    frames: int
    reconnects: int
    seconds: float


@dataclass(frozen=True)
class _Endpoints:
    ws_url: str
    clob_url: str
    gamma_url: str


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed (it doubles WebSocket receive throughput)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


async def _record(
    settings: Settings,
    out_dir: Path,
    venue: Venue,
    wanted: tuple[str, ...],
    duration: float | None,
    max_markets: int | None,
    console: Console,
) -> RecordSummary:
    async with AsyncExitStack() as stack:
        if venue is Venue.sim:
            # Imported here: the simulator (uvicorn, starlette) is not needed to record the venue.
            from polyarb.sim.server import SimServer

            sim = await stack.enter_async_context(SimServer())
            endpoints = _Endpoints(sim.ws_url, sim.clob_url, sim.gamma_url)
        else:
            endpoints = _Endpoints(
                settings.poly_ws_url, settings.poly_clob_url, settings.poly_gamma_url
            )
        timeout = settings.poly_http_timeout_s
        rest = ClobRestClient(endpoints.clob_url, timeout_s=timeout)
        stack.push_async_callback(rest.aclose)
        gamma = GammaClient(endpoints.gamma_url, timeout_s=timeout)
        stack.push_async_callback(gamma.aclose)

        await rest.server_time()  # fails fast with one line when the CLOB is unreachable
        raw_markets, raw_events, token_ids = await _select_markets(
            settings, gamma, wanted, max_markets
        )
        if not token_ids:
            raise PolyarbError("no markets to record (the market filter matched nothing)")

        books = BookStore()
        for raw in raw_markets:
            _register(books, raw)
        recorder = stack.enter_context(Recorder(out_dir))
        recorder.write_markets(raw_markets)
        recorder.write_events(raw_events)
        sink = _RecorderSink(recorder)
        feed = MarketFeed(
            endpoints.ws_url,
            token_ids,
            books,
            FeedConfig.from_settings(settings),
            rest=rest,
            on_frame=sink.write,
        )
        started = time.monotonic()
        await _run_until_stopped(feed, books, sink, duration, console)
        totals = feed.totals()
        return RecordSummary(
            out_dir=out_dir,
            markets=len(raw_markets),
            tokens=len(feed.token_ids),
            frames=totals["frames"] - totals["pongs"],
            reconnects=totals["reconnects"],
            seconds=time.monotonic() - started,
        )
    raise AssertionError("unreachable")  # pragma: no cover (the exit stack never swallows)


async def _select_markets(
    settings: Settings,
    gamma: GammaClient,
    wanted: tuple[str, ...],
    max_markets: int | None,
) -> tuple[list[dict[str, object]], list[dict[str, object]], list[str]]:
    """The Gamma market objects and complete negRisk events to write, and the tokens."""
    if wanted:
        # Explicit tokens: keep the active markets that hold them, and record every given token
        # (even one Gamma does not list: its frames are still worth having).
        raw_all = await gamma.markets()
        wanted_set = set(wanted)
        raw_markets = [raw for raw in raw_all if wanted_set & set(_token_ids(raw))]
        return raw_markets, [], list(wanted)
    flt = MarketFilter.from_settings(settings)
    if max_markets is not None:
        flt = dataclasses.replace(flt, max_markets=max_markets)
    universe = await discover(gamma, flt)
    return list(universe.raw), universe.event_objects(), universe.token_ids()


def _token_ids(raw: dict[str, object]) -> tuple[str, ...]:
    try:
        return parse_market(raw).token_ids
    except (PolyarbError, ValueError, KeyError, TypeError):
        return ()


def _register(books: BookStore, raw: dict[str, object]) -> None:
    try:
        market = parse_market(raw)
        tick = decimal_to_price(market.tick_size)
    except (PolyarbError, ValueError, KeyError, TypeError, ArithmeticError):
        return
    for token_id in market.token_ids:
        books.register(token_id, market.condition_id, tick)


class _RecorderSink:
    """The feed's frame callback: writes to the recorder and remembers the first failure (disk
    full, say), so that the command stops with that error instead of recording nothing."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.failure: Exception | None = None

    def write(self, recv_ns: int, raw: str) -> None:
        try:
            self.recorder.write(recv_ns, raw)
        except Exception as exc:
            if self.failure is None:
                self.failure = exc
            raise

    def check(self) -> None:
        if self.failure is not None:
            raise RecordingError(f"recording failed: {self.failure}")
        self.recorder.flush()  # the recorder flushes on writes; this covers quiet spells


async def _run_until_stopped(
    feed: MarketFeed,
    books: BookStore,
    sink: _RecorderSink,
    duration: float | None,
    console: Console,
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(), name="record-feed")
    started = time.monotonic()
    final = Text()
    with _signals_set(stop), Live(console=console, refresh_per_second=4, transient=True) as live:
        try:
            while not stop.is_set() and not task.done():
                elapsed = time.monotonic() - started
                live.update(_status(feed, books, elapsed))
                sink.check()
                if duration is not None and elapsed >= duration:
                    break
                if elapsed >= CONNECT_DEADLINE_S and feed.totals()["connects"] == 0:
                    raise Transient(f"cannot reach the market WebSocket at {feed.ws_url}")
                wait = STATUS_REFRESH_S
                if duration is not None:
                    wait = max(0.0, min(wait, duration - elapsed))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
        finally:
            final = _status(feed, books, time.monotonic() - started)  # before the books go stale
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    console.print(final)


def _status(feed: MarketFeed, books: BookStore, elapsed: float) -> Text:
    totals = feed.totals()
    fresh = sum(1 for t in feed.token_ids if t in books.books and not books.books[t].stale)
    return Text(
        f"{elapsed:6.1f}s  frames {totals['frames'] - totals['pongs']:,}  "
        f"books {fresh}/{len(feed.token_ids)}  "
        f"ws {totals['connected']}/{totals['shards']}  "
        f"reconnects {totals['reconnects']}  repairs {totals['repairs']}"
    )


@contextlib.contextmanager
def _signals_set(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (a clean shutdown) instead of killing the process mid-write."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or a platform without loop signal handlers
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
