"""The decoder never raises: arrays, empty frames, PONG, garbage, unknown and bad elements."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from polyarb.marketdata.decoder import DecodeStats, FrameDecoder, SampleLog, decode_objects, sample
from polyarb.marketdata.schemas import BestBidAsk, Book, MarketResolved, NewMarket, PriceChange

TOKEN = "7132104567925221259462638553270691275033272857194253228963137931245558399256"


def book(asset: str = TOKEN, ts: str = "1757908892351") -> dict[str, object]:
    return {
        "event_type": "book",
        "asset_id": asset,
        "market": "0xabc",
        "bids": [{"price": "0.48", "size": "30"}],
        "asks": [{"price": "0.52", "size": "25"}],
        "timestamp": ts,
        "hash": "h",
    }


def change(asset: str = TOKEN) -> dict[str, object]:
    return {
        "event_type": "price_change",
        "market": "0xabc",
        "timestamp": "1757908892352",
        "price_changes": [{"asset_id": asset, "price": "0.5", "size": "200", "side": "BUY"}],
    }


@pytest.fixture
def decoder() -> FrameDecoder:
    return FrameDecoder(log_interval_s=0.0)


def test_object_and_array_frames(decoder: FrameDecoder) -> None:
    [one] = decoder.decode(json.dumps(book()))
    assert isinstance(one, Book)
    many = decoder.decode(json.dumps([book(), change(), book("2")]).encode())  # bytes too
    assert [type(m) for m in many] == [Book, PriceChange, Book]
    assert many[2].asset_id == "2"  # type: ignore[union-attr]
    assert decoder.counters == DecodeStats()


def test_empty_array_and_pong_are_not_errors(decoder: FrameDecoder) -> None:
    assert decoder.decode("[]") == []
    assert decoder.decode("PONG") == []
    assert decoder.decode(b"PONG\n") == []
    assert decoder.counters == DecodeStats(pongs=2)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "{",
        "not json",
        b"\xff\xfe{}",
        "42",
        '"book"',
        "[1, 2]",
        '{"asset_id": "x"}',  # no event_type
        '{"event_type": 7}',
        '{"event_type": "book", "asset_id": "x"}',  # missing fields
        '{"event_type": "price_change", "timestamp": "1", "price_changes": [{"price": "0.5"}]}',
        '{"event_type": "book", "asset_id": "x", "bids": {}, "asks": [], "timestamp": "1"}',
        '{"event_type": "last_trade_price", "asset_id": "x", "price": "0.5", "size": "1", '
        '"side": "HOLD", "timestamp": "1"}',
    ],
)
def test_garbage_is_counted_as_malformed(decoder: FrameDecoder, raw: str | bytes) -> None:
    assert decoder.decode(raw) == []
    assert decoder.counters.malformed >= 1
    assert decoder.counters.unknown == 0


def test_unknown_event_type_is_counted_and_ignored(decoder: FrameDecoder) -> None:
    frame = [{"event_type": "brand_new_thing", "x": 1}, book()]
    messages = decoder.decode(json.dumps(frame))
    assert [type(m) for m in messages] == [Book]
    assert decoder.counters == DecodeStats(unknown=1)


def test_one_bad_element_does_not_lose_the_others(decoder: FrameDecoder) -> None:
    bad = book()
    del bad["bids"]
    frame = [book("1"), bad, "junk", change(), book("3")]
    messages = decoder.decode(json.dumps(frame))
    assert [type(m) for m in messages] == [Book, PriceChange, Book]
    assert [getattr(m, "asset_id", None) for m in messages] == ["1", None, "3"]
    assert decoder.counters.malformed == 2


def test_custom_feature_events_decode(decoder: FrameDecoder) -> None:
    frame = [
        {
            "event_type": "best_bid_ask",
            "market": "0x1",
            "asset_id": "a",
            "best_bid": "0.73",
            "best_ask": "",
            "spread": "0.04",
            "timestamp": "1766789469958",
        },
        {
            "event_type": "market_resolved",
            "id": "1031769",
            "market": "0x1",
            "assets_ids": ["a", "b"],
            "winning_asset_id": "a",
            "winning_outcome": "Over",
            "timestamp": "1766790415550",
            "tags": ["stocks"],
        },
        {"event_type": "new_market", "market": "0x2", "assets_ids": ["c", "d"], "extra": {"k": 1}},
    ]
    best, resolved, new = decoder.decode(json.dumps(frame))
    assert isinstance(best, BestBidAsk)
    assert best.best_ask == ""
    assert isinstance(resolved, MarketResolved)
    assert resolved.winning_outcome == "Over"
    assert isinstance(new, NewMarket)
    assert new.assets_ids == ["c", "d"]
    assert decode_objects(json.dumps(frame), "new_market") == [frame[2]]


def test_malformed_samples_are_short_and_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    structlog.configure(logger_factory=structlog.stdlib.LoggerFactory())
    try:
        decoder = FrameDecoder(log_interval_s=3600.0)
        with caplog.at_level(logging.WARNING):
            for _ in range(50):
                decoder.decode("x" * 5000)
        assert decoder.counters.malformed == 50
        logged = [r for r in caplog.records if "malformed" in r.getMessage()]
        assert len(logged) == 1  # one sample per interval, not fifty
        assert len(logged[0].getMessage()) < 600  # a short sample, never the whole frame
    finally:
        structlog.reset_defaults()


def test_sample_log_reports_how_many_were_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    structlog.configure(logger_factory=structlog.stdlib.LoggerFactory())
    try:
        log = SampleLog("thing", interval_s=0.0)
        with caplog.at_level(logging.WARNING):
            log("why", "raw")
        assert "suppressed" in caplog.records[-1].getMessage()
    finally:
        structlog.reset_defaults()


def test_sample_truncates_text_and_bytes() -> None:
    assert sample("a" * 300) == "a" * 200 + "…"
    assert sample(b"b" * 300, 10) == "b" * 10 + "…"
    assert sample("short") == "short"
