"""ClobRestClient: wire shapes, exact parsing, retries, errors; against a mock and the simulator."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from polyarb.domain.book import Side
from polyarb.domain.errors import MalformedMessage
from polyarb.domain.numbers import parse_price, parse_size
from polyarb.marketdata.clob_rest import (
    BookNotFound,
    ClobRestClient,
    ClobRestError,
    VenueUnreachable,
)
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket"
TOKEN = "23360939988679364027624185518382759743328544433592111535569478055890815567848"

Handler = Callable[[httpx.Request], httpx.Response]


def mock_client(handler: Handler, *, attempts: int = 3) -> ClobRestClient:
    transport = httpx.MockTransport(handler)
    http = httpx.AsyncClient(transport=transport)
    return ClobRestClient("http://clob.test", attempts=attempts, backoff_max_s=0.01, client=http)


HASH_ORDER = ("market", "asset_id", "timestamp", "hash", "bids", "asks", "min_order_size",
              "tick_size", "neg_risk", "last_trade_price")  # fmt: skip


def venue_hash(book: dict[str, object]) -> str:
    """The hash rule of the protocol notes, written here independently of the client."""
    blank = {key: ("" if key == "hash" else book[key]) for key in HASH_ORDER}
    return hashlib.sha1(json.dumps(blank, separators=(",", ":")).encode()).hexdigest()


def fixture_book() -> dict[str, object]:
    """The real 2024 ``/book`` answer in today's shape: the keys the V2 API adds, and the hash the
    venue computes over them (the V1 capture's own hash predates that rule)."""
    data: dict[str, object] = json.loads((FIXTURES / "rest" / "book_v1_2024-10.json").read_text())
    data |= {"min_order_size": "5", "tick_size": "0.01", "neg_risk": False, "last_trade_price": ""}
    data["hash"] = venue_hash(data)
    return data


async def test_a_book_whose_hash_does_not_match_is_malformed() -> None:
    good = fixture_book()
    bids = good["bids"]
    assert isinstance(bids, list)
    tampered = {**good, "bids": [*bids[:-1], {**bids[-1], "size": "126"}]}  # one size changed
    answers = iter([good, tampered, {**good, "hash": ""}])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=next(answers))

    rest = mock_client(handler)
    assert (await rest.book(TOKEN)).hash == good["hash"]
    with pytest.raises(MalformedMessage, match="hash mismatch"):
        await rest.book(TOKEN)
    with pytest.raises(MalformedMessage, match="hash mismatch"):
        await rest.book(TOKEN)
    await rest.aclose()


async def test_book_parses_real_fixture_best_first_with_exact_ints() -> None:
    raw = fixture_book()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=raw)

    rest = mock_client(handler)
    snap = await rest.book(TOKEN)
    assert seen[0].url.path == "/book"
    assert seen[0].url.params["token_id"] == TOKEN
    assert snap.token_id == TOKEN
    assert snap.market == raw["market"]
    assert snap.ts_event_ms == int(str(raw["timestamp"]))
    assert snap.hash == raw["hash"]
    wire_bids = raw["bids"]
    wire_asks = raw["asks"]
    assert isinstance(wire_bids, list)
    assert isinstance(wire_asks, list)
    # The wire sends best LAST; the snapshot is best FIRST and keeps every level exactly.
    assert snap.best_bid() == parse_price(wire_bids[-1]["price"])
    assert snap.best_ask() == parse_price(wire_asks[-1]["price"])
    assert sorted(snap.bids) == sorted(
        (parse_price(lv["price"]), parse_size(lv["size"])) for lv in wire_bids
    )
    assert [p for p, _ in snap.bids] == sorted((p for p, _ in snap.bids), reverse=True)
    assert [p for p, _ in snap.asks] == sorted(p for p, _ in snap.asks)
    best_bid, best_ask = snap.best_bid(), snap.best_ask()
    assert best_bid is not None
    assert best_ask is not None
    assert best_bid < best_ask
    await rest.aclose()


async def test_scalar_endpoints_decode_live_shapes() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/midpoint":
            return httpx.Response(200, json={"mid": "0.455"})
        if path == "/price":
            side = request.url.params["side"]
            return httpx.Response(200, json={"price": "0.45" if side == "BUY" else "0.46"})
        if path == "/tick-size":
            # A JSON NUMBER on the wire: must come out as an exact Decimal, not a float.
            return httpx.Response(200, content=b'{"minimum_tick_size":0.001}')
        if path == "/time":
            return httpx.Response(200, content=b"1790934258")
        return httpx.Response(404, json={"error": "not found"})

    rest = mock_client(handler)
    assert await rest.midpoint(TOKEN) == Decimal("0.455")
    assert await rest.price(TOKEN, Side.BUY) == Decimal("0.45")
    assert await rest.price(TOKEN, Side.SELL) == Decimal("0.46")
    tick = await rest.tick_size(TOKEN)
    assert tick == Decimal("0.001")
    assert isinstance(tick, Decimal)
    assert str(tick) == "0.001"
    assert await rest.server_time() == 1790934258
    await rest.aclose()


async def test_midpoints_posts_token_list_and_skips_tokens_without_mid() -> None:
    bodies: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.path == "/midpoints"
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"1": "0.5", "2": "0.125"})

    rest = mock_client(handler)
    mids = await rest.midpoints(["1", "2", "3"])
    assert bodies == [[{"token_id": "1"}, {"token_id": "2"}, {"token_id": "3"}]]
    assert mids == {"1": Decimal("0.5"), "2": Decimal("0.125")}
    await rest.aclose()


async def test_books_posts_token_list_and_parses_each() -> None:
    raw = fixture_book()
    bodies: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        body = json.loads(request.content)
        bodies.append(body)
        books = [{**raw, "asset_id": item["token_id"]} for item in body]
        return httpx.Response(200, json=[{**b, "hash": venue_hash(b)} for b in books])

    rest = mock_client(handler)
    snaps = await rest.books(["1", "2", "3"])
    assert bodies == [[{"token_id": "1"}, {"token_id": "2"}, {"token_id": "3"}]]
    assert [s.token_id for s in snaps] == ["1", "2", "3"]
    assert all(s.best_bid() == parse_price("0.1") for s in snaps)
    await rest.aclose()


async def test_404_is_a_clear_error_and_is_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404, json={"error": "No orderbook exists for the requested token id"})

    rest = mock_client(handler)
    with pytest.raises(BookNotFound, match="No orderbook exists") as info:
        await rest.book("123")
    assert info.value.status == 404
    assert calls == 1
    # A midpoint of a token without a book is "no mid", not an exception.
    assert await rest.midpoint("123") is None
    await rest.aclose()


async def test_400_is_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"error": "Invalid token id"})

    rest = mock_client(handler)
    with pytest.raises(ClobRestError, match="HTTP 400: Invalid token id"):
        await rest.book("x")
    assert calls == 1
    await rest.aclose()


async def test_5xx_and_transport_errors_are_retried_then_succeed() -> None:
    answers: list[httpx.Response | Exception] = [
        httpx.Response(503, text="busy"),
        httpx.ConnectError("refused"),
        httpx.Response(200, json={"mid": "0.5"}),
    ]
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    rest = mock_client(handler, attempts=3)
    assert await rest.midpoint(TOKEN) == Decimal("0.5")
    assert calls == 3
    await rest.aclose()


async def test_5xx_exhausted_is_venue_unreachable() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(502, json={"error": "bad gateway"})

    rest = mock_client(handler, attempts=2)
    with pytest.raises(VenueUnreachable, match="HTTP 502 after 2 attempt"):
        await rest.server_time()
    assert calls == 2
    await rest.aclose()


async def test_malformed_answer_is_malformed_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/book":
            return httpx.Response(
                200, json={"asset_id": "1", "bids": [{"price": "abc", "size": "1"}]}
            )
        return httpx.Response(200, content=b"<html>oops</html>")

    rest = mock_client(handler)
    with pytest.raises(MalformedMessage, match="/book"):
        await rest.book("1")
    with pytest.raises(MalformedMessage, match="/time"):
        await rest.server_time()
    await rest.aclose()


async def test_unreachable_venue_is_one_line_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on that port now: connection refused on every attempt.
    async with ClobRestClient(
        f"http://127.0.0.1:{port}", attempts=2, backoff_max_s=0.01, timeout_s=2
    ) as rest:
        with pytest.raises(VenueUnreachable) as info:
            await rest.server_time()
    message = str(info.value)
    assert "cannot reach the CLOB" in message
    assert f"127.0.0.1:{port}" in message
    assert "\n" not in message


# --- against the simulator's REST endpoints (real sockets) -----------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(ScenarioConfig(binary_markets=2, negrisk_events=0, levels=6)) as server:
        server.pause()
        yield server


async def test_sim_book_equals_truth(sim: SimServer) -> None:
    async with ClobRestClient(sim.clob_url) as rest:
        for token_id in sim.token_ids():
            snap = await rest.book(token_id)
            truth = sim.truth(token_id)
            bids, asks = truth.snapshot_levels()
            assert snap.token_id == token_id
            assert list(snap.bids) == bids
            assert list(snap.asks) == asks
            assert snap.bids
            assert snap.asks
            assert snap.tick == truth.tick


async def test_sim_books_midpoint_price_tick_time(sim: SimServer) -> None:
    tokens = sim.token_ids()
    async with ClobRestClient(sim.clob_url) as rest:
        snaps = await rest.books(tokens)
        assert sorted(s.token_id for s in snaps) == sorted(tokens)
        for token_id in tokens:
            truth = sim.truth(token_id)
            mid = await rest.midpoint(token_id)
            assert mid == truth.mid()
            best_bid = truth.best_bid()
            best_ask = truth.best_ask()
            assert best_bid is not None
            assert best_ask is not None
            assert await rest.price(token_id, Side.BUY) == Decimal(best_bid) / 10_000
            assert await rest.price(token_id, Side.SELL) == Decimal(best_ask) / 10_000
            assert await rest.tick_size(token_id) == Decimal(truth.tick) / 10_000
        mids = await rest.midpoints([*tokens, "999"])
        assert mids == {t: sim.truth(t).mid() for t in tokens}
        seconds = await rest.server_time()
        assert 1_700_000_000 < seconds < 4_000_000_000


async def test_sim_unknown_token_is_book_not_found(sim: SimServer) -> None:
    async with ClobRestClient(sim.clob_url) as rest:
        with pytest.raises(BookNotFound):
            await rest.book("999")
        assert await rest.midpoint("999") is None
