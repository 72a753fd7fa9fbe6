"""Request/answer over pub/sub, the asking side: publish a request, then collect the answers
that carry its id (one per answering engine) until enough came or the time is up.

Shared by the dashboard's ``CommandClient`` (commands, acknowledged) and ``QueryClient``
(read-only queries, answered).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from polyarb.bus.base import Bus, Subscription
from polyarb.bus.schemas import Payload
from polyarb.bus.topics import Channel

A = TypeVar("A", bound=Payload)


class Replies(Generic[A]):
    """Answers of type ``answer_type`` on ``channel``, routed by ``request_id(answer)``.

    ``enough(answer)`` true ends the wait at once (e.g. the first engine that found the market).
    """

    def __init__(
        self,
        bus: Bus,
        channel: Channel,
        answer_type: type[A],
        request_id: Callable[[A], str],
        *,
        enough: Callable[[A], bool] = lambda _answer: False,
    ) -> None:
        self._bus = bus
        self._channel = channel
        self._type = answer_type
        self._request_id = request_id
        self._enough = enough
        self._waiting: dict[str, _Waiter[A]] = {}
        self._subscription: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, ready_timeout_s: float = 5.0) -> None:
        if self._reader is not None:
            return
        self._subscription = self._bus.subscribe([self._channel])
        self._reader = asyncio.create_task(self._read(self._subscription), name=str(self._channel))
        await self._subscription.wait_ready(ready_timeout_s)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None

    async def collect(
        self, request_id: str, send: Callable[[], Awaitable[None]], *, timeout_s: float, expect: int
    ) -> dict[str, A]:
        """Call ``send``, then wait for ``expect`` answers to ``request_id`` (or an ``enough``
        one) at most ``timeout_s``; the answers that came, by the answering instance id."""
        waiter: _Waiter[A] = _Waiter(expect, self._enough)
        self._waiting[request_id] = waiter
        try:
            await send()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.done.wait(), timeout_s)
        finally:
            self._waiting.pop(request_id, None)
        return waiter.answers

    async def _read(self, subscription: Subscription) -> None:
        async for envelope in subscription:
            answer = envelope.data
            if not isinstance(answer, self._type):
                continue
            waiter = self._waiting.get(self._request_id(answer))
            if waiter is not None:
                waiter.add(envelope.instance_id, answer)


class _Waiter(Generic[A]):
    def __init__(self, expect: int, enough: Callable[[A], bool]) -> None:
        self.expect = expect
        self.enough = enough
        self.answers: dict[str, A] = {}
        self.done = asyncio.Event()

    def add(self, instance_id: str, answer: A) -> None:
        self.answers.setdefault(instance_id, answer)
        if self.enough(answer) or len(self.answers) >= self.expect:
            self.done.set()
