"""MarketFeed under wire faults (real WebSocket, simulator): books always end equal to truth."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from collections.abc import AsyncIterator
from collections.abc import Set as AbstractSet
from decimal import Decimal

import pytest

from polyarb.marketdata.books import BookStore
from polyarb.marketdata.clob_rest import ClobRestClient
from polyarb.sim.channel import REORDER_HOLD_S
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer

from .oracle import OracleBooks
from .test_feed_helpers import (
    FAST,
    Captured,
    assert_books_equal_truth,
    drain,
    running,
    settle_and_compare,
    wait_for,
)

SCENARIO = ScenarioConfig(
    seed=5, binary_markets=3, negrisk_events=1, outcomes_per_event=2, levels=5,
    updates_per_s=300.0,
)  # fmt: skip


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SCENARIO) as server:
        yield server


async def frames_flow(books: BookStore, frames: int = 20) -> None:
    """Wait until ``frames`` more market-data frames were applied: the stream is running."""
    before = books.stats.frames
    await wait_for(lambda: books.stats.frames >= before + frames, what=f"{frames} more frames")


def all_fresh(books: BookStore, tokens: list[str]) -> bool:
    return all(t in books.books and not books.books[t].stale for t in tokens)


async def test_disconnect_marks_stale_reconnects_and_rebuilds(sim: SimServer) -> None:
    config = dataclasses.replace(
        FAST, assets_per_connection=3, reconnect_min_s=0.3, reconnect_max_s=0.5
    )
    books = BookStore()
    tokens = sim.token_ids()
    async with running(sim, config, books=books) as feed:
        shards = list(feed.stats.values())
        assert len(shards) == 4
        await frames_flow(books)
        await sim.disconnect_all()
        await wait_for(lambda: all(s.reconnects >= 1 for s in shards), what="disconnects")
        # Between the drop and the fresh snapshots no book may be trusted.
        assert all(books.books[t].stale for t in tokens)
        assert not any(s.connected for s in shards)
        await wait_for(lambda: all(s.connects >= 2 for s in shards), what="reconnects")
        await wait_for(lambda: all_fresh(books, tokens), what="rebuilt books")
        await frames_flow(books)  # the stream goes on after the rebuild
        await settle_and_compare(sim, books, tokens)
        for s in shards:
            assert set(s.reconnect_reasons) <= {"dropped", "closed"}
            assert sum(s.reconnect_reasons.values()) == s.reconnects


async def test_silent_freeze_forces_a_reconnect(sim: SimServer) -> None:
    config = dataclasses.replace(FAST, ping_interval_s=0.1, silence_timeout_s=0.5)
    books = BookStore()
    tokens = sim.token_ids()
    async with running(sim, config, books=books) as feed:
        stats = feed.stats[0]
        await frames_flow(books)
        sim.freeze(5.0)  # the connection stays open but nothing arrives, not even PONG
        await wait_for(
            lambda: stats.reconnect_reasons.get("silence", 0) >= 1, what="silence detected"
        )
        assert stats.reconnects == 1
        await wait_for(lambda: stats.connects >= 2, what="reconnect")
        await wait_for(lambda: all_fresh(books, tokens), what="rebuilt books")
        await frames_flow(books)
        await settle_and_compare(sim, books, tokens)


async def test_malformed_frames_are_counted_and_survived(sim: SimServer) -> None:
    books = BookStore()
    captured = Captured()
    tokens = sim.token_ids()
    config = dataclasses.replace(FAST, refetch_grace_s=0.1)
    async with (
        ClobRestClient(sim.clob_url) as rest,
        running(sim, config, books=books, rest=rest, captured=captured) as feed,
    ):
        await frames_flow(books)
        sim.inject_malformed(6)
        await wait_for(lambda: books.stats.malformed >= 5, what="malformed frames")
        # A malformed level update leaves its book's state unknown (stale); the feed refetches
        # it over REST rather than wait for a snapshot the venue may never send.
        await wait_for(lambda: all_fresh(books, tokens), what="fresh books again")
        assert feed.rest_stats.refetches >= 1
        await frames_flow(books)  # good data keeps flowing afterwards
        await settle_and_compare(sim, books, tokens)
        assert feed.stats[0].reconnects == 0
        assert feed.stats[0].callback_errors == 0
        # The recorder still got them, verbatim: a recording must show what the venue sent.
        assert len(captured.frames) == feed.stats[0].frames - feed.stats[0].pongs
        assert sum('"0.5.1"' in raw for _, raw in captured.frames) == 1


async def test_duplicate_and_out_of_order_frames(sim: SimServer) -> None:
    books = BookStore()
    captured = Captured()
    tokens = sim.token_ids()
    async with running(sim, books=books, captured=captured) as feed:
        await frames_flow(books)
        sim.duplicate_next(15)
        sim.reorder_next(15)
        before = books.stats.frames
        await wait_for(lambda: books.stats.frames > before + 80, what="more frames")
        sim.pause()
        # A price_change held back for a swap is released after REORDER_HOLD_S without a partner.
        await asyncio.sleep(REORDER_HOLD_S + 0.2)
        await drain(books)
        repeats = [raw for raw, n in Counter(raw for _, raw in captured.frames).items() if n > 1]
        assert repeats, "the simulator sent no duplicate"
        # Arrival order is the truth on a connection: every swapped frame was applied as it
        # came (the swap is visible in the timestamps, and only counted).
        assert books.stats.ts_backwards >= 1
        oracle = OracleBooks()
        for _, raw in captured.frames:
            oracle.apply(raw)
        for token in tokens:
            assert books.books[token].snapshot_levels() == oracle.levels(token)
        assert feed.stats[0].reconnects == 0


async def test_tick_size_change_rebuilds_from_the_fresh_snapshot(sim: SimServer) -> None:
    books = BookStore()
    tokens = sim.token_ids()
    async with running(sim, books=books) as feed:
        token = tokens[0]
        market = sim.venue.market_of(token)
        assert market is not None
        old_tick = books.books[token].tick
        new_tick = Decimal("0.001") if old_tick == 100 else Decimal("0.01")
        sim.change_tick(token, new_tick)
        await wait_for(lambda: books.stats.events_by_type["tick_size_change"] >= 2, what="tick")
        await frames_flow(books)
        await settle_and_compare(sim, books, tokens)
        for t in market.token_ids:
            assert books.books[t].tick == int(new_tick * 10_000)
        assert feed.rest_stats.refetches == 0  # the venue resent the books: no REST needed


class DropResentBooks(BookStore):
    """A BookStore that loses the ``book`` objects of some tokens, as when the venue does not
    resend a snapshot after a tick size change."""

    def __init__(self) -> None:
        super().__init__()
        self.drop: set[str] = set()
        self.dropped = 0

    def on_frame(
        self, raw: str | bytes, recv_ns: int, connection: AbstractSet[str] | None = None
    ) -> set[str]:
        if self.drop:
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = None
            is_book = isinstance(obj, dict) and obj.get("event_type") == "book"
            if is_book and obj.get("asset_id") in self.drop:
                self.dropped += 1
                return set()
        return super().on_frame(raw, recv_ns, connection)


async def test_tick_size_change_without_snapshot_is_refetched_over_rest(sim: SimServer) -> None:
    books = DropResentBooks()
    tokens = sim.token_ids()
    config = dataclasses.replace(FAST, refetch_grace_s=0.1)
    async with (
        ClobRestClient(sim.clob_url) as rest,
        running(sim, config, books=books, rest=rest) as feed,
    ):
        token = tokens[0]
        market = sim.venue.market_of(token)
        assert market is not None
        books.drop = set(market.token_ids)
        old_tick = books.books[token].tick
        new_tick = Decimal("0.001") if old_tick == 100 else Decimal("0.01")
        sim.change_tick(token, new_tick)
        await wait_for(lambda: feed.rest_stats.refetches >= 2, what="REST refetches")
        assert books.dropped >= 2
        sim.pause()
        await drain(books)
        books.drop = set()
        assert_books_equal_truth(books, sim, tokens)
        for t in market.token_ids:
            assert books.books[t].tick == int(new_tick * 10_000)
