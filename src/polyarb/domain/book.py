"""Full-depth order book for one token, in exact integer units (see ``numbers``).

Each side is a dense array of sizes, one slot per tick from 0 to 1 (the market's tick is known:
101 slots at 0.01, 1001 at 0.001), with the best level's index tracked: an update is an index
write (plus, when the best level vanishes, one C-speed scan of an occupancy bytearray for the
next), the best price is an attribute, and a sweep walks the grid from the best end. A tick size
change re-grids. Wire order does not matter: the venue sends best LAST, the grid sorts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from math import gcd
from typing import overload

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
    """One side of a book on a dense per-tick grid of integer units.

    ``sizes[i]`` is the size (1e-6 units) at price ``i * step`` (1e-4 units; 0 = no level) and
    ``occupied[i]`` is 1 where there is a level, so the next best level after the best one goes
    is one C-speed ``bytearray.find``/``rfind``. ``top`` is the best level's index (bids -1 and
    asks ``len(sizes)`` when the side is empty, so a new level compares with it untested) and
    ``edge`` its price, or the venue's empty value (0 for bids, ONE for asks). An update is two
    list writes and, when the best level changes, two attribute writes: no object is made.

    ``prices`` (ascending: bids are best at the end, asks at the start) and ``levels``
    (price -> size) are live read-only views of the grid. The step is the market's tick; a
    price off the grid (a tick size change, a book made before its tick was known) re-grids the
    side on the largest step that holds every level.
    """

    __slots__ = (
        "count",
        "edge",
        "empty_edge",
        "is_bid",
        "levels",
        "occupied",
        "prices",
        "sizes",
        "step",
        "top",
    )

    def __init__(self, is_bid: bool, step: int = 100) -> None:
        self.is_bid = is_bid
        self.empty_edge = 0 if is_bid else ONE
        self.prices = PriceView(self)
        self.levels = LevelView(self)
        self._grid(step if step > 0 else 1)

    def _grid(self, step: int) -> None:
        """An empty grid of ``step`` from 0 to ONE."""
        points = ONE // step + 1
        self.step = step
        self.sizes = [0] * points
        self.occupied = bytearray(points)
        self.count = 0
        self.top = -1 if self.is_bid else points
        self.edge = self.empty_edge

    def regrid(self, tick: int) -> None:
        """Put the side on the grid of ``tick``, or of a finer step if a level is off it."""
        step = tick if tick > 0 else self.step
        pairs = list(self.best_first())
        for price, _ in pairs:
            if price % step:
                step = gcd(step, price)
        if step != self.step:
            self._grid(step)
            for price, size in pairs:
                self.set(price, size)

    def set(self, price: int, size: int) -> None:
        """Set the absolute size at a price; 0 removes the level."""
        step = self.step
        i = price // step
        if i * step != price or price < 0 or price > ONE:
            self._off_grid(price)
            step = self.step
            i = price // step
        sizes = self.sizes
        old = sizes[i]
        sizes[i] = size
        if size:
            if not old:
                self.occupied[i] = 1
                self.count += 1
                if (i > self.top) if self.is_bid else (i < self.top):
                    self.top = i
                    self.edge = price
        elif old:
            self.occupied[i] = 0
            self.count -= 1
            if i == self.top:
                if self.is_bid:
                    i = self.occupied.rfind(1, 0, i)  # -1 when none is left
                    self.top = i
                    self.edge = i * step if i >= 0 else 0
                else:
                    i = self.occupied.find(1, i + 1)
                    if i < 0:
                        self.top = len(sizes)
                        self.edge = ONE
                    else:
                        self.top = i
                        self.edge = i * step

    def _off_grid(self, price: int) -> None:
        if price < 0 or price > ONE:
            raise ValueError(f"price {price} outside [0, {ONE}] (1e-4 units)")
        self.regrid(gcd(self.step, price))

    def replace(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Replace every level (a snapshot): pairs in any order, sizes 0 skipped, a later
        duplicate price wins."""
        pairs = list(pairs)
        step = self.step
        points = ONE // step + 1
        sizes = [0] * points
        occupied = bytearray(points)
        count = 0
        for price, size in pairs:
            i = price // step
            if i * step != price or price < 0 or price > ONE:
                # Off the grid: the general path re-grids (rare: a tick not known yet).
                self._grid(step)
                for price, size in pairs:
                    self.set(price, size)
                return
            if size:
                if not sizes[i]:
                    count += 1
                    occupied[i] = 1
            elif sizes[i]:
                count -= 1
                occupied[i] = 0
            sizes[i] = size
        self.sizes = sizes
        self.occupied = occupied
        self.count = count
        if not count:
            self.top = -1 if self.is_bid else points
            self.edge = self.empty_edge
            return
        top = occupied.rfind(1) if self.is_bid else occupied.find(1)
        self.top = top
        self.edge = top * step

    def clear(self) -> None:
        self._grid(self.step)

    def best(self) -> int | None:
        return self.edge if self.count else None

    def best_first(self) -> Iterator[tuple[int, int]]:
        """Yield (price, size) from the best level outwards."""
        if not self.count:
            return
        sizes, occupied, step, i = self.sizes, self.occupied, self.step, self.top
        if self.is_bid:
            while i >= 0:
                yield i * step, sizes[i]
                i = occupied.rfind(1, 0, i)
        else:
            while i >= 0:
                yield i * step, sizes[i]
                i = occupied.find(1, i + 1)

    def depth(self) -> int:
        return sum(self.sizes)

    def __len__(self) -> int:
        return self.count

    def sweep(self, quantity: int, limit: int | None = None) -> Sweep:
        """Walk from the best level taking up to ``quantity`` shares, not beyond ``limit``."""
        if quantity <= 0 or not self.count:
            return EMPTY_SWEEP
        remaining = quantity
        cost = 0
        used = 0
        worst = 0
        sizes, occupied, step, i = self.sizes, self.occupied, self.step, self.top
        is_bid = self.is_bid
        while i >= 0:
            price = i * step
            if limit is not None and (price < limit if is_bid else price > limit):
                break
            size = sizes[i]
            take = size if size < remaining else remaining
            cost += take * price
            used += 1
            worst = price
            remaining -= take
            if not remaining:
                break
            i = occupied.rfind(1, 0, i) if is_bid else occupied.find(1, i + 1)
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


class PriceView(Sequence[int]):
    """A side's prices, ascending, read live from its grid. Its ends (``[0]``, ``[-1]``) cost
    no walk; any other index or slice copies the prices into a list first."""

    __slots__ = ("_side",)

    def __init__(self, side: BookSide) -> None:
        self._side = side

    def __len__(self) -> int:
        return self._side.count

    def __bool__(self) -> bool:
        return self._side.count != 0

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> list[int]: ...

    def __getitem__(self, index: int | slice) -> int | list[int]:
        side = self._side
        if side.count and (index == 0 or index == -1):
            if (index == -1) == side.is_bid:  # the best end
                return side.edge
            occupied = side.occupied
            return side.step * (occupied.find(1) if index == 0 else occupied.rfind(1))
        return list(self)[index]

    def __iter__(self) -> Iterator[int]:
        side = self._side
        occupied, step = side.occupied, side.step
        i = occupied.find(1)
        while i >= 0:
            yield i * step
            i = occupied.find(1, i + 1)

    def __reversed__(self) -> Iterator[int]:
        side = self._side
        occupied, step = side.occupied, side.step
        i = occupied.rfind(1)
        while i >= 0:
            yield i * step
            i = occupied.rfind(1, 0, i)

    def __contains__(self, price: object) -> bool:
        return isinstance(price, int) and price in self._side.levels

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PriceView({list(self)!r})"


class LevelView(Mapping[int, int]):
    """A side's levels, price -> size, read live from its grid (iterated ascending)."""

    __slots__ = ("_side",)

    def __init__(self, side: BookSide) -> None:
        self._side = side

    def __getitem__(self, price: int) -> int:
        side = self._side
        step = side.step
        i = price // step
        if i * step == price and 0 <= price <= ONE:
            size = side.sizes[i]
            if size:
                return size
        raise KeyError(price)

    def __iter__(self) -> Iterator[int]:
        return iter(self._side.prices)

    def __len__(self) -> int:
        return self._side.count

    def __repr__(self) -> str:
        return f"LevelView({dict(self.items())!r})"


class OrderBook:
    """Full-depth book of one token with exchange and receive timestamps."""

    __slots__ = (
        "_tick",
        "asks",
        "bids",
        "hash",
        "last_trade_price",
        "market",
        "stale",
        "token_id",
        "ts_event_ms",
        "ts_recv_ns",
        "ts_snapshot_ns",
    )

    def __init__(self, token_id: str, market: str = "", tick: int = 100) -> None:
        self.token_id = token_id
        self.market = market
        self._tick = tick  # 1e-4 units: 100 = 0.01
        self.bids = BookSide(True, tick)
        self.asks = BookSide(False, tick)
        self.ts_event_ms = 0  # venue timestamp of the last applied message
        self.ts_recv_ns = 0  # local receive time of the last applied message (any kind)
        self.ts_snapshot_ns = 0  # local receive time of the last full snapshot
        self.hash = ""
        self.last_trade_price: int | None = None
        # A book with no snapshot yet, or one invalidated (disconnect, tick size change), is stale:
        # strategies must not trade on it until a fresh snapshot arrives.
        self.stale = True

    @property
    def tick(self) -> int:
        """The tick size (1e-4 units); setting it re-grids both sides."""
        return self._tick

    @tick.setter
    def tick(self, tick: int) -> None:
        self._tick = tick
        self.bids.regrid(tick)
        self.asks.regrid(tick)

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
