"""Read-only questions to the engines over the bus: one market's books.

The engine owns the books; a dashboard (in process or over Redis) publishes a ``BookQuery`` on
``poly:queries`` and waits, with a timeout, for the ``BookAnswer``\\ s on ``poly:queries:answer``
that carry its id. Unlike commands, queries change nothing, so they are neither signed nor
audited; what bounds them instead:

- the answer: depth clamped to ``MAX_BOOK_DEPTH`` per side, at most ``MAX_ANSWER_LEVELS`` levels
  and ``MAX_ANSWER_BOOKS`` books in all (the engine's answer builder), so it is a few hundred
  KiB at worst;
- the engine's work: one ``QueryResponder`` task answers one query at a time, yielding to the
  event loop between answers; its queue holds ``MAX_PENDING`` queries, the rest are dropped
  (their askers time out) and the trading path never waits;
- the dashboard's asks: identical queries in flight share one bus round trip
  (``QueryClient.books``), so a page polled by many browsers costs the engine one answer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import structlog

from polyarb.bus.base import Bus, Subscription
from polyarb.bus.replies import Replies
from polyarb.bus.schemas import MAX_BOOK_DEPTH, BookAnswer, BookQuery
from polyarb.bus.topics import Channel

log = structlog.get_logger(__name__)

MAX_PENDING = 64  # queries waiting for the engine's responder; more are dropped
AnswerBooks = Callable[[BookQuery], BookAnswer]


class QueryResponder:
    """The engine's side: answer each ``BookQuery`` addressed to it with ``answer(query)``."""

    def __init__(self, bus: Bus, answer: AnswerBooks) -> None:
        self._bus = bus
        self._answer = answer
        self.answered = 0
        self.failed = 0

    async def run(self, subscription: Subscription | None = None) -> None:
        """Answer queries until cancelled; a failing answer is logged, never ends the loop."""
        subscription = subscription or self._bus.subscribe([Channel.QUERIES], max_queue=MAX_PENDING)
        async with subscription:
            async for envelope in subscription:
                query = envelope.data
                if not isinstance(query, BookQuery) or not query.id:
                    continue
                if query.target and query.target != self._bus.instance_id:
                    continue
                try:
                    answer = self._answer(query)
                except Exception:  # a bad query or a bug must not stop the responder
                    self.failed += 1
                    log.exception("query.answer_failed", id=query.id[:128])
                    continue
                self.answered += 1
                await self._bus.publish(Channel.QUERY_ANSWERS, answer)
                await asyncio.sleep(0)  # one answer at a time: trading runs in between


class QueryClient:
    """The dashboard's side: ask the engines, collect their answers by query id."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._answers = Replies(
            bus,
            Channel.QUERY_ANSWERS,
            BookAnswer,
            lambda answer: answer.query_id,
            enough=lambda answer: answer.found,
        )
        self._in_flight: dict[tuple[str, int, str], asyncio.Task[list[BookAnswer]]] = {}

    async def start(self, ready_timeout_s: float = 5.0) -> None:
        await self._answers.start(ready_timeout_s)

    async def close(self) -> None:
        for task in list(self._in_flight.values()):
            task.cancel()
        await self._answers.close()

    async def books(
        self,
        condition_id: str,
        *,
        depth: int,
        timeout_s: float = 2.0,
        expect: int = 1,
        target: str = "",
    ) -> list[BookAnswer]:
        """The engines' answers about one market's books, those that came within ``timeout_s``.

        Returns early with the first answer that found the market, or once ``expect`` engines
        answered. An empty list: no engine answered. Asks already in flight for the same market
        and depth are joined rather than sent again.
        """
        depth = max(1, min(depth, MAX_BOOK_DEPTH))
        key = (condition_id, depth, target)
        task = self._in_flight.get(key)
        if task is None:
            query = BookQuery(
                id=str(uuid.uuid4()),
                condition_id=condition_id,
                depth=depth,
                sent_ns=time.time_ns(),
                target=target,
            )
            task = asyncio.create_task(self._ask(query, timeout_s, expect))
            self._in_flight[key] = task
            task.add_done_callback(lambda _: self._in_flight.pop(key, None))
        return await asyncio.shield(task)

    async def _ask(self, query: BookQuery, timeout_s: float, expect: int) -> list[BookAnswer]:
        answers = await self._answers.collect(
            query.id,
            lambda: self._bus.publish(Channel.QUERIES, query),
            timeout_s=timeout_s,
            expect=expect,
        )
        return list(answers.values())
