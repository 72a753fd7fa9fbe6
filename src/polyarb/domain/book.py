"""Full-depth order book for one token, in exact integer units (see ``numbers``).

Each side is a dict price -> size plus an ascending list of its prices kept sorted with bisect:
an update is a dict write (plus one bisect insert or delete when a level appears or vanishes),
the best level is an end of the list, and a sweep walks the list from the best end. Wire order
does not matter: the venue sends best LAST, we sort on ingest.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from polyarb.domain.numbers import (
    COST_SCALE,
    ONE,
    SIZE_SCALE,
    cost_to_decimal,
    price_str,
    price_to_decimal,
)


class Side(StrEnum):
    """Order side; BUY takes asks, SELL takes bids. On a book, BUY = bid level, SELL = ask level."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


@dataclass(frozen=True, slots=True)
class Sweep:
    """The result of walking one side of a book for a quantity (all integer units)."""

    filled: int  # shares, 1e-6 units
    cost: int  # sum(price * size), 1e-10 dollar units
    levels_used: int
    worst_price: int  # last price touched, 1e-4 units (0 when nothing filled)

    @property
    def vwap(self) -> Decimal:
        """Volume-weighted average price; exact to Decimal context precision."""
        if self.filled == 0:
            return Decimal(0)
        vwap: Decimal = cost_to_decimal(self.cost) / (Decimal(self.filled) / SIZE_SCALE)
        return vwap

    @property
    def cost_usd(self) -> Decimal:
        return cost_to_decimal(self.cost)


EMPTY_SWEEP = Sweep(0, 0, 0, 0)


class BookSide:
    """One side of a book. ``prices`` is ascending; bids are best at the end, asks at the start.

    ``edge`` is the best price kept as an attribute, or the venue's value for an empty side (0
    for bids, ONE for asks): the integrity check compares it with the venue's best_bid/best_ask
    as it is. A level that appears moves it by one compare; the best level going reads the new
    end of ``prices``.
    """

    __slots__ = ("edge", "empty_edge", "is_bid", "levels", "prices")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.empty_edge = self.edge = 0 if is_bid else ONE
        self.levels: dict[int, int] = {}
        self.prices: list[int] = []

    def set(self, price: int, size: int) -> None:
        """Set the absolute size at a price; 0 removes the level."""
        levels = self.levels
        if size:
            if price not in levels:
                insort(self.prices, price)
                if (price > self.edge) if self.is_bid else (price < self.edge):
                    self.edge = price
            levels[price] = size
        elif price in levels:
            del levels[price]
            prices = self.prices
            del prices[bisect_left(prices, price)]
            if price == self.edge:
                if not prices:
                    self.edge = self.empty_edge
                else:
                    self.edge = prices[-1] if self.is_bid else prices[0]

    def replace(self, pairs: Iterable[tuple[int, int]]) -> None:
        levels = {p: s for p, s in pairs if s}
        self.levels = levels
        self.prices = prices = sorted(levels)
        if not prices:
            self.edge = self.empty_edge
        else:
            self.edge = prices[-1] if self.is_bid else prices[0]

    def clear(self) -> None:
        self.levels = {}
        self.prices = []
        self.edge = self.empty_edge

    def best(self) -> int | None:
        prices = self.prices
        if not prices:
            return None
        return prices[-1] if self.is_bid else prices[0]

    def best_first(self) -> Iterator[tuple[int, int]]:
        """Yield (price, size) from the best level outwards."""
        levels = self.levels
        prices = reversed(self.prices) if self.is_bid else iter(self.prices)
        for price in prices:
            yield price, levels[price]

    def depth(self) -> int:
        return sum(self.levels.values())

    def __len__(self) -> int:
        return len(self.prices)

    def sweep(self, quantity: int, limit: int | None = None) -> Sweep:
        """Walk from the best level taking up to ``quantity`` shares, not beyond ``limit``."""
        if quantity <= 0 or not self.prices:
            return EMPTY_SWEEP
        remaining = quantity
        cost = 0
        used = 0
        worst = 0
        levels = self.levels
        is_bid = self.is_bid
        prices = reversed(self.prices) if is_bid else iter(self.prices)
        for price in prices:
            if limit is not None and (price < limit if is_bid else price > limit):
                break
            size = levels[price]
            take = size if size < remaining else remaining
            cost += take * price
            used += 1
            worst = price
            remaining -= take
            if not remaining:
                break
        return Sweep(quantity - remaining, cost, used, worst)

    def take(self, quantity: int, limit: int | None = None) -> list[tuple[int, int]]:
        """Return the (price, size) slices a sweep of ``quantity`` would take, best first."""
        out: list[tuple[int, int]] = []
        remaining = quantity
        for price, size in self.best_first():
            if remaining <= 0:
                break
            if limit is not None and (price < limit if self.is_bid else price > limit):
                break
            take = min(size, remaining)
            out.append((price, take))
            remaining -= take
        return out

    def shares_for_cost(self, budget: int) -> Sweep:
        """Walk from the best level spending at most ``budget`` (1e-10 $ units)."""
        remaining = budget
        filled = 0
        cost = 0
        used = 0
        worst = 0
        for price, size in self.best_first():
            if remaining <= 0 or price <= 0:
                break
            affordable = remaining // price
            take = size if size < affordable else affordable
            if take <= 0:
                break
            filled += take
            cost += take * price
            remaining -= take * price
            used += 1
            worst = price
        return Sweep(filled, cost, used, worst)


class OrderBook:
    """Full-depth book of one token with exchange and receive timestamps."""

    __slots__ = (
        "asks",
        "bids",
        "hash",
        "last_trade_price",
        "market",
        "stale",
        "tick",
        "token_id",
        "ts_event_ms",
        "ts_recv_ns",
        "ts_snapshot_ns",
    )

    def __init__(self, token_id: str, market: str = "", tick: int = 100) -> None:
        self.token_id = token_id
        self.market = market
        self.tick = tick  # 1e-4 units: 100 = 0.01
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.ts_event_ms = 0  # venue timestamp of the last applied message
        self.ts_recv_ns = 0  # local receive time of the last applied message (any kind)
        self.ts_snapshot_ns = 0  # local receive time of the last full snapshot
        self.hash = ""
        self.last_trade_price: int | None = None
        # A book with no snapshot yet, or one invalidated (disconnect, tick size change), is stale:
        # strategies must not trade on it until a fresh snapshot arrives.
        self.stale = True

    def apply_snapshot(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        ts_event_ms: int,
        ts_recv_ns: int,
    ) -> None:
        self.bids.replace(bids)
        self.asks.replace(asks)
        self.ts_event_ms = ts_event_ms
        self.ts_recv_ns = ts_recv_ns
        self.ts_snapshot_ns = ts_recv_ns
        self.stale = False

    def apply_level(
        self, side: Side, price: int, size: int, ts_event_ms: int, ts_recv_ns: int
    ) -> None:
        """Apply one absolute level update: ``side`` BUY is a bid level, SELL an ask level."""
        (self.bids if side == Side.BUY else self.asks).set(price, size)
        if ts_event_ms > self.ts_event_ms:
            self.ts_event_ms = ts_event_ms
        self.ts_recv_ns = ts_recv_ns

    def invalidate(self) -> None:
        """Mark stale (disconnect, tick size change); levels are kept only for display."""
        self.stale = True

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.stale = True

    def best_bid(self) -> int | None:
        return self.bids.best()

    def best_ask(self) -> int | None:
        return self.asks.best()

    def mid(self) -> Decimal | None:
        bid, ask = self.bids.best(), self.asks.best()
        if bid is None or ask is None:
            return None
        return price_to_decimal(bid + ask) / 2

    def is_crossed(self) -> bool:
        """True when best bid >= best ask: the book cannot be trusted (lost or reordered update)."""
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and bid >= ask

    def vwap_buy(self, quantity: int, limit: int | None = None) -> Sweep:
        """Sweep the asks to buy ``quantity`` shares (1e-6 units)."""
        return self.asks.sweep(quantity, limit)

    def vwap_sell(self, quantity: int, limit: int | None = None) -> Sweep:
        """Sweep the bids to sell ``quantity`` shares (1e-6 units)."""
        return self.bids.sweep(quantity, limit)

    def shares_for_usd(self, usd: Decimal) -> Sweep:
        """How many shares ``usd`` dollars buy walking the asks."""
        return self.asks.shares_for_cost(int(usd * COST_SCALE))

    def age_ns(self, now_ns: int) -> int:
        """Time since the last update of either kind (snapshot or level change)."""
        return now_ns - self.ts_recv_ns

    def snapshot_levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks), each best first."""
        return list(self.bids.best_first()), list(self.asks.best_first())

    def __repr__(self) -> str:
        bid, ask = self.best_bid(), self.best_ask()
        return (
            f"OrderBook({self.token_id[:10]}…, bid={bid and price_str(bid)}, "
            f"ask={ask and price_str(ask)}, levels={len(self.bids)}/{len(self.asks)})"
        )
