"""CLOB public REST: the live API's shapes and quirks."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import httpx

from polyarb.domain.numbers import price_to_decimal
from polyarb.sim import ScenarioConfig, SimServer

CONFIG = ScenarioConfig(
    seed=21,
    binary_markets=3,
    negrisk_events=1,
    outcomes_per_event=3,
    updates_per_s=100.0,
    closed_markets=1,
)
NO_BOOK = {"error": "No orderbook exists for the requested token id"}


async def test_book_endpoints() -> None:
    async with SimServer(CONFIG) as sim, httpx.AsyncClient(base_url=sim.clob_url) as http:
        sim.pause()
        token = sim.token_ids()[0]
        response = await http.get("/book", params={"token_id": token})
        assert response.status_code == 200
        book = response.json()
        assert list(book) == [
            *("market", "asset_id", "timestamp", "hash", "bids", "asks"),
            *("min_order_size", "tick_size", "neg_risk", "last_trade_price"),
        ]
        assert book["asset_id"] == token
        assert len(book["timestamp"]) == 13
        assert book["min_order_size"] == "5"
        assert isinstance(book["neg_risk"], bool)
        bids = [Decimal(lv["price"]) for lv in book["bids"]]
        asks = [Decimal(lv["price"]) for lv in book["asks"]]
        assert bids == sorted(bids)
        assert asks == sorted(asks, reverse=True)
        truth = sim.truth(token)
        assert bids[-1] == price_to_decimal(truth.best_bid() or 0)
        assert asks[-1] == price_to_decimal(truth.best_ask() or 0)
        # The py-clob-client-v2 "server-compatible" hash: SHA-1 of the compact JSON, hash blank.
        blank = json.dumps(book | {"hash": ""}, separators=(",", ":"), ensure_ascii=False)
        assert book["hash"] == hashlib.sha1(blank.encode()).hexdigest()

        missing = await http.get("/book", params={"token_id": "1234567890"})
        assert (missing.status_code, missing.json()) == (404, NO_BOOK)
        invalid = await http.get("/book", params={"token_id": "abc"})
        assert (invalid.status_code, invalid.json()) == (400, {"error": "Invalid token id"})

        tokens = sim.token_ids()[:3]
        many = await http.post("/books", json=[{"token_id": t} for t in tokens])
        assert [b["asset_id"] for b in many.json()] == tokens
        plural_get = await http.get("/books", params={"token_ids": ",".join(tokens)})
        assert plural_get.status_code == 400  # live: plural reads only as POST
        bad_body = await http.post("/books", content=b'{"token_id": 1}')
        assert bad_body.status_code == 400


async def test_prices_midpoint_tick_and_misc() -> None:
    async with SimServer(CONFIG) as sim, httpx.AsyncClient(base_url=sim.clob_url) as http:
        sim.pause()
        token = sim.token_ids()[0]
        truth = sim.truth(token)
        bid, ask = truth.best_bid(), truth.best_ask()
        assert bid is not None
        assert ask is not None
        mid = (await http.get("/midpoint", params={"token_id": token})).json()
        assert list(mid) == ["mid"]
        assert isinstance(mid["mid"], str)
        assert Decimal(mid["mid"]) == (price_to_decimal(bid) + price_to_decimal(ask)) / 2
        buy = (await http.get("/price", params={"token_id": token, "side": "BUY"})).json()
        sell = (await http.get("/price", params={"token_id": token, "side": "SELL"})).json()
        assert buy == {"price": str(price_to_decimal(bid).normalize())}
        assert Decimal(sell["price"]) == price_to_decimal(ask)
        bad_side = await http.get("/price", params={"token_id": token, "side": "UP"})
        assert bad_side.status_code == 400
        tick = (await http.get("/tick-size", params={"token_id": token})).json()
        assert isinstance(tick["minimum_tick_size"], float)  # a JSON number, not a string
        assert Decimal(str(tick["minimum_tick_size"])) in (Decimal("0.01"), Decimal("0.001"))
        spread = (await http.get("/spread", params={"token_id": token})).json()
        assert Decimal(spread["spread"]) == price_to_decimal(ask - bid)
        prices = (await http.post("/prices", json=[{"token_id": token}])).json()
        assert list(prices[token]) == ["SELL"]  # no side: SELL only
        mids = (await http.post("/midpoints", json=[{"token_id": token}])).json()
        assert mids == {token: mid["mid"]}
        last = (await http.get("/last-trade-price", params={"token_id": token})).json()
        assert set(last) == {"price", "side"}
        server_time = (await http.get("/time")).json()
        assert isinstance(server_time, int)
        assert 1_700_000_000 < server_time < 4_000_000_000
        assert (await http.get("/version")).json() == {"version": 2}
        assert (await http.get("/ok")).status_code == 200
        neg_risk_token = sim.venue.catalog.neg_risk_events[0].markets[0].token_ids[0]
        assert (await http.get("/neg-risk", params={"token_id": neg_risk_token})).json() == {
            "neg_risk": True
        }
        assert (await http.get("/midpoint", params={"token_id": "99"})).status_code == 404


async def test_clob_markets_pages_with_cursors() -> None:
    async with SimServer(CONFIG) as sim, httpx.AsyncClient(base_url=sim.clob_url) as http:
        sim.rest.clob_page_size = 3
        cursor, seen, pages = "MA==", [], 0
        while cursor != "LTE=":
            page = (await http.get("/markets", params={"next_cursor": cursor})).json()
            assert set(page) == {"limit", "count", "next_cursor", "data"}
            assert page["limit"] == 3
            assert page["count"] == len(page["data"])
            seen += page["data"]
            cursor = page["next_cursor"]
            pages += 1
        assert pages == 3
        assert len(seen) == len(sim.venue.catalog.markets) == 7
        market = seen[0]
        assert isinstance(market["minimum_tick_size"], float)
        assert isinstance(market["minimum_order_size"], int)
        assert [t["outcome"] for t in market["tokens"]] == ["Yes", "No"]
        assert all(isinstance(t["price"], float) for t in market["tokens"])
        closed = [m for m in seen if m["closed"]]
        assert len(closed) == 1
        assert sum(t["winner"] for t in closed[0]["tokens"]) == 1
        one = (await http.get(f"/markets/{market['condition_id']}")).json()
        assert one["condition_id"] == market["condition_id"]
        assert "data" not in one
        compact = (await http.get(f"/clob-markets/{market['condition_id']}")).json()
        assert compact["c"] == market["condition_id"]
        assert len(compact["t"]) == 2
        assert (await http.get("/markets/0xdead")).status_code == 404
