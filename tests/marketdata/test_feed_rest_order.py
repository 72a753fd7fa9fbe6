"""REST /book against the stream: the repair race and a REST answer older than the stream.

The repairs are the integrity check's (a corrupted book disagrees with the venue's best_bid/
best_ask, is found out within the bound and refetched at once).

The simulator's REST answer travels through a real HTTP connection; only its delivery is held
back (the network being slow), or an earlier answer of the venue is served again (a lagging
cache), so the feed meets the two situations its ordering rule exists for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest

from polyarb.marketdata.books import BookStore
from polyarb.marketdata.clob_rest import ClobRestClient
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer

from .test_feed_helpers import FAST, Captured, assert_books_equal_truth, drain, running, wait_for

SCENARIO = ScenarioConfig(
    seed=5, binary_markets=3, negrisk_events=0, outcomes_per_event=3, levels=6,
    updates_per_s=600.0,
)  # fmt: skip


class VenueLink(httpx.AsyncBaseTransport):
    """HTTP to the simulator, with ``/book`` answers delayed or replaced by an older answer."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.book_delay_s = 0.0
        self.old_answers: dict[str, bytes] = {}  # token id -> an earlier /book body to serve
        self.books_served = 0
        self.book_windows: list[tuple[int, int]] = []  # (request sent, answer delivered) ns

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent_ns = time.time_ns()
        response = await self.inner.handle_async_request(request)
        if request.url.path != "/book":
            return response
        body = await response.aread()  # the venue built its answer now ...
        await asyncio.sleep(self.book_delay_s)  # ... and it reaches us later
        token = request.url.params.get("token_id", "")
        self.books_served += 1
        self.book_windows.append((sent_ns, time.time_ns()))
        return httpx.Response(
            response.status_code,
            headers={"content-type": "application/json"},
            content=self.old_answers.get(token, body),
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SCENARIO) as server:
        yield server


async def corrupt_until_repaired(
    books: BookStore, sim: SimServer, token: str, repairs: Callable[[], int]
) -> None:
    """Corrupt the book until the check repairs it (the venue may resend the book first)."""
    before = repairs()
    for _ in range(5):
        corrupt(books, sim, token)
        with contextlib.suppress(AssertionError):
            await wait_for(lambda: repairs() > before, timeout=2.0, what="the repair")
            return
    raise AssertionError("the corrupted book was never repaired")


def corrupt(books: BookStore, sim: SimServer, token: str) -> None:
    """Put the local book 0.3+ away from the venue's, as a lost update would."""
    book = books.books[token]
    mid = sim.truth(token).mid()
    assert mid is not None
    bid, ask = (100, 300) if mid > Decimal("0.5") else (9700, 9900)
    book.apply_snapshot([(bid, 10**6)], [(ask, 10**6)], book.ts_event_ms, 1)


async def test_deltas_arriving_during_the_rest_fetch_are_replayed_after_it(
    sim: SimServer,
) -> None:
    link = VenueLink()
    link.book_delay_s = 0.4  # the market moves while the answer is on its way
    books = BookStore()
    captured = Captured()
    tokens = sim.token_ids()
    victim = tokens[0]
    async with (
        httpx.AsyncClient(transport=link) as http,
        ClobRestClient(sim.clob_url, client=http) as rest,
        running(sim, FAST, books=books, rest=rest, captured=captured) as feed,
    ):
        await asyncio.sleep(0.2)
        await corrupt_until_repaired(books, sim, victim, lambda: feed.rest_stats.check_repairs)
        (sent, delivered) = link.book_windows[-1]
        during = [raw for ns, raw in captured.frames if sent <= ns <= delivered and victim in raw]
        assert len(during) >= 3, "no delta of the victim arrived during the fetch"
        sim.pause()
        await drain(books)
        assert_books_equal_truth(books, sim, tokens)
        assert feed.rest_stats.stale_snapshots == 0


async def test_a_rest_answer_older_than_the_stream_is_refused_and_the_token_resubscribed(
    sim: SimServer,
) -> None:
    link = VenueLink()
    books = BookStore()
    tokens = sim.token_ids()
    victim = tokens[0]
    async with (
        httpx.AsyncClient(transport=link) as http,
        ClobRestClient(sim.clob_url, client=http) as rest,
        running(sim, FAST, books=books, rest=rest) as feed,
    ):
        old = (await http.get(f"{sim.clob_url}/book", params={"token_id": victim})).content
        stamp = books.books[victim].ts_event_ms
        await wait_for(lambda: books.books[victim].ts_event_ms > stamp, what="the market to move")
        link.old_answers[victim] = old  # a lagging cache serves the venue's earlier book
        await corrupt_until_repaired(books, sim, victim, lambda: feed.rest_stats.stale_snapshots)
        assert feed.rest_stats.resubscribes >= 1
        assert feed.rest_stats.check_repairs == 0  # nothing was applied from the old answer
        # The venue's own snapshot, in stream order, makes the book right again.
        await wait_for(lambda: not books.books[victim].stale, what="the resubscribed snapshot")
        sim.pause()
        await drain(books)
        assert_books_equal_truth(books, sim, tokens)
