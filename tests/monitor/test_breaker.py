"""Circuit breakers with an injected clock, alone and guarding the real REST clients.

The clients are the real ``ClobRestClient``, ``GammaClient`` and ``EspnClient`` over an
``httpx.MockTransport`` that counts the requests reaching the "network": an open breaker must
send none, a business 4xx must not count as a failure, 5xx/429/transport errors must.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from polyarb.domain.errors import CircuitOpen, Transient
from polyarb.marketdata.clob_rest import BookNotFound, ClobRestClient, ClobRestError
from polyarb.marketdata.espn import EspnClient
from polyarb.marketdata.gamma import GammaClient, VenueRequestError
from polyarb.monitor.breaker import BreakerChange, BreakerConfig, BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def breaker(clock: FakeClock, **config: float) -> tuple[CircuitBreaker, list[BreakerChange]]:
    defaults: dict[str, float] = {
        "failures": 3,
        "error_rate": 0.5,
        "min_calls": 6,
        "window_s": 10.0,
        "open_s": 5.0,
    }
    defaults.update(config)
    b = CircuitBreaker(
        "dep",
        BreakerConfig(
            failures=int(defaults["failures"]),
            error_rate=defaults["error_rate"],
            min_calls=int(defaults["min_calls"]),
            window_s=defaults["window_s"],
            open_s=defaults["open_s"],
            probes=int(defaults.get("probes", 1)),
        ),
        clock=clock,
    )
    changes: list[BreakerChange] = []
    b.listeners.append(changes.append)
    return b, changes


def call(b: CircuitBreaker, ok: bool) -> None:
    b.check()
    if ok:
        b.record_success()
    else:
        b.record_failure("boom")


# --- the state machine ----------------------------------------------------------------------


def test_opens_after_n_consecutive_failures_and_refuses_calls() -> None:
    clock = FakeClock()
    b, changes = breaker(clock)
    call(b, False)
    call(b, False)
    call(b, True)  # a success resets the run
    call(b, False)
    call(b, False)
    assert b.state is BreakerState.CLOSED
    call(b, False)
    assert b.state is BreakerState.OPEN
    assert [(c.old, c.new) for c in changes] == [(BreakerState.CLOSED, BreakerState.OPEN)]
    assert "3 consecutive failures" in changes[0].reason
    clock.t += 4.9
    with pytest.raises(CircuitOpen, match="dep circuit breaker open"):
        b.check()
    assert b.rejected == 1
    assert isinstance(CircuitOpen("x"), Transient)  # callers that retry transients keep working


def test_opens_on_error_rate_in_window_without_a_long_run() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, failures=100, min_calls=6, error_rate=0.5)
    for ok in (True, False, True, False, True):  # 2 of 5: too few calls to judge
        call(b, ok)
        clock.t += 1
    assert b.state is BreakerState.CLOSED
    call(b, False)  # 3 of 6 = 50 %
    assert b.state is BreakerState.OPEN
    assert b.opened == 1


def test_old_calls_leave_the_window() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, failures=100, min_calls=4, error_rate=0.5, window_s=10.0)
    call(b, False)
    call(b, False)
    clock.t += 11  # those two failures are older than the window now
    for _ in range(3):
        call(b, True)
    call(b, False)  # 1 of 4 in the window
    assert b.state is BreakerState.CLOSED


def test_half_open_probe_success_closes_failure_reopens() -> None:
    clock = FakeClock()
    b, changes = breaker(clock, failures=1, open_s=5.0)
    call(b, False)
    assert b.state is BreakerState.OPEN
    clock.t += 5.0
    b.check()  # the probe goes through ...
    assert b.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):  # ... alone: a second call waits for its outcome
        b.check()
    b.record_failure("still down")
    assert b.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen, match="still down"):
        b.check()  # a fresh open period started at the failed probe
    clock.t += 5.0
    call(b, True)
    assert b.state is BreakerState.CLOSED
    assert [c.new for c in changes] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]
    assert (b.failures, b.opened) == (2, 2)


def test_several_probes_needed() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, failures=1, probes=2)
    call(b, False)
    clock.t += 5
    call(b, True)
    assert b.state is BreakerState.HALF_OPEN
    call(b, True)
    assert b.state is BreakerState.CLOSED


def test_a_failing_listener_does_not_break_the_caller() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, failures=1)

    def bad(_change: BreakerChange) -> None:
        raise RuntimeError("listener bug")

    b.listeners.insert(0, bad)
    call(b, False)
    assert b.state is BreakerState.OPEN


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="failures"):
        BreakerConfig(failures=0)
    with pytest.raises(ValueError, match="error_rate"):
        BreakerConfig(error_rate=1.5)


# --- guarding the clients ---------------------------------------------------------------------


class Venue:
    """A scripted HTTP dependency: answers ``status`` (or raises) and counts the requests."""

    def __init__(self) -> None:
        self.requests = 0
        self.status = 200
        self.body = b"{}"
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(self.status, content=self.body)


def clob(venue: Venue, guard: CircuitBreaker) -> ClobRestClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(venue.handler))
    return ClobRestClient(
        "http://clob.test", attempts=1, backoff_max_s=0.01, client=http, guard=guard
    )


async def test_clob_business_4xx_is_not_a_failure_5xx_and_429_are() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, failures=3, min_calls=100)
    venue = Venue()
    client = clob(venue, b)
    venue.status, venue.body = 404, b'{"error":"No orderbook exists for the requested token id"}'
    for _ in range(5):
        assert await client.midpoint("t") is None  # BookNotFound, handled by the client
        with pytest.raises(BookNotFound):
            await client.book("t")
    venue.status, venue.body = 400, b'{"error":"invalid token id"}'
    for _ in range(5):
        with pytest.raises(ClobRestError):
            await client.tick_size("t")
    assert b.state is BreakerState.CLOSED
    assert b.failures == 0
    venue.status = 429
    with pytest.raises(ClobRestError):
        await client.tick_size("t")
    venue.status = 503
    with pytest.raises(Transient):
        await client.tick_size("t")
    venue.down = True
    with pytest.raises(Transient):
        await client.tick_size("t")
    assert b.state is BreakerState.OPEN
    sent = venue.requests
    with pytest.raises(CircuitOpen):
        await client.book("t")
    assert venue.requests == sent  # nothing reached the network
    # After the open period one probe goes out; the venue is back: closed.
    venue.down, venue.status, venue.body = False, 200, b'{"minimum_tick_size": 0.01}'
    clock.t += 5
    assert str(await client.tick_size("t")) == "0.01"
    assert b.state is BreakerState.CLOSED


async def test_gamma_and_espn_count_transients_not_business_4xx() -> None:
    clock = FakeClock()
    b, _ = breaker(clock, failures=2, min_calls=100)
    venue = Venue()
    http = httpx.AsyncClient(transport=httpx.MockTransport(venue.handler))
    gamma = GammaClient("http://gamma.test", client=http, max_attempts=1, guard=b)
    venue.status, venue.body = 422, b'{"error":"bad order field"}'
    for _ in range(4):
        with pytest.raises(VenueRequestError):
            await gamma.markets(max_pages=1)
    assert b.state is BreakerState.CLOSED
    venue.status = 500
    espn_breaker, _ = breaker(clock, failures=2, min_calls=100)
    espn = EspnClient("http://espn.test", client=http, max_attempts=1, guard=espn_breaker)
    for client_call in (lambda: gamma.markets(max_pages=1), lambda: espn.scoreboard("nba")):
        for _ in range(2):
            with pytest.raises(Transient):
                await client_call()
    assert b.state is BreakerState.OPEN
    assert espn_breaker.state is BreakerState.OPEN
    sent = venue.requests
    calls: list[Callable[[], object]] = [
        lambda: gamma.markets(max_pages=1),
        lambda: espn.scoreboard("nba"),
    ]
    for client_call in calls:
        with pytest.raises(CircuitOpen):
            await client_call()  # type: ignore[misc]
    assert venue.requests == sent
