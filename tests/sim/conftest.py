"""Helpers for the simulator's tests: a strict, independent client of the market channel.

``WireBooks`` is the "perfect client" the simulator's truth is defined against: it decodes every
frame with the stdlib, checks the wire conventions on the way (strings, best-last order, both
mirrored entries) and keeps Decimal books. It shares no code with polyarb.marketdata or with
the simulator's encoder.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
import websockets

from polyarb.domain.book import OrderBook
from polyarb.domain.numbers import price_to_decimal, size_to_decimal

HASH = re.compile(r"^[0-9a-f]{40}$")
MS = re.compile(r"^\d{13}$")
PRICE = re.compile(r"^(0(\.\d{1,4})?|1)$")
SIZE = re.compile(r"^\d+(\.\d{1,6})?$")
ONE = Decimal(1)

Levels = dict[Decimal, Decimal]


class WireBooks:
    """Books of every token seen, built only from frames."""

    def __init__(self) -> None:
        self.bids: dict[str, Levels] = {}
        self.asks: dict[str, Levels] = {}
        self.last_ts: dict[str, int] = {}  # market -> last timestamp seen
        self.events: list[dict[str, Any]] = []
        self.pongs = 0

    def apply(self, text: str) -> list[dict[str, Any]]:
        """Apply one frame; returns its events (objects)."""
        if text == "PONG":
            self.pongs += 1
            return []
        decoded = json.loads(text)
        events = decoded if isinstance(decoded, list) else [decoded]
        for event in events:
            kind = event["event_type"]
            market = event.get("market", "")
            ts = int(event["timestamp"])
            assert MS.match(event["timestamp"]), event["timestamp"]
            if kind == "book":
                self._book(event)
            elif kind == "price_change":
                assert ts > self.last_ts.get(market, 0), "timestamps increase per market"
                self._price_change(event)
            if kind != "book" or not isinstance(decoded, list):
                self.last_ts[market] = max(ts, self.last_ts.get(market, 0))
            self.events.append(event)
        return events

    def _book(self, event: dict[str, Any]) -> None:
        assert HASH.match(event["hash"])
        assert PRICE.match(event["tick_size"])
        assert "last_trade_price" in event
        token = event["asset_id"]
        bids = [(Decimal(lv["price"]), Decimal(lv["size"])) for lv in event["bids"]]
        asks = [(Decimal(lv["price"]), Decimal(lv["size"])) for lv in event["asks"]]
        for lv in event["bids"] + event["asks"]:
            assert PRICE.match(lv["price"]), lv
            assert SIZE.match(lv["size"]), lv
        assert [p for p, _ in bids] == sorted(p for p, _ in bids), "bids ascending (best last)"
        assert [p for p, _ in asks] == sorted((p for p, _ in asks), reverse=True), "asks desc"
        self.bids[token] = dict(bids)
        self.asks[token] = dict(asks)

    def _price_change(self, event: dict[str, Any]) -> None:
        touched = set()
        for entry in event["price_changes"]:
            assert PRICE.match(entry["price"]), entry
            assert SIZE.match(entry["size"]), entry
            assert entry["side"] in ("BUY", "SELL")
            assert HASH.match(entry["hash"])
            side = self.bids if entry["side"] == "BUY" else self.asks
            levels = side.setdefault(entry["asset_id"], {})
            price, size = Decimal(entry["price"]), Decimal(entry["size"])
            if size:
                levels[price] = size
            else:
                levels.pop(price, None)
            touched.add(entry["asset_id"])
        for entry in event["price_changes"]:  # best_bid/best_ask: after the whole message
            token = entry["asset_id"]
            assert Decimal(entry["best_bid"]) == self.best_bid(token, Decimal(0)), entry
            assert Decimal(entry["best_ask"]) == self.best_ask(token, ONE), entry

    def best_bid(self, token: str, empty: Decimal | None = None) -> Decimal | None:
        levels = self.bids.get(token) or {}
        return max(levels) if levels else empty

    def best_ask(self, token: str, empty: Decimal | None = None) -> Decimal | None:
        levels = self.asks.get(token) or {}
        return min(levels) if levels else empty

    def mirrored(self, yes: str, no: str) -> bool:
        """YES bids are NO asks at 1 - p (and vice versa), same sizes."""
        return {ONE - p: s for p, s in self.bids.get(yes, {}).items()} == self.asks.get(
            no, {}
        ) and ({ONE - p: s for p, s in self.asks.get(yes, {}).items()} == self.bids.get(no, {}))

    def matches(self, token: str, truth: OrderBook) -> bool:
        bids = {price_to_decimal(p): size_to_decimal(s) for p, s in truth.bids.levels.items()}
        asks = {price_to_decimal(p): size_to_decimal(s) for p, s in truth.asks.levels.items()}
        return self.bids.get(token, {}) == bids and self.asks.get(token, {}) == asks


def subscribe_message(tokens: list[str], **extra: Any) -> str:
    return json.dumps({"assets_ids": tokens, "type": "market", **extra})


@asynccontextmanager
async def connect(url: str, tokens: list[str]) -> AsyncIterator[Any]:
    """A websockets connection subscribed to ``tokens``."""
    async with websockets.connect(url, compression=None, max_queue=None) as ws:
        await ws.send(subscribe_message(tokens))
        yield ws


async def pump(
    ws: Any, books: WireBooks, seconds: float, on_frame: Callable[[str], None] | None = None
) -> int:
    """Apply every frame received for ``seconds``; returns how many."""
    count = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            text = await asyncio.wait_for(ws.recv(), timeout=left)
        except TimeoutError:
            break
        books.apply(text)
        if on_frame is not None:
            on_frame(text)
        count += 1
    return count


@pytest.fixture
def wire_books() -> type[WireBooks]:
    return WireBooks


@pytest.fixture
def sim_connect() -> Callable[[str, list[str]], Any]:
    return connect


@pytest.fixture
def sim_pump() -> Callable[..., Any]:
    return pump
