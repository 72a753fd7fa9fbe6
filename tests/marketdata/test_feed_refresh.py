"""A torn binary view is repaired by refreshing the pair from REST (issue 8, item 3).

The simulator's binary window holds back the NO token's messages: a client following the stream
holds a NO book that is not the mirror of YES (a torn view, YES ask + NO ask < 1), while the
venue's own book (REST) is one matching book. ``MarketFeed.refresh`` refetches both tokens by the
repair path, and the books agree again while the window is still open on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from polyarb.domain.numbers import ONE
from polyarb.marketdata.books import BookStore
from polyarb.marketdata.clob_rest import ClobRestClient
from polyarb.sim import ArbWindow, ScenarioConfig
from polyarb.sim.server import SimServer
from polyarb.strategies.set_strategy import views_agree

from .test_feed_helpers import FAST, running, wait_for

WINDOW = ArbWindow(
    "binary", 0, start_s=0.3, duration_s=4.0, edge=Decimal("0.05"), depth=Decimal(100)
)
SCENARIO = ScenarioConfig(
    seed=9,
    binary_markets=2,
    negrisk_events=0,
    updates_per_s=200.0,
    closed_markets=0,
    windows=(WINDOW,),
)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SCENARIO) as server:
        yield server


def asks_sum(books: BookStore, yes: str, no: str) -> int | None:
    yes_ask, no_ask = books.books[yes].best_ask(), books.books[no].best_ask()
    if yes_ask is None or no_ask is None:
        return None
    return yes_ask + no_ask


async def test_refreshing_a_torn_pair_from_rest_makes_it_one_book_again(sim: SimServer) -> None:
    driver = sim.driver
    assert driver is not None
    yes, no = driver.binary[0].token_ids
    books = BookStore()
    async with (
        ClobRestClient(sim.clob_url) as rest,
        running(sim, FAST, books=books, rest=rest) as feed,
    ):
        await wait_for(
            lambda: (total := asks_sum(books, yes, no)) is not None and total < ONE,
            timeout=5.0,
            what="the torn view",
        )
        assert not views_agree(books.books[yes], books.books[no])
        # The venue's own book has no such edge.
        venue_no = sim.venue.matching_book(no)
        assert venue_no is not None
        assert views_agree(sim.venue.books[yes], venue_no)
        feed.refresh([yes, no])
        feed.refresh([yes, no])  # a second request while the first is in flight is skipped
        await wait_for(lambda: feed.rest_stats.refreshes == 2, timeout=5.0, what="the refresh")
        assert sim.scenario_time() < WINDOW.start_s + WINDOW.duration_s  # still open on the wire
        assert views_agree(books.books[yes], books.books[no])
        total = asks_sum(books, yes, no)
        assert total is not None
        assert total >= ONE
        assert feed.totals()["refreshes"] == 2
        assert feed.rest_stats.repairs == 0  # not counted as integrity repairs
        assert books.agreement().repairs == 0
