"""GammaClient and discover() against a real HTTP server on 127.0.0.1:0 serving fixture objects
with Gamma's quirks (JSON-in-JSON fields, JSON numbers, limit/offset paging, 422 past offset 2000,
a path prefix as the simulator has)."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from polyarb.domain.errors import ConfigError, MalformedMessage, Transient
from polyarb.marketdata.gamma import (
    GammaClient,
    MarketFilter,
    VenueRequestError,
    decode_json,
    discover,
    encode_json,
    parse_market,
)

GAMMA = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket" / "gamma"
Response = tuple[int, dict[str, str], bytes]


def fixture(name: str) -> Any:
    data = decode_json((GAMMA / name).read_bytes())
    return data["body"] if isinstance(data, dict) and "_captured" in data else data


def make_market(n: int, **changes: object) -> dict[str, Any]:
    raw: dict[str, Any] = copy.deepcopy(fixture("gamma_market_crypto_updown_5m_2026-03.json"))
    raw.update(
        id=str(1000 + n),
        conditionId=f"0x{n:064x}",
        slug=f"market-{n}",
        clobTokenIds=json.dumps([f"{n}01", f"{n}02"]),
        volume24hr=Decimal(100000 - n),
    )
    raw.update(changes)
    return raw


class FakeGamma:
    """Serves ``/gamma/markets`` and ``/gamma/events`` like Gamma does."""

    def __init__(self) -> None:
        self.markets: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.unbounded = False  # every page full, forever (to test the offset cap)
        self.queued: list[Response] = []  # responses to send before the real ones
        self.delay_s = 0.0
        self.broken: set[str] = set()  # routes that answer 404
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.lock = threading.Lock()

    def handle(self, path: str, query: dict[str, list[str]]) -> Response:
        with self.lock:
            self.requests.append((path, query))
            if self.queued:
                return self.queued.pop(0)
        if self.delay_s:
            time.sleep(self.delay_s)
        route = {"/gamma/markets": self.markets, "/gamma/events": self.events}.get(path)
        if route is None or path in self.broken:
            return 404, {}, b'{"error":"not found"}'
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        if offset > 2000:
            return 422, {}, b'{"error":"offset too large, use /markets/keyset"}'
        if self.unbounded:
            page = [make_market(offset + i) for i in range(limit)]
        else:
            items = route
            if query.get("closed") == ["false"]:
                items = [i for i in items if not i.get("closed")]
            if "slug" in query:
                items = [i for i in items if i.get("slug") in query["slug"]]
            page = items[offset : offset + limit]
        return 200, {"Content-Type": "application/json"}, encode_json(page)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (timeout test) breaks the pipe: expected, not news


def serve(app: Callable[[str, dict[str, list[str]]], Response]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            status, headers, body = app(url.path, parse_qs(url.query))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def fake() -> Iterator[tuple[FakeGamma, str]]:
    gamma = FakeGamma()
    server, url = serve(gamma.handle)
    yield gamma, url + "/gamma"
    server.shutdown()
    server.server_close()


def client(url: str, **kwargs: Any) -> GammaClient:
    kwargs.setdefault("backoff_s", 0.001)
    kwargs.setdefault("timeout_s", 5.0)
    return GammaClient(url, **kwargs)


def offsets(gamma: FakeGamma, path: str = "/gamma/markets") -> list[int]:
    return [int(q["offset"][0]) for p, q in gamma.requests if p == path and "offset" in q]


# --- paging ----------------------------------------------------------------------------------


async def test_pages_until_a_short_page(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.markets = [make_market(i) for i in range(250)]
    async with client(url) as c:
        markets = await c.markets(page_size=100)
    assert [m["id"] for m in markets] == [str(1000 + i) for i in range(250)]
    assert offsets(gamma) == [0, 100, 200]
    _, query = gamma.requests[0]
    assert query["closed"] == ["false"]
    assert query["active"] == ["true"]
    assert query["order"] == ["volume24hr"]
    assert query["ascending"] == ["false"]
    assert query["limit"] == ["100"]
    # numbers arrive exact
    assert markets[0]["liquidityNum"] == Decimal("20328.3747")


async def test_exact_page_multiple_needs_one_empty_page(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.markets = [make_market(i) for i in range(200)]
    async with client(url) as c:
        assert len(await c.markets(page_size=100)) == 200
    assert offsets(gamma) == [0, 100, 200]


async def test_paging_stops_at_the_offset_limit(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.unbounded = True
    async with client(url) as c:
        markets = await c.markets(page_size=100, max_pages=100)
    assert offsets(gamma)[-1] == 2000  # never asks past 2000 (Gamma answers 422 there)
    assert len(markets) == 2100


async def test_max_pages(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.unbounded = True
    async with client(url) as c:
        assert len(await c.markets(page_size=10, max_pages=3)) == 30
    assert offsets(gamma) == [0, 10, 20]


async def test_duplicates_across_pages_are_dropped(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    # volume order shifted between two page requests: market 9 is served twice
    gamma.markets = [make_market(i) for i in range(10)] + [make_market(9), make_market(10)]
    async with client(url) as c:
        markets = await c.markets(page_size=10)
    assert [m["slug"] for m in markets] == [f"market-{i}" for i in range(11)]


async def test_events_route_and_slug_params(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.events = fixture("gamma_events_negrisk_election_2026-03.json")
    gamma.markets = [make_market(i) for i in range(5)]
    async with client(url) as c:
        events = await c.events()
        wanted = await c.markets(slugs=("market-1", "market-3"))
    assert [e["id"] for e in events] == ["30829"]
    assert [m["slug"] for m in wanted] == ["market-1", "market-3"]
    assert gamma.requests[-1][1]["slug"] == ["market-1", "market-3"]


async def test_external_client_is_not_closed(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.markets = [make_market(1)]
    async with httpx.AsyncClient() as http:
        async with GammaClient(url, client=http) as c:
            assert len(await c.markets()) == 1
        assert not http.is_closed


# --- failures --------------------------------------------------------------------------------


async def test_5xx_is_retried(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.markets = [make_market(1)]
    gamma.queued = [(503, {}, b"busy"), (502, {}, b"bad gateway")]
    async with client(url) as c:
        assert len(await c.markets()) == 1
    assert len(gamma.requests) == 3


async def test_429_waits_for_retry_after(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.markets = [make_market(1)]
    gamma.queued = [(429, {"Retry-After": "0.3"}, b'{"error":"rate limited"}')]
    started = time.monotonic()
    async with client(url, backoff_s=0.0) as c:
        assert len(await c.markets()) == 1
    assert time.monotonic() - started >= 0.3  # the server's wait, not our tiny backoff
    assert len(gamma.requests) == 2


async def test_persistent_5xx_is_a_one_line_transient_error(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.queued = [(500, {}, b"oops\nline two")] * 3
    async with client(url, max_attempts=3) as c:
        with pytest.raises(Transient) as info:
            await c.markets()
    message = str(info.value)
    assert "HTTP 500 after 3 attempts" in message
    assert url in message
    assert "\n" not in message
    assert len(gamma.requests) == 3


async def test_4xx_is_not_retried(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.queued = [(422, {}, b'{"error":"order must be camelCase"}')]
    async with client(url) as c:
        with pytest.raises(VenueRequestError) as info:
            await c.markets()
    assert info.value.status == 422
    assert "camelCase" in str(info.value)
    assert len(gamma.requests) == 1


async def test_non_json_and_non_array_bodies(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.queued = [(200, {}, b"<html>maintenance</html>"), (200, {}, b'{"markets": []}')]
    async with client(url) as c:
        with pytest.raises(MalformedMessage, match="not JSON"):
            await c.markets()
        with pytest.raises(MalformedMessage, match="expected a JSON array"):
            await c.markets()


async def test_unreachable_host_is_a_one_line_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/gamma"
    async with client(url, max_attempts=2) as c:
        with pytest.raises(Transient) as info:
            await c.markets()
    message = str(info.value)
    assert message.startswith(f"Gamma API unreachable at {url}/markets after 2 attempts")
    assert "ConnectError" in message
    assert "\n" not in message


@pytest.mark.parametrize("url", ["gamma-api.polymarket.com", "ftp://127.0.0.1/gamma"])
async def test_unusable_url_is_a_config_error_without_retries(url: str) -> None:
    # No backoff, no retry: retrying cannot help. A single backoff of this client would outlast
    # the hang guard many times over.
    async with GammaClient(url, backoff_s=600.0) as c:
        with pytest.raises(ConfigError, match="is not usable"):
            await asyncio.wait_for(c.markets(), timeout=60)


async def test_timeout_is_retried_then_reported(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    gamma.markets = [make_market(1)]
    gamma.delay_s = 0.5
    async with client(url, timeout_s=0.1, max_attempts=2) as c:
        with pytest.raises(Transient, match="ReadTimeout"):
            await c.markets()
    assert len(gamma.requests) == 2


# --- discovery end to end --------------------------------------------------------------------


def world(gamma: FakeGamma) -> None:
    [event] = fixture("gamma_events_negrisk_election_2026-03.json")
    gamma.events = [event]
    gamma.markets = [
        make_market(1),
        make_market(2, liquidityNum=Decimal(3)),
        make_market(3, clobTokenIds='["1", "2", "3"]'),  # malformed: 3 tokens for 2 outcomes
        make_market(4, outcomes="[not json"),  # malformed JSON-in-JSON
        make_market(5, acceptingOrders=False),
        make_market(6, enableOrderBook=False),
        fixture("gamma_market_negrisk_open_2026-06.json"),  # a leg of an event not served whole
    ]


async def test_discover_end_to_end(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    world(gamma)
    async with client(url) as c:
        universe = await discover(c, MarketFilter())
    assert universe.skipped == 2
    slugs = {m.slug for m in universe.markets}
    assert {"market-1", "market-2"} <= slugs
    assert not {"market-3", "market-4", "market-5", "market-6"} & slugs
    # /markets lists a third leg (Newsom) of event 30829 that the (trimmed) event object does
    # not: the listed legs are not a complete set, so no event; every leg trades alone
    assert universe.events == ()
    newsom = universe.market_of(
        "54533043819946592547517511176940999955633860128497669742211153063842200957669"
    )
    assert newsom is not None
    assert newsom.event_id == "30829"
    assert sum(m.event_id == "30829" for m in universe.markets) == 3
    assert len(universe.markets) == 5
    # raw objects are what the recorder writes; they parse back to the same markets
    again = [parse_market(decode_json(encode_json(r))) for r in universe.raw]
    assert again == list(universe.markets)


async def test_discover_groups_a_consistent_event(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    world(gamma)
    gamma.markets.pop()  # without the stray Newsom leg, the event's two legs are the whole set
    async with client(url) as c:
        universe = await discover(c, MarketFilter())
    [event] = universe.events
    assert event.event_id == "30829"
    # The real event is augmented: its two named legs are grouped (and convertible), but a
    # placeholder may still win, so they are no YES complete set.
    assert event.augmented
    assert not event.is_complete_set
    assert event.is_convertible
    assert [m.group_item_title for m in event.markets] == ["Stephen A. Smith", "Gretchen Whitmer"]
    assert {m.condition_id for m in event.markets} <= {m.condition_id for m in universe.markets}


async def test_discover_with_filters(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    world(gamma)
    gamma.markets.pop()
    async with client(url) as c:
        by_slug = await discover(c, MarketFilter(slugs=("market-2",)))
        by_tag = await discover(c, MarketFilter(tags=("Primaries",), min_liquidity=Decimal(10)))
        no_neg = await discover(c, MarketFilter(include_neg_risk=False, min_liquidity=Decimal(10)))
    assert [m.slug for m in by_slug.markets] == ["market-2"]
    assert any(q.get("slug") == ["market-2"] for _, q in gamma.requests)  # asked for directly
    assert {m.event_id for m in by_tag.markets} == {"30829"}
    assert len(by_tag.events) == 1
    assert [m.slug for m in no_neg.markets] == ["market-1"]
    assert no_neg.events == ()


async def test_discover_failure_is_the_plain_error(fake: tuple[FakeGamma, str]) -> None:
    gamma, url = fake
    world(gamma)
    gamma.broken = {"/gamma/events"}
    async with client(url) as c:
        with pytest.raises(VenueRequestError, match="HTTP 404"):
            await discover(c, MarketFilter())
