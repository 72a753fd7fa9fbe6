"""MarketFeed over a real WebSocket against the simulator: books equal the simulator's truth."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from polyarb.config import Settings
from polyarb.marketdata.books import BookStore
from polyarb.marketdata.clob_rest import ClobRestClient
from polyarb.marketdata.feed import FeedConfig, MarketFeed, shard_tokens
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer

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
    seed=11, binary_markets=4, negrisk_events=1, outcomes_per_event=3, levels=6,
    updates_per_s=400.0,
)  # fmt: skip


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SCENARIO) as server:
        yield server


async def test_normal_flow_books_equal_truth_and_callbacks_see_every_frame(
    sim: SimServer,
) -> None:
    books = BookStore()
    captured = Captured()
    tokens = sim.token_ids()
    async with running(sim, books=books, captured=captured) as feed:
        start_events = books.stats.book_events
        await wait_for(lambda: books.stats.book_events > start_events + 200, what="updates")
        await settle_and_compare(sim, books, tokens)
        stats = feed.stats[0]
        assert stats.connects == 1
        assert stats.reconnects == 0
        assert stats.ready
        assert stats.connected
        assert stats.last_frame_ns > 0
        # The recorder callback got every data frame (PONGs are skipped) before the BookStore.
        assert len(captured.frames) == books.stats.frames
        assert stats.frames == books.stats.frames + stats.pongs
        recv = [ns for ns, _ in captured.frames]
        assert recv == sorted(recv)
        assert captured.frames[0][1].lstrip().startswith("[")  # the initial snapshot array
        # on_update names only subscribed tokens, and every token changed at least once.
        changed = set().union(*(c for c, _ in captured.updates))
        assert changed <= set(tokens)
        assert changed == set(tokens)


async def test_sharding_splits_tokens_over_connections(sim: SimServer) -> None:
    tokens = sim.token_ids()
    assert len(tokens) == 14
    config = dataclasses.replace(FAST, assets_per_connection=4)
    books = BookStore()
    async with running(sim, config, books=books) as feed:
        assert sorted(feed.stats) == [0, 1, 2, 3]
        assert [s.tokens for s in feed.stats.values()] == [4, 4, 4, 2]
        shards = feed.shard_tokens
        assert [t for shard in shards for t in shard] == tokens
        assert all(s.connects == 1 and s.ready for s in feed.stats.values())
        # Every connection carries data before the books are compared.
        await wait_for(lambda: all(s.frames > 1 for s in feed.stats.values()), what="frames")
        await settle_and_compare(sim, books, tokens)
        # Each connection carries only its own tokens' frames... and all of them got some.
        assert all(s.frames > 1 for s in feed.stats.values())
        assert feed.totals()["connected"] == 4


def test_shard_tokens_dedupes_and_keeps_order() -> None:
    assert shard_tokens(["a", "b", "a", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert shard_tokens([], 5) == []


def test_feed_config_from_settings_and_validation() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        poly_ws_assets_per_connection=300,
        poly_ws_ping_interval_s=5,
        poly_ws_silence_timeout_s=45,
        poly_rest_check_tolerance=Decimal("0.04"),
        poly_rest_check_strikes=2,
    )
    config = FeedConfig.from_settings(settings)
    assert config.assets_per_connection == 300
    assert config.ping_interval_s == 5
    assert config.silence_timeout_s == 45
    assert config.rest_check_tolerance == Decimal("0.04")
    assert config.rest_check_strikes == 2
    assert FeedConfig.from_settings(object()) == FeedConfig()
    with pytest.raises(ValueError, match="assets_per_connection"):
        FeedConfig(assets_per_connection=501)
    with pytest.raises(ValueError, match="reconnect_min_s"):
        FeedConfig(reconnect_min_s=5, reconnect_max_s=1)


async def test_ping_is_sent_and_pong_keeps_a_quiet_connection_alive(sim: SimServer) -> None:
    # Silence timeout well above the ping interval: while the simulator is paused (no market
    # data at all) only PONGs arrive, and that is healthy, not a reason to reconnect.
    config = dataclasses.replace(FAST, ping_interval_s=0.1, silence_timeout_s=0.5)
    books = BookStore()
    async with running(sim, config, books=books) as feed:
        sim.pause()
        await drain(books)
        frames_before = books.stats.frames
        await asyncio.sleep(1.2)  # more than twice the silence timeout, with no data frame
        stats = feed.stats[0]
        assert books.stats.frames == frames_before  # really no market data
        assert stats.pings_sent >= 8
        assert stats.pongs >= 8  # the simulator answered our text PINGs
        assert stats.reconnects == 0
        assert stats.connects == 1
        assert_books_equal_truth(books, sim, sim.token_ids())


async def test_rest_cross_check_repairs_corrupted_books(sim: SimServer) -> None:
    config = dataclasses.replace(
        FAST, rest_check_interval_s=0.1, rest_check_strikes=2, rest_check_tolerance=Decimal("0.05")
    )
    books = BookStore()
    captured = Captured()
    tokens = sim.token_ids()
    async with (
        ClobRestClient(sim.clob_url) as rest,
        running(sim, config, books=books, rest=rest, captured=captured) as feed,
    ):
        sim.pause()
        await drain(books)
        await wait_for(lambda: feed.rest_stats.rounds >= 3, what="REST check rounds")
        # A correct book is never "repaired": no mismatch at all while nothing is wrong.
        assert feed.rest_stats.checks >= len(tokens)
        assert feed.rest_stats.mismatches == 0
        assert feed.rest_stats.repairs == 0

        victim = tokens[0]
        book = books.books[victim]
        truth_mid = sim.truth(victim).mid()
        assert truth_mid is not None
        # Corrupt the local book as a lost update would: a mid 0.3+ away from the venue's.
        fake_bid, fake_ask = (100, 300) if truth_mid > Decimal("0.5") else (9700, 9900)
        # Stamped 0: the simulator's stamps jitter like the venue's, so a REST answer may carry
        # an older stamp than the last frame; the feed then resubscribes instead of repairing
        # from REST (the ordering rule, tested elsewhere). This test is about the REST repair.
        book.apply_snapshot([(fake_bid, 10**6)], [(fake_ask, 10**6)], 0, 1)
        assert book.snapshot_levels() != sim.truth(victim).snapshot_levels()
        updates_before = len(captured.updates)

        # And a crossed book whose mid agrees with REST: impossible on the venue, so bad too.
        crossed = tokens[1]
        book = books.books[crossed]
        mid = sim.truth(crossed).mid()
        assert mid is not None
        center = int(mid * 10_000) // 100 * 100
        book.apply_snapshot([(center + 100, 10**6)], [(center - 100, 10**6)], 0, 1)
        assert book.is_crossed()

        await wait_for(lambda: feed.rest_stats.repairs >= 2, what="the repairs")
        assert feed.rest_stats.mismatches >= 4  # each took the configured number of strikes
        assert feed.rest_stats.repairs == 2
        assert_books_equal_truth(books, sim, tokens)
        # The engine heard about the repaired books.
        repaired = set().union(*(changed for changed, _ in captured.updates[updates_before:]))
        assert {victim, crossed} <= repaired


async def test_rest_check_round_on_demand_and_unknown_token_is_harmless(sim: SimServer) -> None:
    books = BookStore()
    tokens = sim.token_ids()
    async with (
        ClobRestClient(sim.clob_url) as rest,
        running(sim, books=books, rest=rest, tokens=[*tokens, "12345"]) as feed,
    ):
        sim.pause()
        await drain(books)
        repaired = await feed.check_books_against_rest()
        assert repaired == set()
        assert feed.rest_stats.checks == len(tokens)  # the unknown token has no book to check
        assert feed.stats[0].ready


async def test_wait_ready_times_out_with_a_clear_error() -> None:
    # Nothing listens: the feed keeps retrying, wait_ready says what is missing.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    feed = MarketFeed(f"ws://127.0.0.1:{port}/ws/market", ["1", "2"], BookStore(), FAST)
    task = asyncio.create_task(feed.run())
    try:
        with pytest.raises(TimeoutError, match=r"shard\(s\) \[0\]"):
            await feed.wait_ready(0.5)
        assert feed.stats[0].reconnect_reasons.get("connect_failed", 0) >= 2
        assert feed.stats[0].connects == 0
        assert not task.done()  # the feed never dies of an unreachable venue
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_tokens_added_while_running_are_subscribed_on_the_live_connection(
    sim: SimServer,
) -> None:
    """New outcomes and markets found while running (issue 8, item 4): the first ones go on the
    live connection with a ``subscribe`` operation (no reconnection), the rest on a new one."""
    tokens = sim.token_ids()
    first, later = tokens[:8], tokens[8:]
    config = dataclasses.replace(FAST, assets_per_connection=10)
    books = BookStore()
    async with running(sim, config, books=books, tokens=first) as feed:
        assert set(books.books) <= set(first)
        assert await feed.add_tokens([*first[:2], *later]) == later  # known ones are ignored
        await wait_for(lambda: set(later) <= set(books.books), what="the new tokens' books")
        assert feed.shard_tokens == [[*first, *later[:2]], later[2:]]
        live = feed.stats[0]
        assert (live.connects, live.reconnects, live.tokens) == (1, 0, 10)
        await wait_for(lambda: feed.stats[1].ready, what="the new connection")
        assert feed.token_ids == tuple(tokens)
        await settle_and_compare(sim, books, tokens)
        assert await feed.add_tokens(tokens) == []
