"""Helpers of the feed tests (no tests here): run a MarketFeed on the simulator, compare books."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from polyarb.marketdata.books import BookStore
from polyarb.marketdata.clob_rest import ClobRestClient
from polyarb.marketdata.feed import FeedConfig, MarketFeed
from polyarb.sim.server import SimServer

# Fast settings: short heartbeats, quick reconnects, no REST check unless a test wants one.
FAST = FeedConfig(
    assets_per_connection=200,
    ping_interval_s=0.2,
    silence_timeout_s=2.0,
    reconnect_min_s=0.05,
    reconnect_max_s=0.2,
    rest_check_interval_s=0,
    refetch_grace_s=0.2,
)


@dataclass
class Captured:
    """What the feed's callbacks saw."""

    frames: list[tuple[int, str]] = field(default_factory=list)
    updates: list[tuple[set[str], int]] = field(default_factory=list)

    def on_frame(self, recv_ns: int, raw: str) -> None:
        self.frames.append((recv_ns, raw))

    def on_update(self, changed: set[str], recv_ns: int) -> None:
        self.updates.append((set(changed), recv_ns))


@contextlib.asynccontextmanager
async def running(
    sim: SimServer,
    config: FeedConfig = FAST,
    *,
    books: BookStore | None = None,
    tokens: list[str] | None = None,
    rest: ClobRestClient | None = None,
    captured: Captured | None = None,
) -> AsyncIterator[MarketFeed]:
    """Start a MarketFeed on the simulator, wait until it is ready, cancel it on exit."""
    store = books if books is not None else BookStore()
    cap = captured if captured is not None else Captured()
    feed = MarketFeed(
        sim.ws_url,
        tokens if tokens is not None else sim.token_ids(),
        store,
        config,
        rest=rest,
        on_frame=cap.on_frame,
        on_update=cap.on_update,
    )
    task = asyncio.create_task(feed.run())
    try:
        await feed.wait_ready(10)
        yield feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def drain(books: BookStore, quiet_s: float = 0.3, timeout: float = 10.0) -> None:
    """Wait until the BookStore has seen no frame for ``quiet_s`` (call after ``sim.pause()``)."""
    deadline = time.monotonic() + timeout
    seen = books.stats.frames
    since = time.monotonic()
    while True:
        await asyncio.sleep(0.02)
        now = time.monotonic()
        if books.stats.frames != seen:
            seen = books.stats.frames
            since = now
        elif now - since >= quiet_s:
            return
        if now > deadline:
            raise AssertionError("the feed never went quiet")


def assert_books_equal_truth(books: BookStore, sim: SimServer, tokens: list[str]) -> None:
    """Every token's book is fresh and equals the simulator's book, level for level."""
    assert tokens
    for token_id in tokens:
        book = books.books.get(token_id)
        assert book is not None, f"no book for {token_id}"
        truth = sim.truth(token_id)
        assert not book.stale, f"book {token_id[:12]} is stale"
        assert book.snapshot_levels() == truth.snapshot_levels(), f"book {token_id[:12]} differs"
        assert book.tick == truth.tick
        assert book.bids.prices
        assert book.asks.prices


async def settle_and_compare(sim: SimServer, books: BookStore, tokens: list[str]) -> None:
    """The books equal the venue's, and every venue best_bid/best_ask agreed with them."""
    sim.pause()
    await drain(books)
    assert_books_equal_truth(books, sim, tokens)
    agreement = books.agreement()
    assert agreement.checks > 0
    assert agreement.agreed == agreement.checks, agreement.text()
    assert agreement.repairs == 0
