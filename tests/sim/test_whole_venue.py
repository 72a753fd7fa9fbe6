"""The whole-venue scenario: its shapes, Zipf activity, bursts, and a feed served over many
connections (a small venue here; bench/bench_scale.py runs 10,000 tokens)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest

from polyarb.marketdata.books import BookStore
from polyarb.marketdata.feed import FeedConfig, MarketFeed
from polyarb.sim import SimServer
from polyarb.sim.generator import build_scenario
from polyarb.sim.whole_venue import BURST_FACTOR, Prerendered, whole_venue

EPOCH = datetime(2026, 3, 2, tzinfo=UTC)


def test_shapes_and_rate_scale_with_the_venue() -> None:
    one = whole_venue(tokens=400, bursts=False)
    ten = whole_venue(tokens=400, rate=10, bursts=False)
    driver = build_scenario(one, epoch=EPOCH)
    catalog = driver.venue.catalog
    assert len(catalog.live_token_ids()) == 400
    assert len(catalog.neg_risk_events) == 10
    assert all(len(e.markets) == 4 for e in catalog.neg_risk_events)
    assert len(catalog.of_kind("binary")) == 160
    assert one.updates_per_s == pytest.approx(40.0)
    assert ten.updates_per_s == pytest.approx(400.0)
    with pytest.raises(ValueError, match="tokens >= 2"):
        whole_venue(tokens=1)


def test_activity_follows_zipf_across_markets() -> None:
    driver = build_scenario(whole_venue(tokens=400, bursts=False), epoch=EPOCH)
    activity = sorted((m.activity for m in driver.venue.catalog.markets), reverse=True)
    assert activity == pytest.approx([1 / k for k in range(1, 201)])
    # The stream follows it: the busiest market gets about 1 / H(200) of the events.
    per_market: Counter[str] = Counter()
    for frame in driver.advance_to(100.0):
        per_market[frame.market] += 1
    share = per_market.most_common(1)[0][1] / sum(per_market.values())
    assert 0.13 < share < 0.22  # 1 / H(200) = 0.17
    assert len(per_market) > 150  # and the long tail still moves


def test_bursts_raise_the_rate_for_a_while() -> None:
    config = whole_venue(tokens=1_000)  # 100 events/s between bursts
    driver = build_scenario(config, epoch=EPOCH)
    bursts: list[float] = []
    rates: list[tuple[float, int]] = []
    t = 0.0
    while t < 120.0:
        was = driver._rate
        frames = driver.advance_to(t + 0.5)
        rates.append((was, sum(f.kind != "last_trade_price" for f in frames)))
        if driver._rate > was:
            bursts.append(t)
        t += 0.5
    assert 2 <= len(bursts) <= 15  # one every ~20 s
    inside = [n for rate, n in rates if rate > config.updates_per_s]
    outside = [n for rate, n in rates if rate == config.updates_per_s]
    ratio = (sum(inside) / len(inside)) / (sum(outside) / len(outside))
    assert BURST_FACTOR * 0.7 < ratio < BURST_FACTOR * 1.3


def test_prerendered_frames_are_the_live_ones_stamped_when_sent() -> None:
    config = whole_venue(tokens=200, rate=5, window_every_s=1.0)
    live = build_scenario(config, epoch=EPOCH).advance_to(6.0)
    rendered = Prerendered(config, 6.0, EPOCH)
    assert [f.text for _, f in rendered.frames] == [f.text for f in live]
    assert len(live) > 300
    assert rendered.next_due_s() == pytest.approx((live[0].ts_ms - EPOCH.timestamp() * 1000) / 1000)
    first = rendered.advance_to(3.0, now_ms=1_900_000_000_000)
    rest = rendered.advance_to(10.0, now_ms=1_900_000_005_000, max_frames=10_000)
    assert len(first) + len(rest) == len(live)
    assert 0 < len(first) < len(live)
    for sent, original in zip(first + rest, live, strict=True):
        stamp = 1_900_000_000_000 if sent in first else 1_900_000_005_000
        assert sent.ts_ms == stamp
        assert f'"timestamp":"{stamp}"' in sent.text
        assert sent.text.replace(str(stamp), str(original.ts_ms)) == original.text
    assert rendered.next_due_s() == float("inf")


async def test_feed_gets_books_for_every_token_over_many_connections() -> None:
    sim = SimServer(whole_venue(tokens=60, rate=5), prerender_s=10)
    sim.pause()  # the stream starts once every connection has its snapshot
    async with sim:
        tokens = sim.token_ids()
        assert len(tokens) == 60
        books = BookStore()
        updates: set[str] = set()
        feed = MarketFeed(
            sim.ws_url,
            tokens,
            books,
            FeedConfig(assets_per_connection=6, rest_check_interval_s=0),
            on_update=lambda changed, _ns: updates.update(changed),
        )
        task = asyncio.create_task(feed.run())
        try:
            await feed.wait_ready(10)
            assert len(sim.channel.clients) == 10
            assert sorted(len(c.assets) for c in sim.channel.clients) == [6] * 10
            for token in tokens:
                book = books.books[token]
                assert book.bids.best() is not None
                assert book.asks.best() is not None
            # The stream flows after the snapshots, on more than one connection.
            updates.clear()
            sim.resume()
            for _ in range(100):
                served = {id(c) for c in sim.channel.clients if c.assets & updates}
                if len(served) >= 3:
                    break
                await asyncio.sleep(0.05)
            assert len(served) >= 3
            assert feed.totals()["connected"] == 10
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
