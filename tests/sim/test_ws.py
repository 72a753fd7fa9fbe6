"""The market channel over a real WebSocket: subscribe snapshot, heartbeat, price_change format,
the mirror invariant and agreement with the venue's truth."""

from __future__ import annotations

import json
from decimal import Decimal

import websockets

from polyarb.sim import ScenarioConfig, SimServer

FAST = ScenarioConfig(
    seed=11,
    binary_markets=3,
    negrisk_events=1,
    outcomes_per_event=3,
    updates_per_s=400.0,
    closed_markets=1,
)


def binary_pairs(sim: SimServer) -> list[tuple[str, str]]:
    return [m.token_ids for m in sim.venue.catalog.markets if m.live]


async def test_subscribe_answers_one_array_of_books_best_last(wire_books, sim_connect) -> None:
    async with SimServer(FAST) as sim:
        tokens = sim.token_ids()
        async with websockets.connect(sim.ws_url) as ws:
            # "type" is case-insensitive (old docs said "MARKET").
            await ws.send(json.dumps({"assets_ids": tokens, "type": "MARKET"}))
            first = json.loads(await ws.recv())
        assert isinstance(first, list)
        assert [b["asset_id"] for b in first] == tokens
        books = wire_books()
        for book in first:
            assert book["event_type"] == "book"
            assert book["market"].startswith("0x")
            assert len(book["market"]) == 66
            assert book["tick_size"] in ("0.01", "0.001")
            assert all(
                isinstance(lv["price"], str) and isinstance(lv["size"], str)
                for lv in book["bids"] + book["asks"]
            )
            assert len(book["bids"]) >= 2
            assert len(book["asks"]) >= 2
            best_bid, best_ask = (
                Decimal(book["bids"][-1]["price"]),
                Decimal(book["asks"][-1]["price"]),
            )
            assert best_bid == max(Decimal(lv["price"]) for lv in book["bids"])
            assert best_ask == min(Decimal(lv["price"]) for lv in book["asks"])
            assert best_bid < best_ask
        books.apply(json.dumps(first))  # the helper re-checks order, hash, tick, strings

        closed = next(m for m in sim.venue.catalog.markets if m.closed)
        async with sim_connect(sim.ws_url, [closed.token_ids[0], "123"]) as ws:
            assert await ws.recv() == "[]"  # unknown / closed tokens: a bare empty array


async def test_ping_gets_pong_and_dynamic_subscriptions(sim_connect) -> None:
    async with SimServer(FAST) as sim:
        yes, _no = binary_pairs(sim)[0]
        other = binary_pairs(sim)[1][0]
        async with sim_connect(sim.ws_url, [yes]) as ws:
            assert [b["asset_id"] for b in json.loads(await ws.recv())] == [yes]
            await ws.send("PING")
            for _ in range(1000):
                if await ws.recv() == "PONG":
                    break
            else:
                raise AssertionError("no PONG")
            await ws.send(json.dumps({"operation": "subscribe", "assets_ids": [other]}))
            for _ in range(1000):
                decoded = json.loads(await ws.recv())
                if isinstance(decoded, list):
                    assert [b["asset_id"] for b in decoded] == [other]
                    break
            else:
                raise AssertionError("no snapshot for the dynamic subscription")
            await ws.send(json.dumps({"operation": "unsubscribe", "assets_ids": [yes, other]}))
            sim.pause()
            await ws.send("PING")
            while await ws.recv() != "PONG":
                pass  # frames sent before the unsubscribe took effect
            sim.resume()
            await ws.send("PING")
            assert await ws.recv() == "PONG"  # nothing else is sent to an empty subscription


async def test_price_changes_mirror_both_tokens_and_books_match_truth(
    wire_books, sim_connect, sim_pump
) -> None:
    async with SimServer(FAST) as sim:
        pairs = binary_pairs(sim)
        tokens = sim.token_ids()
        books = wire_books()
        checked = 0

        def check(text: str) -> None:
            nonlocal checked
            for yes, no in pairs:  # no windows in this scenario: always mirror images
                assert books.mirrored(yes, no)
            checked += 1

        async with sim_connect(sim.ws_url, tokens) as ws:
            await sim_pump(ws, books, 1.5, check)
            sim.pause()
            await sim_pump(ws, books, 0.3, check)
        assert checked > 200
        changes = [e for e in books.events if e["event_type"] == "price_change"]
        assert changes
        for event in changes:
            entries = event["price_changes"]
            assert 2 <= len(entries) <= 10
            market = sim.venue.catalog.by_condition[event["market"]]
            yes, no = market.token_ids
            mine = [e for e in entries if e["asset_id"] == yes]
            mirror = [e for e in entries if e["asset_id"] == no]
            assert len(mine) == len(mirror) >= 1
            for a, b in zip(mine, mirror, strict=True):
                assert Decimal(a["price"]) + Decimal(b["price"]) == 1
                assert {a["side"], b["side"]} == {"BUY", "SELL"}
                assert a["size"] == b["size"]
        kinds = {e["event_type"] for e in books.events}
        assert {"book", "price_change", "last_trade_price"} <= kinds
        for token in tokens:
            assert books.matches(token, sim.truth(token)), token
