"""Every wire fault, as a client sees it on a real WebSocket."""

from __future__ import annotations

import asyncio
import itertools
import json
from decimal import Decimal, InvalidOperation

import httpx
import pytest
import websockets

from polyarb.sim import Fault, ScenarioConfig, SimServer

FAST = ScenarioConfig(seed=3, binary_markets=3, negrisk_events=0, updates_per_s=400.0)


async def frames_for(ws: websockets.ClientConnection, seconds: float) -> list[str]:
    out: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            out.append(await asyncio.wait_for(ws.recv(), timeout=left))
        except TimeoutError:
            break
    return out


async def read_until_closed(ws: websockets.ClientConnection, into: list[str]) -> None:
    while True:
        into.append(await ws.recv())


async def settle(sim: SimServer, ws, books) -> None:
    """Stop the venue and apply what is still in flight."""
    sim.pause()
    for text in await frames_for(ws, 0.3):
        books.apply(text)


async def test_disconnect_drops_every_connection_without_a_close_frame(sim_connect) -> None:
    async with SimServer(FAST) as sim:
        async with (
            sim_connect(sim.ws_url, sim.token_ids()) as a,
            sim_connect(sim.ws_url, sim.token_ids()[:1]) as b,
        ):
            await a.recv(), await b.recv()
            await sim.disconnect_all()
            for ws in (a, b):
                with pytest.raises(websockets.ConnectionClosedError) as closed:
                    await read_until_closed(ws, [])
                assert closed.value.rcvd is None  # abrupt: no close frame from the server
        async with sim_connect(sim.ws_url, sim.token_ids()) as again:
            assert isinstance(json.loads(await again.recv()), list)  # served as usual afterwards


async def test_freeze_silences_live_connections_only(sim_connect, sim_pump, wire_books) -> None:
    async with SimServer(FAST) as sim:
        tokens = sim.token_ids()
        async with sim_connect(sim.ws_url, tokens) as old:
            await frames_for(old, 0.2)
            sim.freeze(1.2)
            await frames_for(old, 0.1)  # bytes already on the wire
            await old.send("PING")
            async with sim_connect(sim.ws_url, tokens) as new:
                await new.send("PING")
                fresh = await frames_for(new, 0.6)
                silent = await frames_for(old, 0.1)
            assert silent == []  # nothing, not even PONG
            assert isinstance(json.loads(fresh[0]), list)
            assert "PONG" in fresh
            assert len(fresh) > 20
            await asyncio.sleep(0.5)
            await old.send("PING")
            resumed = await frames_for(old, 0.5)
            assert "PONG" in resumed
            assert len(resumed) > 20


def malformed(books, text: str) -> bool:
    try:
        books.apply(text)
    except (ValueError, KeyError, TypeError, AssertionError, InvalidOperation):
        return True
    return False


async def test_malformed_frames_carry_no_state(sim_connect, wire_books) -> None:
    async with SimServer(FAST) as sim:
        tokens = sim.token_ids()
        books = wire_books()
        async with sim_connect(sim.ws_url, tokens) as ws:
            for text in await frames_for(ws, 0.3):
                assert not malformed(books, text)
            sim.inject_malformed(6)
            bad = [t for t in await frames_for(ws, 0.5) if malformed(books, t)]
            await settle(sim, ws, books)
        assert len(bad) == 6
        assert any(t.startswith("{") and not t.endswith("}") for t in bad)  # cut JSON
        assert any('"price":"0.5.1"' in t or '"size":"NaN"' in t for t in bad)  # bad numbers
        assert any('"price_changes":"' in t for t in bad)  # wrong type
        for token in tokens:
            assert books.matches(token, sim.truth(token))


async def test_duplicates_are_sent_twice_in_a_row(sim_connect, wire_books) -> None:
    async with SimServer(FAST) as sim:
        books = wire_books()
        async with sim_connect(sim.ws_url, sim.token_ids()) as ws:
            books.apply(await ws.recv())
            sim.duplicate_next(5)
            seen = await frames_for(ws, 0.5)
            for previous, text in itertools.pairwise(["", *seen]):
                if text != previous:  # the copy carries nothing new
                    books.apply(text)
            await settle(sim, ws, books)
        assert sum(1 for a, b in itertools.pairwise(seen) if a == b) == 5
        for token in sim.token_ids():
            assert books.matches(token, sim.truth(token))


async def test_out_of_order_swaps_frames_of_one_market(sim_connect) -> None:
    async with SimServer(FAST) as sim:
        async with sim_connect(sim.ws_url, sim.token_ids()) as ws:
            await ws.recv()
            sim.reorder_next(3)
            seen = [json.loads(t) for t in await frames_for(ws, 0.8)]
        last: dict[str, int] = {}
        swaps = 0
        for event in seen:
            if event["event_type"] != "price_change":
                continue
            ts = int(event["timestamp"])
            if ts < last.get(event["market"], 0):
                swaps += 1
            assert ts != last.get(event["market"])  # distinct: a client can order them
            last[event["market"]] = max(ts, last.get(event["market"], 0))
        assert swaps == 3


async def test_tick_size_change_then_fresh_books(sim_connect, wire_books) -> None:
    async with SimServer(FAST) as sim:
        market = next(m for m in sim.venue.catalog.of_kind("binary") if m.tick == 100)
        yes, no = market.token_ids
        async with sim_connect(sim.ws_url, [yes, no]) as ws:
            await ws.recv()
            sim.change_tick(yes, Decimal("0.001"))
            events = []
            for text in await frames_for(ws, 0.3):
                decoded = json.loads(text)
                events += decoded if isinstance(decoded, list) else [decoded]
        changes = [e for e in events if e["event_type"] == "tick_size_change"]
        assert {e["asset_id"] for e in changes} == {yes, no}
        assert all(e["old_tick_size"] == "0.01" and e["new_tick_size"] == "0.001" for e in changes)
        first_change = events.index(changes[0])
        fresh = [e for e in events[first_change:] if e["event_type"] == "book"]
        assert {e["asset_id"] for e in fresh} >= {yes, no}
        assert all(e["tick_size"] == "0.001" for e in fresh)
        async with httpx.AsyncClient(base_url=sim.clob_url) as http:
            tick = (await http.get("/tick-size", params={"token_id": yes})).json()
        assert tick == {"minimum_tick_size": 0.001}
        with pytest.raises(ValueError, match="tick size"):
            sim.change_tick(yes, Decimal("0.02"))
        with pytest.raises(KeyError):
            sim.change_tick("123", Decimal("0.01"))


async def test_coarser_tick_drops_off_grid_levels(sim_connect) -> None:
    async with SimServer(FAST) as sim:
        market = next(m for m in sim.venue.catalog.of_kind("binary") if m.tick == 10)
        sim.pause()
        sim.change_tick(market.token_ids[0], Decimal("0.01"))
        for token in market.token_ids:
            book = sim.truth(token)
            assert book.tick == 100
            assert all(p % 100 == 0 for p in [*book.bids.levels, *book.asks.levels])


async def test_scheduled_faults_happen_on_time(sim_connect) -> None:
    config = ScenarioConfig(
        seed=3,
        binary_markets=2,
        negrisk_events=0,
        updates_per_s=300.0,
        faults=(
            Fault("duplicate", at_s=0.2, count=4),
            Fault("disconnect", at_s=0.8),
            Fault("tick_size_change", at_s=0.4, count=1),
        ),
    )
    async with SimServer(config) as sim, sim_connect(sim.ws_url, sim.token_ids()) as ws:
        seen: list[str] = []
        with pytest.raises(websockets.ConnectionClosedError):
            await read_until_closed(ws, seen)
        assert sim.scenario_time() >= 0.8
    assert sum(1 for a, b in itertools.pairwise(seen) if a == b) >= 4
    assert any('"event_type":"tick_size_change"' in t for t in seen)
