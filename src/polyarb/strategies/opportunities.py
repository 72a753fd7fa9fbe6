"""The opportunity ledger: how long edges live, how big they are, and what became of them.

A signal stream alone cannot say whether an edge is real: most "opportunities" vanish before an
order could land, or are too small to matter. The tracker follows each (strategy, market key)
from the first evaluation that shows an executable edge to the first evaluation that no longer
does, whether or not a signal was emitted (cooldowns and in-flight attempts hold signals back),
and records what happened: ``missed`` (never acted on), ``torn_view`` (a binary market's two
books disagreed: not the venue's edge), ``anomaly`` (an edge above the sanity cap),
``denied:<reason>``, ``taken``, ``failed``, ``partial``, ``filled`` (the best outcome of its
signals wins).

The engine calls ``observe`` after every evaluation with the strategy's ``last_evaluated`` and
``last_sightings``, and ``resolve`` with each signal's outcome. Closed records are handed out by
``drain_closed`` for persistence; ``report`` summarises per strategy. Memory is bounded: open
records, records awaiting a late outcome, the closed queue and the distribution windows all
have caps (the oldest goes first and is counted).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from polyarb.domain.trading import Signal
from polyarb.strategies.base import (
    ANOMALY,
    DENIED_PREFIX,
    FAILED,
    FILLED,
    MISSED,
    PARTIAL,
    TAKEN,
    TORN_VIEW,
    Sighting,
    is_terminal,
)

# Denials rank 2. A torn view or an anomaly says why an edge was never acted on (better than
# "missed"); any signal's outcome says more.
_RANK = {MISSED: 0, TORN_VIEW: 1, ANOMALY: 1, FAILED: 3, TAKEN: 4, PARTIAL: 5, FILLED: 6}
_NOT_TRADED = (TORN_VIEW, ANOMALY)
NS_PER_MS = Decimal(1_000_000)


def _rank(outcome: str) -> int:
    if outcome.startswith(DENIED_PREFIX):
        return 2
    return _RANK.get(outcome, 3)


@dataclass(slots=True)
class Opportunity:
    strategy: str
    market: str
    first_seen_ns: int
    last_seen_ns: int
    best_edge: Decimal
    max_size: Decimal  # largest executable size seen
    sightings: int = 1
    outcome: str = MISSED
    detail: str = ""
    signal_ids: list[str] = field(default_factory=list)
    closed_ns: int = 0  # 0 while open
    pending: int = 0  # signals without a terminal outcome yet

    @property
    def lifetime_ns(self) -> int:
        return self.last_seen_ns - self.first_seen_ns

    def as_dict(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "market": self.market,
            "first_seen_ns": self.first_seen_ns,
            "last_seen_ns": self.last_seen_ns,
            "closed_ns": self.closed_ns,
            "lifetime_ns": self.lifetime_ns,
            "best_edge": str(self.best_edge),
            "max_size": str(self.max_size),
            "sightings": self.sightings,
            "outcome": self.outcome,
            "detail": self.detail,
            "signal_ids": list(self.signal_ids),
        }


@dataclass(frozen=True, slots=True)
class Distribution:
    count: int
    p50: Decimal
    p90: Decimal
    p99: Decimal
    max: Decimal

    @classmethod
    def of(cls, values: Iterable[Decimal]) -> Distribution:
        ordered = sorted(values)
        if not ordered:
            zero = Decimal(0)
            return cls(0, zero, zero, zero, zero)

        def rank(p: int) -> Decimal:  # nearest-rank percentile
            return ordered[max(0, -(-p * len(ordered) // 100) - 1)]

        return cls(len(ordered), rank(50), rank(90), rank(99), ordered[-1])

    def as_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "p50": str(self.p50),
            "p90": str(self.p90),
            "p99": str(self.p99),
            "max": str(self.max),
        }


@dataclass(frozen=True, slots=True)
class OpportunityReport:
    strategy: str
    opened: int
    closed: int
    open_now: int
    by_outcome: dict[str, int]
    lifetime_ms: Distribution  # last seen - first seen
    size: Distribution
    edge: Distribution

    def as_dict(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "opened": self.opened,
            "closed": self.closed,
            "open_now": self.open_now,
            "by_outcome": dict(self.by_outcome),
            "lifetime_ms": self.lifetime_ms.as_dict(),
            "size": self.size.as_dict(),
            "edge": self.edge.as_dict(),
        }


class _Stats:
    __slots__ = ("by_outcome", "closed", "edges", "lifetimes", "opened", "sizes")

    def __init__(self, window: int) -> None:
        self.opened = 0
        self.closed = 0
        self.by_outcome: dict[str, int] = {}
        self.lifetimes: deque[int] = deque(maxlen=window)
        self.sizes: deque[Decimal] = deque(maxlen=window)
        self.edges: deque[Decimal] = deque(maxlen=window)


class OpportunityTracker:
    def __init__(
        self,
        *,
        max_open: int = 10_000,
        max_awaiting: int = 10_000,
        max_closed: int = 10_000,
        window: int = 10_000,
    ) -> None:
        self._max_open = max_open
        self._max_awaiting = max_awaiting
        self._window = window
        self._open: dict[tuple[str, str], Opportunity] = {}
        self._by_signal: dict[str, Opportunity] = {}  # signal id -> its opportunity (any state)
        self._closed: deque[Opportunity] = deque(maxlen=max_closed)
        self._stats: dict[str, _Stats] = {}
        self.dropped = 0  # closed records evicted before being drained

    def _stats_of(self, strategy: str) -> _Stats:
        stats = self._stats.get(strategy)
        if stats is None:
            stats = self._stats[strategy] = _Stats(self._window)
        return stats

    def observe(
        self,
        strategy: str,
        evaluated_keys: Iterable[str],
        sightings: Iterable[Sighting],
        now_ns: int,
    ) -> None:
        """Record one evaluation: sightings open or extend records, evaluated keys without a
        sighting close theirs."""
        seen: set[str] = set()
        for sighting in sightings:
            seen.add(sighting.market)
            key = (strategy, sighting.market)
            opp = self._open.get(key)
            if opp is None:
                opp = Opportunity(
                    strategy=strategy,
                    market=sighting.market,
                    first_seen_ns=now_ns,
                    last_seen_ns=now_ns,
                    best_edge=sighting.edge,
                    max_size=sighting.size,
                )
                self._open[key] = opp
                self._stats_of(strategy).opened += 1
                if len(self._open) > self._max_open:
                    oldest = next(iter(self._open))
                    self._close(oldest, now_ns)
            else:
                opp.last_seen_ns = now_ns
                opp.sightings += 1
                opp.best_edge = max(opp.best_edge, sighting.edge)
                opp.max_size = max(opp.max_size, sighting.size)
            held_back = sighting.held_back
            if held_back in _NOT_TRADED and _rank(held_back) > _rank(opp.outcome):
                opp.outcome = held_back
            if sighting.signal_id and sighting.signal_id not in self._by_signal:
                opp.signal_ids.append(sighting.signal_id)
                opp.pending += 1
                self._by_signal[sighting.signal_id] = opp
                if len(self._by_signal) > self._max_awaiting:
                    self._forget(next(iter(self._by_signal)))
        for market in evaluated_keys:
            if market not in seen and (strategy, market) in self._open:
                self._close((strategy, market), now_ns)

    def resolve(self, signal: Signal, outcome: str, detail: str = "") -> bool:
        """Record a signal's outcome; False when the signal is unknown (or already settled)."""
        opp = self._by_signal.get(signal.signal_id)
        if opp is None:
            return False
        if _rank(outcome) >= _rank(opp.outcome):
            opp.outcome = outcome
            opp.detail = detail
        if is_terminal(outcome):
            self._forget(signal.signal_id)
        return True

    def close_all(self, now_ns: int) -> None:
        """Close every open record (shutdown); records awaiting an outcome stay until resolved."""
        for key in list(self._open):
            self._close(key, now_ns)

    def _forget(self, signal_id: str) -> None:
        opp = self._by_signal.pop(signal_id)
        opp.pending -= 1
        if opp.closed_ns and opp.pending <= 0:
            self._finalize(opp)

    def _close(self, key: tuple[str, str], now_ns: int) -> None:
        opp = self._open.pop(key)
        opp.closed_ns = now_ns
        if opp.pending <= 0:
            self._finalize(opp)

    def _finalize(self, opp: Opportunity) -> None:
        stats = self._stats_of(opp.strategy)
        stats.closed += 1
        stats.by_outcome[opp.outcome] = stats.by_outcome.get(opp.outcome, 0) + 1
        stats.lifetimes.append(opp.lifetime_ns)
        stats.sizes.append(opp.max_size)
        stats.edges.append(opp.best_edge)
        if len(self._closed) == self._closed.maxlen:
            self.dropped += 1
        self._closed.append(opp)

    def drain_closed(self) -> list[Opportunity]:
        """Closed records since the last call, oldest first (for the store)."""
        out = list(self._closed)
        self._closed.clear()
        return out

    def outcome_counts(self) -> dict[str, dict[str, int]]:
        """Closed records per strategy and outcome since start (cheap: for the metrics)."""
        return {name: dict(stats.by_outcome) for name, stats in self._stats.items()}

    def open_records(self) -> list[Opportunity]:
        return list(self._open.values())

    def report(self) -> dict[str, OpportunityReport]:
        """Per strategy: counts by outcome and distributions of lifetime, size and edge over the
        most recent closed records (``window`` of them)."""
        open_by: dict[str, int] = {}
        for strategy, _ in self._open:
            open_by[strategy] = open_by.get(strategy, 0) + 1
        out: dict[str, OpportunityReport] = {}
        for strategy in sorted(set(self._stats) | set(open_by)):
            stats = self._stats_of(strategy)
            out[strategy] = OpportunityReport(
                strategy=strategy,
                opened=stats.opened,
                closed=stats.closed,
                open_now=open_by.get(strategy, 0),
                by_outcome=dict(sorted(stats.by_outcome.items())),
                lifetime_ms=Distribution.of(Decimal(ns) / NS_PER_MS for ns in stats.lifetimes),
                size=Distribution.of(stats.sizes),
                edge=Distribution.of(stats.edges),
            )
        return out
