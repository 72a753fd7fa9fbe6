"""CLOB REST market objects and the /markets page -> domain Market; the V1 /book fixture read into
the domain OrderBook (best bid and best ask are the LAST entries on the wire)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyarb.domain.book import OrderBook
from polyarb.domain.errors import MalformedMessage
from polyarb.domain.market import NO_FEES
from polyarb.domain.numbers import parse_price, parse_size, price_str, size_str
from polyarb.marketdata.clob_markets import (
    END_CURSOR,
    parse_clob_market,
    parse_clob_markets_page,
    winning_outcome,
)
from polyarb.marketdata.gamma import decode_json, fallback_fee_schedule

REST = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket" / "rest"


def load(name: str) -> Any:
    return decode_json((REST / name).read_bytes())


def test_market_by_condition_id_2024() -> None:
    raw = load("clob_market_by_condition_id_2024.json")
    m = parse_clob_market(raw)
    assert m.condition_id == "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
    assert m.slug == "will-donald-trump-win-the-2024-us-presidential-election"
    assert m.yes is not None
    assert m.yes.token_id == (
        "21742633143463906290569050155826241533067272736897614950488156847949938836455"
    )
    assert m.no is not None
    assert m.no.token_id == (
        "48331043336612883890938759509493159234755048973500640148014422747788308965732"
    )
    assert m.tick_size == Decimal("0.001")
    assert m.min_order_size == Decimal(5)
    assert m.neg_risk
    assert m.neg_risk_market_id == (
        "0xe3b1bc389210504ebcb9cffe4b0ed06ccac50561e0f24abb6379984cec030f00"
    )
    assert m.accepting_orders
    assert m.enable_order_book
    assert m.active
    assert not m.closed
    assert m.end_date == datetime(2024, 11, 5, tzinfo=UTC)
    assert m.game_start_time is None
    assert m.fees == NO_FEES  # taker_base_fee 0
    assert m.tags[0] == "Politics"
    assert "US Election" in m.tags
    assert winning_outcome(raw) is None  # not resolved


def test_closed_resolved_accepting_false() -> None:
    raw = load("clob_market_closed_resolved_accepting_false.json")
    m = parse_clob_market(raw)
    assert m.slug == "katana-fdv-above-1b-one-day-after-launch-395-996"
    assert m.closed
    assert not m.accepting_orders
    assert not m.enable_order_book
    assert m.neg_risk is False
    assert m.neg_risk_market_id is None
    assert m.end_date == datetime(2028, 1, 1, tzinfo=UTC)
    assert winning_outcome(raw) == "No"
    assert m.no is not None
    assert m.no.token_id == (
        "89711174926330519158043401581181146613785179104141808554061413232025882707365"
    )


def test_closed_resolved_accepting_true() -> None:
    raw = load("clob_market_closed_resolved_accepting_true.json")
    m = parse_clob_market(raw)
    assert m.closed
    assert m.accepting_orders
    assert not m.enable_order_book
    assert m.tick_size == Decimal("0.01")
    assert m.game_start_time == datetime(2026, 5, 8, 20, tzinfo=UTC)
    assert winning_outcome(raw) == "Yes"
    assert "Geopolitics" in m.tags


def test_markets_page_first30() -> None:
    page = parse_clob_markets_page(load("clob_markets_page_first30_of_100.json"))
    assert page.next_cursor == "MTAw"
    assert not page.is_last
    # one 2022 object has empty token ids and outcome labels: skipped and counted
    assert page.skipped == 1
    assert len(page.markets) == 29
    finals = [m for m in page.markets if {o.label for o in m.outcomes} == {"Celtics", "Warriors"}]
    assert len(finals) == 6
    first = finals[0]
    assert first.condition_id.startswith("0x9bea26c852")
    assert first.game_start_time == datetime(2022, 6, 3, 1, tzinfo=UTC)
    assert first.outcome("Celtics") is not None
    # a JSON number minimum size keeps its exact value
    assert Decimal("14.96") in {m.min_order_size for m in page.markets}
    assert {m.tick_size for m in page.markets} == {Decimal("0.01"), Decimal("0.001")}


def test_last_page() -> None:
    page = parse_clob_markets_page({"limit": 1, "count": 0, "next_cursor": END_CURSOR, "data": []})
    assert page.is_last
    assert page.markets == ()
    with pytest.raises(MalformedMessage):
        parse_clob_markets_page({"next_cursor": "MA=="})


def test_fee_markets_get_the_conservative_schedule() -> None:
    raw = load("clob_market_by_condition_id_2024.json") | {"taker_base_fee": 1000}
    assert parse_clob_market(raw).fees == fallback_fee_schedule(None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"condition_id": None}, "missing condition_id"),
        ({"tokens": []}, "at least two tokens"),
        ({"minimum_tick_size": 0}, "implausible minimum_tick_size"),
        ({"minimum_tick_size": "x"}, "not a number"),
        ({"end_date_iso": "soon"}, "not a date"),
        ({"accepting_orders": "true"}, "not a boolean"),
    ],
)
def test_malformed(change: dict[str, object], message: str) -> None:
    raw = load("clob_market_by_condition_id_2024.json") | change
    with pytest.raises(MalformedMessage, match=message):
        parse_clob_market(raw)


def test_repeated_token_is_malformed() -> None:
    raw = copy.deepcopy(load("clob_market_by_condition_id_2024.json"))
    raw["tokens"][1]["token_id"] = raw["tokens"][0]["token_id"]
    with pytest.raises(MalformedMessage, match="repeated"):
        parse_clob_market(raw)


def test_book_v1_into_the_domain_book() -> None:
    raw = load("book_v1_2024-10.json")
    book = OrderBook(raw["asset_id"], raw["market"])
    book.apply_snapshot(
        [(parse_price(lv["price"]), parse_size(lv["size"])) for lv in raw["bids"]],
        [(parse_price(lv["price"]), parse_size(lv["size"])) for lv in raw["asks"]],
        ts_event_ms=int(raw["timestamp"]),
        ts_recv_ns=1,
    )
    # the wire lists bids ascending and asks descending: the best of each is the last entry
    assert raw["bids"][-1]["price"] == "0.1"
    assert raw["asks"][-1]["price"] == "0.14"
    best_bid, best_ask = book.best_bid(), book.best_ask()
    assert best_bid is not None
    assert price_str(best_bid) == "0.1"
    assert best_ask is not None
    assert price_str(best_ask) == "0.14"
    assert not book.is_crossed()
    assert not book.stale
    assert book.mid() == Decimal("0.12")
    bids, asks = book.snapshot_levels()
    assert [price_str(p) for p, _ in bids] == ["0.1", "0.09", "0.08", "0.06", "0.01"]
    assert [size_str(s) for _, s in asks][:5] == ["705", "70", "192.3", "10", "50"]
    assert book.ts_event_ms == 1728799418260
    # V1-era book: no tick_size / min_order_size / neg_risk keys (the current API adds them)
    assert "tick_size" not in raw
    assert "neg_risk" not in raw
