"""What every strategy shares: the view of the books, the protocol, configs, sightings and the
per-market attempt gate.

Strategies are pure and synchronous: the engine hands them books (through a ``MarketView``) and
times, they return ``Signal``s. They never read the clock, the settings or the network, so a
replay of a recording makes exactly the decisions the live run made.

Contract with the engine, per strategy:
- ``set_universe(markets, events)`` once (and again when the universe changes); it returns
  token id -> market key so the engine knows which evaluation a book change triggers.
- ``on_book(view, keys, ts_recv_ns)`` after the books of those keys changed, ``on_timer`` on a
  steady cadence (cooldowns ending, Sniper windows, quiet books).
- Every emitted signal gets exactly one terminal ``on_result`` (``denied:<reason>``, ``filled``,
  ``partial``, ``failed``, ...; ``taken`` may precede it). Until then its market is in flight and
  the strategy does not signal it again; afterwards a cooldown runs.
- After each call, ``last_evaluated``/``last_sightings`` say which markets were evaluated and
  which showed an executable edge (signalled or not): the opportunity ledger's input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Protocol, Self

from polyarb.domain.book import OrderBook
from polyarb.domain.market import Market, MarketEvent
from polyarb.domain.trading import Signal

NS_PER_MS = 1_000_000

# Outcomes reported through ``on_result`` / ``OpportunityTracker.resolve``.
TAKEN = "taken"  # approved and submitted; still in flight
FILLED = "filled"
PARTIAL = "partial"
FAILED = "failed"
MISSED = "missed"  # seen, never acted on
DENIED_PREFIX = "denied:"
# Why an apparent edge was never acted on (``Sighting.held_back`` and opportunity outcomes).
TORN_VIEW = "torn_view"  # a binary market's two books disagree: the edge is not the venue's
ANOMALY = "anomaly"  # an edge above the sanity cap: reported, never traded


def is_terminal(outcome: str) -> bool:
    """Every outcome but ``taken`` ends an attempt."""
    return outcome != TAKEN


def denied(reason: str) -> str:
    return DENIED_PREFIX + reason


class MarketView(Protocol):
    """Read-only context the engine passes to strategies."""

    def book(self, token_id: str) -> OrderBook | None: ...

    def now_ns(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BookView:
    """A ``MarketView`` over a mapping of books and a clock function (engine, replay, tests)."""

    books: Mapping[str, OrderBook]
    clock: Callable[[], int]

    def book(self, token_id: str) -> OrderBook | None:
        return self.books.get(token_id)

    def now_ns(self) -> int:
        return self.clock()


@dataclass(frozen=True, slots=True)
class Sighting:
    """An executable edge a strategy saw on one market key in one evaluation."""

    market: str
    edge: Decimal  # per set (or per share), fees included
    size: Decimal  # executable size at that edge
    signal_id: str = ""  # set when the strategy emitted a signal for it
    held_back: str = ""  # why not signalled: in_flight | cooldown | torn_view | anomaly
    tokens: tuple[str, ...] = ()  # torn_view: the books to refresh from the venue


class Strategy(Protocol):
    name: str
    last_evaluated: list[str]
    last_sightings: list[Sighting]

    def watches(self, market: Market) -> bool: ...

    def set_universe(
        self, markets: Sequence[Market], events: Sequence[MarketEvent]
    ) -> dict[str, str]: ...

    def on_book(
        self, view: MarketView, market_keys: Collection[str], ts_recv_ns: int
    ) -> list[Signal]: ...

    def on_timer(self, view: MarketView, now_ns: int) -> list[Signal]: ...

    def on_result(self, signal: Signal, outcome: str, now_ns: int | None = None) -> None: ...

    def stats(self) -> dict[str, int]: ...


class AttemptGate:
    """One attempt in flight per market key, then a cooldown.

    Share one gate between strategies (e.g. SumTo100 and Clipper on the same binary markets) to
    make "one attempt per market" hold across them.
    """

    __slots__ = ("_cooldown_until", "_in_flight")

    def __init__(self) -> None:
        self._in_flight: dict[str, str] = {}  # market key -> signal id
        self._cooldown_until: dict[str, int] = {}

    def blocked(self, key: str, now_ns: int) -> str:
        """Empty ("") when a new attempt may start, else why not (in_flight | cooldown)."""
        if key in self._in_flight:
            return "in_flight"
        until = self._cooldown_until.get(key)
        if until is not None:
            if now_ns < until:
                return "cooldown"
            del self._cooldown_until[key]
        return ""

    def start(self, key: str, signal_id: str) -> None:
        self._in_flight[key] = signal_id

    def finish(self, key: str, signal_id: str, now_ns: int, cooldown_ns: int) -> bool:
        """End the attempt ``signal_id`` on ``key``; False if it was not the one in flight."""
        if self._in_flight.get(key) != signal_id:
            return False
        del self._in_flight[key]
        if cooldown_ns > 0:
            self._cooldown_until[key] = now_ns + cooldown_ns
        return True

    def in_flight(self) -> dict[str, str]:
        return dict(self._in_flight)


# --- configs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    """Base of the per-strategy configs: built from settings, shown and changed as strings."""

    PREFIX: ClassVar[str] = ""
    FALLBACKS: ClassVar[dict[str, str]] = {}  # field -> another setting read when ours is absent

    @classmethod
    def from_settings(cls, settings: object) -> Self:
        """Read ``<PREFIX>_<field>`` attributes of a settings object (duck-typed: strategies
        never import config), else the field's ``FALLBACKS`` setting; else the default."""
        values: dict[str, Any] = {}
        missing = object()
        for f in dataclasses.fields(cls):
            value = getattr(settings, f"{cls.PREFIX}_{f.name}", missing)
            if value is missing and f.name in cls.FALLBACKS:
                value = getattr(settings, cls.FALLBACKS[f.name], missing)
            if value is not missing:
                values[f.name] = value
        return cls(**values)

    def params(self) -> dict[str, str]:
        """Current values as strings (dashboard display)."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = "" if value is None else str(value)
        return out

    def with_param(self, name: str, text: str) -> Self:
        """A copy with one field parsed from text; ``ValueError`` names what is accepted."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        if name not in fields:
            raise ValueError(f"unknown parameter {name!r}; known: {', '.join(sorted(fields))}")
        current = getattr(self, name)
        value: object
        try:
            if isinstance(current, bool):
                lowered = text.strip().lower()
                if lowered not in {"true", "false"}:
                    raise ValueError(f"{name} accepts true or false (got {text!r})")
                value = lowered == "true"
            elif isinstance(current, int):
                value = int(text)
            elif text.strip() == "" and fields[name].default is None:
                value = None
            else:
                value = Decimal(text.strip())
                if not value.is_finite():
                    raise ValueError(f"{name} must be a finite number (got {text!r})")
        except (InvalidOperation, ValueError) as exc:
            raise ValueError(f"{name}: invalid value {text!r}") from exc
        if isinstance(value, Decimal | int) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"{name} must not be negative (got {text!r})")
        return dataclasses.replace(self, **{name: value})


# The on-chain cost of one merge, redeem or convert (CHAIN_TX_COST_USD), read by every strategy
# whose trade needs one; a single setting, so it is a fallback rather than a per-strategy field.
_CHAIN = {"chain_tx_cost_usd": "chain_tx_cost_usd"}
CHAIN_TX_COST_USD = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class SumTo100Config(StrategyConfig):
    PREFIX: ClassVar[str] = "sumto100"
    FALLBACKS: ClassVar[dict[str, str]] = _CHAIN

    min_edge: Decimal = Decimal("0.003")  # per set, on every segment of depth taken (marginal)
    min_profit_usd: Decimal = Decimal("0.05")  # expected profit of a trade, after the chain cost
    chain_tx_cost_usd: Decimal = CHAIN_TX_COST_USD
    max_position: Decimal = Decimal(100)  # sets
    max_notional: Decimal = Decimal(100)  # USD, fees included
    min_liquidity: Decimal = Decimal(50)  # sets: the smallest trade worth taking
    fee_rate: Decimal | None = None  # flat USD per complete set; None = the venue's fees
    max_book_age_ms: int = 500
    cooldown_ms: int = 2000
    max_edge: Decimal = Decimal("0.10")  # an edge above this is an anomaly, never traded


@dataclass(frozen=True, slots=True)
class ClipperConfig(StrategyConfig):
    PREFIX: ClassVar[str] = "clipper"
    FALLBACKS: ClassVar[dict[str, str]] = {
        "fee_rate": "sumto100_fee_rate",
        "max_book_age_ms": "sumto100_max_book_age_ms",
        "cooldown_ms": "sumto100_cooldown_ms",
        **_CHAIN,
        "max_edge": "sumto100_max_edge",
    }

    min_profit: Decimal = Decimal("0.01")  # per set, fees included
    min_profit_usd: Decimal = Decimal("0.05")  # expected profit of a trade, after the chain cost
    chain_tx_cost_usd: Decimal = CHAIN_TX_COST_USD
    max_position: Decimal = Decimal(100)
    max_notional: Decimal = Decimal(100)
    fee_rate: Decimal | None = None  # shares SumTo100's override (SUMTO100_FEE_RATE)
    max_book_age_ms: int = 500  # SUMTO100_MAX_BOOK_AGE_MS unless a CLIPPER_ one exists
    cooldown_ms: int = 2000  # SUMTO100_COOLDOWN_MS unless a CLIPPER_ one exists
    max_edge: Decimal = Decimal("0.10")  # SUMTO100_MAX_EDGE: above it, an anomaly


@dataclass(frozen=True, slots=True)
class NegRiskConfig(StrategyConfig):
    PREFIX: ClassVar[str] = "negrisk"
    FALLBACKS: ClassVar[dict[str, str]] = _CHAIN

    min_edge: Decimal = Decimal("0.005")  # per set, on every segment of depth taken (marginal)
    min_profit_usd: Decimal = Decimal("0.05")  # expected profit of a trade, after the chain cost
    chain_tx_cost_usd: Decimal = CHAIN_TX_COST_USD
    max_position: Decimal = Decimal(100)
    max_notional: Decimal = Decimal(200)
    min_liquidity: Decimal = Decimal(10)
    max_book_age_ms: int = 2000
    cooldown_ms: int = 2000
    max_edge: Decimal = Decimal("0.10")  # an edge above this is an anomaly, never traded


@dataclass(frozen=True, slots=True)
class NegRiskConvertConfig(StrategyConfig):
    """negRisk conversion (``NEGRISK_CONVERT_*``): min_edge is dollars a set, fees included."""

    PREFIX: ClassVar[str] = "negrisk_convert"
    FALLBACKS: ClassVar[dict[str, str]] = {**_CHAIN, "max_edge": "negrisk_max_edge"}

    min_edge: Decimal = Decimal("0.005")
    min_profit_usd: Decimal = Decimal("0.05")  # expected profit of a trade, after the chain cost
    chain_tx_cost_usd: Decimal = CHAIN_TX_COST_USD  # the convertPositions transaction
    max_edge: Decimal = Decimal("0.10")  # x (n - 1) $ a set: above it an anomaly (NEGRISK_MAX_EDGE)
    max_position: Decimal = Decimal(100)  # sets
    max_notional: Decimal = Decimal(200)  # USD the NO set costs, fees included
    min_liquidity: Decimal = Decimal(10)  # sets
    max_book_age_ms: int = 2000
    cooldown_ms: int = 2000


@dataclass(frozen=True, slots=True)
class SniperConfig(StrategyConfig):
    PREFIX: ClassVar[str] = "sniper"

    min_price: Decimal = Decimal("0.50")
    max_price: Decimal = Decimal("0.95")
    order_size: Decimal = Decimal(10)
    min_profit: Decimal = Decimal("0.05")  # per share, fees included
    poll_ms: int = 1000  # also the wait before retrying a denied attempt
    reprice_window_ms: int = 300_000  # how long a final game's book is watched
    max_data_age_s: int = 15  # scoreboard data older than this is ignored
    max_games: int = 2000  # games remembered (bounded memory)
