"""Read-only queries on the bus: identical asks in flight share one round trip, a failing
answer does not stop the responder, and the largest answer the limits allow fits a message."""

from __future__ import annotations

import asyncio
import time

from polyarb.bus import (
    BookAnswer,
    BookQuery,
    MemoryBus,
    MemoryHub,
    QueryClient,
    QueryResponder,
    codec,
)
from polyarb.bus.base import Envelopes
from polyarb.bus.schemas import (
    MAX_ANSWER_BOOKS,
    MAX_ANSWER_LEVELS,
    BookLevel,
    OutcomeBook,
)
from polyarb.bus.topics import Channel


async def test_asks_in_flight_are_joined_and_a_failing_answer_is_skipped() -> None:
    hub = MemoryHub()
    engine_bus, dashboard_bus = MemoryBus("engine-1", hub=hub), MemoryBus("dash", hub=hub)
    asked: list[BookQuery] = []

    def answer(query: BookQuery) -> BookAnswer:
        asked.append(query)
        if query.condition_id == "boom":
            raise ValueError("a bug")
        return BookAnswer(query_id=query.id, found=query.condition_id == "m1", depth=query.depth)

    responder = QueryResponder(engine_bus, answer)
    task = asyncio.create_task(responder.run())
    client = QueryClient(dashboard_bus)
    await client.start()
    try:
        await asyncio.sleep(0)  # the responder subscribes
        together = await asyncio.gather(*(client.books("m1", depth=500) for _ in range(5)))
        assert len(asked) == 1  # five asks, one query on the bus
        assert asked[0].depth == 200  # clamped before it is sent
        assert all(a == together[0] and a[0].found for a in together)
        started = time.monotonic()
        assert await client.books("boom", depth=5, timeout_s=0.3) == []  # no answer: timed out
        assert time.monotonic() - started >= 0.3
        assert responder.failed == 1
        missing = await client.books("m2", depth=5)  # the responder went on
        assert [a.found for a in missing] == [False]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


def test_the_largest_answer_fits_one_message() -> None:
    level = BookLevel(price="0.9999", size="999999.999999")
    per_book = MAX_ANSWER_LEVELS // (2 * MAX_ANSWER_BOOKS)
    books = tuple(
        OutcomeBook(
            token_id="9" * 78,
            outcome="An outcome title of a realistic length, say sixty characters",
            bids=(level,) * per_book,
            asks=(level,) * per_book,
            best_bid="0.9999",
            best_ask="0.9999",
            stale=False,
            updated_ns=2**62,
        )
        for _ in range(MAX_ANSWER_BOOKS)
    )
    answer = BookAnswer(query_id="q" * 36, found=True, question="?" * 300, books=books)
    envelope = Envelopes("engine-1").wrap(Channel.QUERY_ANSWERS, answer)
    assert envelope is not None
    encoded = codec.encode(envelope)
    assert len(encoded) < codec.MAX_MESSAGE_BYTES // 2
    assert codec.decode(encoded).data == answer
