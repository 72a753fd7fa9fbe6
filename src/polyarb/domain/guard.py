"""What a client asks before and tells after each call to a dependency: a circuit breaker's
interface (``polyarb.monitor.breaker.CircuitBreaker`` satisfies it; the engine hands one to
each client).

A client calls ``check`` first (it raises ``CircuitOpen`` when the call must not be made), then
``record_failure`` when the dependency failed (transport error, timeout, 5xx, 429, an answer
that is not what the API documents) or ``record_success`` when it answered, a business refusal
included (a 4xx about this one request, a row the database refused): the dependency refusing
one request is the dependency working.
"""

from __future__ import annotations

from typing import Protocol


class CallGuard(Protocol):
    def check(self) -> None: ...

    def record_success(self) -> None: ...

    def record_failure(self, reason: str) -> None: ...
