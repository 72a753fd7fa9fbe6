"""Circuit breakers: stop calling a dependency that keeps failing, probe it, resume when it works.

One ``CircuitBreaker`` per dependency (CLOB REST, Gamma, ESPN). States:

* **closed**: calls go through; each outcome is recorded. The breaker opens after
  ``failures`` consecutive failures, or when at least ``min_calls`` calls ended within the last
  ``window_s`` seconds and the share of failures among them reached ``error_rate``.
* **open**: calls fail at once with ``CircuitOpen`` (no network) for ``open_s`` seconds.
* **half-open**: after ``open_s``, up to ``probes`` calls may go through; the first failure
  opens the breaker again (for another ``open_s``), ``probes`` successes close it.

Only failures of the dependency count: the clients record a transport error, a timeout, a 5xx
or a 429 as a failure and any answer they could use as a success. A business 4xx (the venue
says no to *this* request: unknown token, bad parameter) is the dependency working and counts
as a success. Time comes from an injected monotonic clock (seconds), so tests drive it.

State changes go to ``listeners`` (the engine: trading *reducing* while the CLOB breaker is
open, an error event, the log) and to the metrics (``polyarb_breaker_state``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import structlog

from polyarb.domain.errors import CircuitOpen

log = structlog.get_logger(__name__)

MonotonicClock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failures: int = 5  # consecutive failures that open the breaker
    error_rate: float = 0.5  # ... or this share of failures in the window ...
    min_calls: int = 10  # ... over at least this many calls in the window
    window_s: float = 60.0
    open_s: float = 30.0  # how long an open breaker refuses calls before probing
    probes: int = 1  # successful half-open calls needed to close it

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ValueError(f"failures must be >= 1, got {self.failures}")
        if not 0 < self.error_rate <= 1:
            raise ValueError(f"error_rate must be in (0, 1], got {self.error_rate}")
        if self.min_calls < 1 or self.probes < 1:
            raise ValueError("min_calls and probes must be >= 1")
        if self.window_s <= 0 or self.open_s <= 0:
            raise ValueError("window_s and open_s must be > 0")


@dataclass(frozen=True, slots=True)
class BreakerChange:
    """A state change, for listeners: ``reason`` says what opened (or closed) it."""

    name: str
    old: BreakerState
    new: BreakerState
    reason: str


BreakerListener = Callable[[BreakerChange], None]


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        config: BreakerConfig | None = None,
        *,
        clock: MonotonicClock = time.monotonic,
    ) -> None:
        self.name = name
        self.config = config or BreakerConfig()
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.listeners: list[BreakerListener] = []
        self._consecutive = 0
        self._window: deque[tuple[float, bool]] = deque()  # (time, failed) of recent calls
        self._window_failures = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self.last_failure = ""
        # Totals since start, for the metrics.
        self.calls = 0
        self.failures = 0
        self.rejected = 0  # calls refused while open
        self.opened = 0  # times it opened

    # --- the clients' side ----------------------------------------------------------------

    def check(self) -> None:
        """Before a call: raise ``CircuitOpen`` if the call must not be made now."""
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.config.open_s:
                self.rejected += 1
                raise CircuitOpen(self._open_message())
            self._set(BreakerState.HALF_OPEN, "probing after the open period")
        if self.state is BreakerState.HALF_OPEN:
            if self._probes_in_flight + self._probe_successes >= self.config.probes:
                self.rejected += 1
                raise CircuitOpen(self._open_message())
            self._probes_in_flight += 1

    def record_success(self) -> None:
        self.calls += 1
        self._consecutive = 0
        if self.state is BreakerState.HALF_OPEN:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
            self._probe_successes += 1
            if self._probe_successes >= self.config.probes:
                self._reset_window()
                self._set(BreakerState.CLOSED, "probe succeeded")
            return
        self._note(False)

    def record_failure(self, reason: str) -> None:
        self.calls += 1
        self.failures += 1
        self.last_failure = reason
        if self.state is BreakerState.HALF_OPEN:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
            self._open(f"probe failed: {reason}")
            return
        if self.state is BreakerState.OPEN:
            return  # a call that started before it opened; it stays open
        self._consecutive += 1
        self._note(True)
        cfg = self.config
        if self._consecutive >= cfg.failures:
            self._open(f"{self._consecutive} consecutive failures, last: {reason}")
            return
        calls = len(self._window)
        if calls >= cfg.min_calls and self._window_failures >= cfg.error_rate * calls:
            self._open(
                f"{self._window_failures} of {calls} calls failed in {cfg.window_s:g} s, "
                f"last: {reason}"
            )

    # --- state ----------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True while calls are refused (open, before the probe period)."""
        return self.state is BreakerState.OPEN

    def describe(self) -> str:
        if self.state is BreakerState.CLOSED:
            return f"{self.name} breaker closed"
        return self._open_message()

    def _open_message(self) -> str:
        left = max(0.0, self.config.open_s - (self._clock() - self._opened_at))
        state = "open" if self.state is BreakerState.OPEN else "half-open"
        return (
            f"{self.name} circuit breaker {state} (probing in {left:.0f} s): "
            f"last failure: {self.last_failure or 'unknown'}"
        )

    def _note(self, failed: bool) -> None:
        now = self._clock()
        window = self._window
        window.append((now, failed))
        self._window_failures += failed
        horizon = now - self.config.window_s
        while window and window[0][0] < horizon:
            _, old_failed = window.popleft()
            self._window_failures -= old_failed

    def _reset_window(self) -> None:
        self._window.clear()
        self._window_failures = 0
        self._consecutive = 0

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._probe_successes = 0
        self._probes_in_flight = 0
        self._reset_window()
        self.opened += 1
        self._set(BreakerState.OPEN, reason)

    def _set(self, new: BreakerState, reason: str) -> None:
        old = self.state
        if old is new:
            return
        self.state = new
        if new is BreakerState.HALF_OPEN:
            self._probe_successes = 0
            self._probes_in_flight = 0
        change = BreakerChange(self.name, old, new, reason)
        if new is BreakerState.OPEN:
            log.error("breaker_open", breaker=self.name, reason=reason)
        else:
            log.warning("breaker_state", breaker=self.name, state=new.value, reason=reason)
        for listener in list(self.listeners):
            try:
                listener(change)
            except Exception:  # a listener bug must not break the client's call
                log.exception("breaker listener failed", breaker=self.name)
