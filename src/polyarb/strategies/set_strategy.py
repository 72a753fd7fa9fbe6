"""The machinery shared by the complete-set strategies (SumTo100, Clipper, NegRisk).

A subclass says which markets form a set (``_targets``), its limits (``_bounds``) and how to
choose among the markets that show an edge (``_select``); this class does the book checks, the
sizing, the attempt gate, the cooldown re-evaluation and the bookkeeping.

Two guards stand between an apparent edge and a signal (docs/architecture.md, "Torn views"):

- **A binary book is one book.** The venue matches a YES buyer against a NO buyer by minting, so
  a binary market's NO book is its YES book seen from the other side: YES best bid = 1 - NO best
  ask and YES best ask = 1 - NO best bid. Two views that agree (within a tick) cannot show a
  complete set below $1; YES ask + NO ask < 1 can only be a torn or stale view. A target marked
  ``mirrored`` whose books show an edge but disagree is a ``torn_view``: never traded, reported
  with the tokens to refresh (the engine asks the feed for fresh REST snapshots).
- **Edge sanity cap.** An edge above ``max_edge`` (a fraction of what one set pays: dollars a set
  for a set paying $1, ``max_edge x (n - 1)`` for a conversion paying n - 1) is an ``anomaly``
  (bad data, a market about to resolve, a missing outcome), reported and never traded.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Generic, TypeVar

from polyarb.domain.book import OrderBook
from polyarb.domain.market import Market, MarketEvent, Outcome
from polyarb.domain.numbers import ONE, size_to_decimal
from polyarb.domain.trading import Signal
from polyarb.strategies.base import (
    ANOMALY,
    TORN_VIEW,
    AttemptGate,
    MarketView,
    Sighting,
    StrategyConfig,
    is_terminal,
)
from polyarb.strategies.complete_set import (
    EDGE_QUANTUM,
    SetBounds,
    SetPlan,
    build_legs,
    limit_prices,
    plan_sets,
    set_signal,
    top_of_book_sets,
)
from polyarb.strategies.fees import FeeModel

ConfigT = TypeVar("ConfigT", bound=StrategyConfig)


@dataclass(frozen=True, slots=True)
class SetTarget:
    """One set a strategy trades: its key, the token bought per leg, fees and limits."""

    key: str
    legs: tuple[tuple[Market, Outcome], ...]
    fees: FeeModel
    bounds: SetBounds
    token_ids: tuple[str, ...] = ()
    mirrored: bool = False  # a binary market: its two books are one matching book
    payout: int = 1  # dollars one set pays (n - 1 for a negRisk conversion): scales the edge cap

    def __post_init__(self) -> None:
        if not self.token_ids:
            object.__setattr__(self, "token_ids", tuple(o.token_id for _, o in self.legs))


@dataclass(frozen=True, slots=True)
class Candidate:
    """An executable set found in one evaluation, priced once."""

    target: SetTarget
    plan: SetPlan
    limits: tuple[int, ...]
    size: Decimal
    cost: Decimal  # USD, fees and the chain transaction included
    edge: Decimal  # per set, rounded down

    @property
    def profit(self) -> Decimal:
        return self.size - self.cost


_NO_AGE_LIMIT = -(2**62)


def _edge(size: Decimal, cost: Decimal) -> Decimal:
    """Profit per set, fees included, rounded down."""
    return ((size - cost) / size).quantize(EDGE_QUANTUM, rounding=ROUND_FLOOR)


def views_agree(yes: OrderBook, no: OrderBook) -> bool:
    """Whether a binary market's two books are the same matching book seen from both sides:
    YES best bid = 1 - NO best ask and YES best ask = 1 - NO best bid, within a tick (the
    coarser of the two). An empty side must face an empty side."""
    tick = max(yes.tick, no.tick, 1)
    pairs = (
        (yes.bids.prices[-1:], no.asks.prices[:1]),
        (yes.asks.prices[:1], no.bids.prices[-1:]),
    )
    for mine, theirs in pairs:
        if not mine or not theirs:
            if mine or theirs:
                return False
            continue
        if abs(mine[0] - (ONE - theirs[0])) > tick:
            return False
    return True


class SetStrategy(Generic[ConfigT]):
    """Base of the complete-set strategies; see the module docstring."""

    name = ""
    top_only = False

    def __init__(
        self,
        config: ConfigT,
        *,
        gate: AttemptGate | None = None,
        id_prefix: str = "",
        independent_books: bool = False,
    ) -> None:
        self._config = config
        # True only for hand-made books that are NOT one matching book (unit tests of the
        # sizing): the torn-view guard is then off. No setting reaches it.
        self.independent_books = independent_books
        self.gate = gate if gate is not None else AttemptGate()
        self.id_prefix = id_prefix
        self.targets: dict[str, SetTarget] = {}
        self.last_evaluated: list[str] = []
        self.last_sightings: list[Sighting] = []
        self._markets: tuple[Market, ...] = ()
        self._events: tuple[MarketEvent, ...] = ()
        self._rearm: dict[str, int] = {}  # key -> when its cooldown ends (re-evaluate then)
        self._seq = 0
        self._now_ns = 0
        self._counts: dict[str, int] = {}

    # --- configuration and universe ---------------------------------------------------------

    @property
    def config(self) -> ConfigT:
        return self._config

    def set_config(self, config: ConfigT) -> None:
        """Swap the config (operator change); limits and fee models are rebuilt."""
        self._config = config
        self.set_universe(self._markets, self._events)

    def watches(self, market: Market) -> bool:
        raise NotImplementedError

    def _targets(self, markets: Sequence[Market], events: Sequence[MarketEvent]) -> list[SetTarget]:
        raise NotImplementedError

    def set_universe(
        self, markets: Sequence[Market], events: Sequence[MarketEvent]
    ) -> dict[str, str]:
        """Replace the traded sets; returns token id -> market key."""
        self._markets = tuple(markets)
        self._events = tuple(events)
        self._counts["no_fee_data"] = 0  # a gauge: the sets of this universe left out
        self.targets = {t.key: t for t in self._targets(markets, events)}
        return {token: t.key for t in self.targets.values() for token in t.token_ids}

    def _fees_known(self, markets: Sequence[Market]) -> bool:
        """Fail closed on fees: a set with a leg whose market sent no fee data is not traded
        (the engine substitutes ``DEFAULT_FEE_RATE`` first when one is configured)."""
        if all(m.fees.known for m in markets):
            return True
        self._count("no_fee_data")
        return False

    # --- evaluation -------------------------------------------------------------------------

    def _max_age_ns(self) -> int | None:
        return None

    def _max_edge(self) -> Decimal | None:
        """The edge sanity cap: the config's ``max_edge`` when it has one."""
        cap = getattr(self._config, "max_edge", None)
        return cap if isinstance(cap, Decimal) else None

    def _count(self, what: str) -> None:
        self._counts[what] = self._counts.get(what, 0) + 1

    def _fresh_books(
        self, view: MarketView, target: SetTarget, oldest_ns: int
    ) -> list[OrderBook] | None:
        """The hot path: book checks, then a top-of-book test that settles most evaluations (if
        the best asks already cost more than 1 - min_edge per set, no size can qualify)."""
        fees = target.fees
        marginal = fees.flat_per_unit
        books: list[OrderBook] = []
        for i, token_id in enumerate(target.token_ids):
            book = view.book(token_id)
            if book is None:
                self._count("no_book")
                return None
            if book.stale:
                self._count("stale")
                return None
            if book.ts_recv_ns < oldest_ns:
                self._count("too_old")
                return None
            asks = book.asks.prices
            if not asks:
                self._count("no_asks")
                return None
            bids = book.bids.prices
            if bids and bids[-1] >= asks[0]:
                self._count("crossed")
                return None
            marginal += fees.unit_cost(i, asks[0])
            books.append(book)
        bounds = target.bounds
        if bounds.edge_ratio[1] * marginal > bounds.threshold:
            self._count("no_edge")
            return None
        return books

    def _evaluate(self, target: SetTarget, books: list[OrderBook]) -> Candidate | None:
        """Plan the set on books that passed ``_fresh_books``: size, fees and limit prices."""
        fees = target.fees
        plan, why = plan_sets([b.asks for b in books], fees, target.bounds, top_only=self.top_only)
        if plan is None:
            self._count(why)
            return None
        limits = limit_prices(plan, books, target.legs)
        if limits is None:
            self._count("limit_out_of_range")
            return None
        size = size_to_decimal(plan.sets)
        cost = fees.to_usd(plan.total + plan.chain_cost)
        return Candidate(target, plan, limits, size, cost, _edge(size, cost))

    def _held_back(self, target: SetTarget, books: list[OrderBook], why: str) -> Sighting | None:
        """The sighting of a market that cannot be traded now, from the best levels only: no
        signal can come of it, so the full plan would be wasted work on the hot path."""
        sets, total = top_of_book_sets([b.asks for b in books], target.fees, target.bounds)
        if not sets:
            self._count("too_thin")
            return None
        self._count(why)
        size = size_to_decimal(sets)
        cost = target.fees.to_usd(total + target.bounds.chain_cost)
        return Sighting(market=target.key, edge=_edge(size, cost), size=size, held_back=why)

    def _torn(self, target: SetTarget, books: list[OrderBook]) -> Sighting:
        """The sighting of a torn view: the apparent top-of-book edge, the tokens to refresh."""
        self._count(TORN_VIEW)
        sets, total = top_of_book_sets([b.asks for b in books], target.fees, target.bounds)
        if sets:
            size = size_to_decimal(sets)
            edge = _edge(size, target.fees.to_usd(total))
        else:  # too thin to trade even if it were real: still a view to repair
            size = Decimal(0)
            edge = ((ONE - sum(b.asks.prices[0] for b in books)) / Decimal(ONE)).quantize(
                EDGE_QUANTUM, rounding=ROUND_FLOOR
            )
        return Sighting(
            market=target.key, edge=edge, size=size, held_back=TORN_VIEW, tokens=target.token_ids
        )

    def _select(self, ready: list[Candidate]) -> list[Candidate]:
        """Which of the markets free to trade get a signal (default: all of them)."""
        return ready

    def _signal(self, candidate: Candidate, ts_recv_ns: int, signal_id: str) -> Signal:
        """The signal of a chosen candidate (a strategy whose set pays more than $1 overrides)."""
        target = candidate.target
        return set_signal(
            strategy=self.name,
            key=target.key,
            legs=build_legs(candidate.plan, candidate.limits, target.legs),
            size=candidate.size,
            cost=candidate.cost,
            fees=target.fees.to_usd(candidate.plan.fees),
            edge=candidate.edge,
            ts_recv_ns=ts_recv_ns,
            signal_id=signal_id,
        )

    def _run(self, view: MarketView, keys: Collection[str], ts_recv_ns: int) -> list[Signal]:
        now_ns = view.now_ns()
        self._now_ns = max(self._now_ns, now_ns)
        max_age = self._max_age_ns()
        oldest_ns = _NO_AGE_LIMIT if max_age is None else now_ns - max_age
        max_edge = self._max_edge()
        evaluated: list[str] = []
        found: list[Candidate] = []
        held: list[Sighting] = []
        gate = self.gate
        for key in keys:
            target = self.targets.get(key)
            if target is None:
                continue
            evaluated.append(key)
            self._count("evaluations")
            books = self._fresh_books(view, target, oldest_ns)
            if books is None:
                continue
            if target.mirrored and not self.independent_books and not views_agree(*books):
                held.append(self._torn(target, books))
                continue
            # The attempt gate comes before planning: a held-back market only needs a sighting.
            blocked = gate.blocked(key, now_ns)
            if blocked:
                sighting = self._held_back(target, books, blocked)
                if sighting is not None:
                    held.append(sighting)
                continue
            candidate = self._evaluate(target, books)
            if candidate is None:
                continue
            if max_edge is not None and candidate.edge > max_edge * target.payout:
                self._count(ANOMALY)
                held.append(
                    Sighting(
                        market=key, edge=candidate.edge, size=candidate.size, held_back=ANOMALY
                    )
                )
                continue
            found.append(candidate)
        self.last_evaluated = evaluated
        if not found:  # the usual case
            self.last_sightings = held
            return []
        chosen = {id(c) for c in self._select(found)}
        signals: list[Signal] = []
        sightings: list[Sighting] = []
        for candidate in found:
            target = candidate.target
            key = target.key
            signal_id = ""
            held_back = ""
            if id(candidate) in chosen:
                self._seq += 1
                signal_id = f"{self.id_prefix}{self.name}-{self._seq}"
                signals.append(self._signal(candidate, ts_recv_ns, signal_id))
                gate.start(key, signal_id)
                self._count("signals")
            else:
                held_back = "not_best"
                self._count(held_back)
            sightings.append(
                Sighting(
                    market=key,
                    edge=candidate.edge,
                    size=candidate.size,
                    signal_id=signal_id,
                    held_back=held_back,
                )
            )
        sightings.extend(held)
        self.last_sightings = sightings
        return signals

    def on_book(
        self, view: MarketView, market_keys: Collection[str], ts_recv_ns: int
    ) -> list[Signal]:
        return self._run(view, market_keys, ts_recv_ns)

    def on_timer(self, view: MarketView, now_ns: int) -> list[Signal]:
        """Re-evaluate the markets whose cooldown has ended (their books may be quiet)."""
        due = [key for key, until in self._rearm.items() if until <= now_ns]
        for key in due:
            del self._rearm[key]
        if not due:
            self.last_evaluated = []
            self.last_sightings = []
            return []
        return self._run(view, due, now_ns)

    def _cooldown_ns(self) -> int:
        return 0

    def on_result(self, signal: Signal, outcome: str, now_ns: int | None = None) -> None:
        """End the attempt on a terminal outcome and start the market's cooldown."""
        if signal.strategy != self.name or not is_terminal(outcome):
            return
        when = self._now_ns if now_ns is None else now_ns
        cooldown = self._cooldown_ns()
        if self.gate.finish(signal.market, signal.signal_id, when, cooldown):
            self._rearm[signal.market] = when + cooldown

    def stats(self) -> dict[str, int]:
        """Counters: evaluations, signals, and why evaluations found nothing to do."""
        out = dict(self._counts)
        out["in_flight"] = len(self.gate.in_flight())
        return out
