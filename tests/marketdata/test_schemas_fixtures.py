"""Every real market-channel fixture decodes to the right typed message and the right book state."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from polyarb.domain.book import Side
from polyarb.domain.numbers import parse_price, parse_size
from polyarb.marketdata.books import BookStore, NullListener
from polyarb.marketdata.decoder import FrameDecoder
from polyarb.marketdata.schemas import (
    MESSAGE_TYPES,
    Book,
    LastTradePrice,
    PriceChange,
    TickSizeChange,
)

WS = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket" / "ws"
SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket" / "spec"

FULL_DEPTH = WS / "market_book_snapshot_full_depth_2024-10.json"
FULL_DEPTH_TOKEN = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
BATCHED = WS / "market_price_change_batched_price_changes.json"
BATCHED_TOKEN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


class Recorder(NullListener):
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def on_trade(self, token_id: str, price: int, size: int, side: Side, ts_event_ms: int) -> None:
        self.calls.append(("trade", token_id, price, size, side, ts_event_ms))

    def on_tick_size_change(self, token_id: str, new_tick: int) -> None:
        self.calls.append(("tick", token_id, new_tick))


def test_every_market_fixture_is_covered_here() -> None:
    covered = {
        "market_book_snapshot_full_depth_2024-10.json",
        "market_price_change_batched_price_changes.json",
        "market_price_change_legacy_single_level_pre_2025-09.json",
        "market_last_trade_price.json",
        "market_tick_size_change.json",
    }
    assert {f.name for f in WS.glob("market_*.json")} == covered


def test_full_depth_snapshot_decodes_and_builds_the_book() -> None:
    raw = FULL_DEPTH.read_text()
    [message] = FrameDecoder().decode(raw)
    assert isinstance(message, Book)
    assert message.asset_id == FULL_DEPTH_TOKEN
    assert (len(message.bids), len(message.asks)) == (76, 86)
    assert message.hash == "655a38d4977427b086c25b985993691b753ed166"

    store = BookStore()
    assert store.on_frame(raw, 123) == {FULL_DEPTH_TOKEN}
    book = store.books[FULL_DEPTH_TOKEN]
    # Wire order is best LAST: bids 0.001 -> 0.511, asks 0.999 -> 0.514.
    assert book.best_bid() == parse_price("0.511")
    assert book.best_ask() == parse_price("0.514")
    assert (len(book.bids), len(book.asks)) == (76, 86)
    bids, asks = book.snapshot_levels()
    assert bids[:3] == [(5110, 1_304_720_000), (5100, 12_848_170_000), (5090, 27_880_000)]
    assert asks[:3] == [(5140, 20_230_870_000), (5150, 43_551_960_000), (5160, 28_605_550_000)]
    assert bids[-1] == (10, parse_size("9000023.58"))
    assert asks[-1] == (9990, parse_size("10500100"))
    assert book.market == "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
    assert book.ts_event_ms == 1728799418260
    assert book.ts_recv_ns == 123
    assert not book.stale
    assert not book.is_crossed()
    assert book.mid() == Decimal("0.5125")
    assert store.stats.book_events == 1


def test_batched_price_change_decodes_and_applies_to_its_asset() -> None:
    raw = BATCHED.read_text()
    [message] = FrameDecoder().decode(raw)
    assert isinstance(message, PriceChange)
    entries = message.entries()
    assert [(e.price, e.size, e.side) for e in entries] == [
        ("0.6", "3300", "BUY"),
        ("0.5", "3400", "BUY"),
        ("0.7", "3400", "BUY"),
    ]
    assert {e.asset_id for e in entries} == {BATCHED_TOKEN}
    assert entries[0].best_bid == "0.6"
    assert entries[0].best_ask == "0.7"

    store = BookStore()
    assert store.on_frame(raw, 1) == set()  # no snapshot yet: counted, not applied
    assert store.stats.no_book == 3
    store.on_frame(
        f'{{"event_type":"book","asset_id":"{BATCHED_TOKEN}","bids":[],"asks":[{{"price":"0.8","size":"1"}}],'
        '"timestamp":"1729084877000","hash":"h"}',
        2,
    )
    assert store.on_frame(raw, 3) == {BATCHED_TOKEN}
    book = store.books[BATCHED_TOKEN]
    assert book.snapshot_levels()[0] == [
        (7000, 3400 * 10**6),
        (6000, 3300 * 10**6),
        (5000, 3400 * 10**6),
    ]
    assert store.stats.book_events == 1 + 3


def test_legacy_single_level_price_change_is_understood() -> None:
    raw = (WS / "market_price_change_legacy_single_level_pre_2025-09.json").read_text()
    [message] = FrameDecoder().decode(raw)
    assert isinstance(message, PriceChange)
    assert message.price_changes is None
    [entry] = message.entries()
    assert (entry.asset_id, entry.price, entry.size, entry.side) == (
        FULL_DEPTH_TOKEN,
        "0.514",
        "21574.08",
        "SELL",
    )
    store = BookStore()
    snapshot = FULL_DEPTH.read_text().replace("1728799418260", "1723967931000")  # make it older
    store.on_frame(snapshot, 1)
    assert store.on_frame(raw, 2) == {FULL_DEPTH_TOKEN}
    assert store.books[FULL_DEPTH_TOKEN].asks.levels[5140] == parse_size("21574.08")


def test_legacy_price_change_stamped_before_the_snapshot_is_applied_in_arrival_order() -> None:
    store = BookStore()
    store.on_frame(FULL_DEPTH.read_text(), 1)  # 2024-10
    legacy = (WS / "market_price_change_legacy_single_level_pre_2025-09.json").read_text()
    assert store.on_frame(legacy, 2) == {FULL_DEPTH_TOKEN}  # 2024-08: a label, not an order
    assert store.books[FULL_DEPTH_TOKEN].asks.levels[5140] == parse_size("21574.08")
    assert store.stats.ts_backwards == 1


def test_last_trade_price_reaches_the_listener() -> None:
    raw = (WS / "market_last_trade_price.json").read_text()
    [message] = FrameDecoder().decode(raw)
    assert isinstance(message, LastTradePrice)
    listener = Recorder()
    store = BookStore(listener)
    assert store.on_frame(raw, 5) == set()
    token = "21742633143463906290569050155826241533067272736897614950488156847949938836455"
    assert listener.calls == [
        ("trade", token, 4910, 85_360_000, Side.SELL, 1724564136087),
    ]
    assert store.stats.events_by_type["last_trade_price"] == 1


def test_tick_size_change_clears_the_book_and_tells_the_listener() -> None:
    raw = (WS / "market_tick_size_change.json").read_text()
    [message] = FrameDecoder().decode(raw)
    assert isinstance(message, TickSizeChange)
    assert (message.old_tick_size, message.new_tick_size) == ("0.01", "0.001")
    token = "115474063863764126958837769719736461272619491980773624567012766320777398670353"
    listener = Recorder()
    store = BookStore(listener)
    store.on_frame(
        f'{{"event_type":"book","asset_id":"{token}","bids":[{{"price":"0.95","size":"10"}}],'
        '"asks":[{"price":"0.97","size":"5"}],"timestamp":"1739068041000","hash":"h",'
        '"tick_size":"0.01"}',
        1,
    )
    assert store.books[token].tick == 100
    assert store.on_frame(raw, 2) == {token}
    book = store.books[token]
    assert book.stale
    assert book.best_bid() is None
    assert book.best_ask() is None
    assert book.tick == 10
    assert listener.calls == [("tick", token, 10)]


def test_spec_examples_of_every_event_type_decode() -> None:
    import json

    spec = json.loads((SPEC / "asyncapi_market_channel.json").read_text())
    messages = spec["components"]["messages"]
    decoded = set()
    for message in messages.values():
        for example in message.get("examples", []):
            payload = example["payload"]
            if "event_type" not in payload:
                continue
            [typed] = FrameDecoder().decode(json.dumps(payload))
            assert isinstance(typed, MESSAGE_TYPES[payload["event_type"]])
            decoded.add(payload["event_type"])
    assert decoded == set(MESSAGE_TYPES)


@pytest.mark.parametrize("path", sorted(WS.glob("market_*.json")), ids=lambda p: p.stem)
def test_fixture_in_an_array_frame_decodes_the_same(path: Path) -> None:
    text = path.read_text()
    single = FrameDecoder().decode(text)
    in_array = FrameDecoder().decode(f"[{text},{text}]")
    assert in_array == single * 2
