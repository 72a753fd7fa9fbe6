"""A random walk of one matching book: makers add, resize and cancel levels around a drifting fair
price, so the touch follows the fair value and depth churns like a real book.

The walk edits the book it is given (the market's first token, whose book *is* the matching book)
and returns the changes it made, as absolute level sizes; the caller announces them. Prices stay on
the tick grid inside [tick, 1 - tick], sizes have at most two decimals, and the book is never
crossed. ``bid_cap``/``ask_floor`` fence the walk off price ranges an arbitrage window owns.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from polyarb.domain.book import BookSide, OrderBook, Side
from polyarb.domain.numbers import ONE

SHARE = 1_000_000  # one share in 1e-6 units
CENT_OF_SHARE = 10_000


@dataclass(slots=True)
class WalkState:
    """Per-market walk parameters. ``fair``/``anchor`` are in 1e-4 price units; they are model
    parameters of the generator, not money, so plain floats are fine here."""

    fair: float
    anchor: float
    tick: int
    levels: int
    sigma: float = 0.25  # fair-value noise per event, in grid steps
    reversion: float = 0.02  # pull of the fair value back to the anchor, per event

    @property
    def step(self) -> int:
        """Typical distance between levels: a cent, or a few fine ticks on 0.001 grids."""
        return self.tick * max(1, 50 // self.tick) if self.tick < 100 else self.tick

    def drift(self, rng: random.Random) -> None:
        self.fair += rng.gauss(0.0, self.sigma * self.step) + self.reversion * (
            self.anchor - self.fair
        )
        low, high = 2 * self.tick, ONE - 2 * self.tick
        self.fair = min(high, max(low, self.fair))


def fresh_size(rng: random.Random) -> int:
    """A maker's order size: lognormal around ~150 shares, whole shares half of the time."""
    shares = rng.lognormvariate(5.0, 1.1)
    if rng.random() < 0.5:
        return max(1, round(shares)) * SHARE
    return max(100, round(shares * 100)) * CENT_OF_SHARE


def _floor_grid(price: float, tick: int) -> int:
    return math.floor(price / tick) * tick


def _ceil_grid(price: float, tick: int) -> int:
    return math.ceil(price / tick) * tick


def initial_levels(
    state: WalkState, rng: random.Random
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(bids, asks) of a fresh book around the fair price, ``levels`` per side when room allows."""
    tick, step = state.tick, state.step
    half = step * rng.uniform(0.5, 1.5)
    bid = min(_floor_grid(state.fair - half, tick), ONE - 2 * tick)
    ask = max(_ceil_grid(state.fair + half, tick), bid + tick)
    bids: list[tuple[int, int]] = []
    asks: list[tuple[int, int]] = []
    price = bid
    while len(bids) < state.levels and price >= tick:
        bids.append((price, fresh_size(rng)))
        price -= tick * rng.randint(1, max(1, 2 * step // tick))
    price = ask
    while len(asks) < state.levels and price <= ONE - tick:
        asks.append((price, fresh_size(rng)))
        price += tick * rng.randint(1, max(1, 2 * step // tick))
    return bids, asks


def _nth_best(side: BookSide, n: int) -> int:
    prices = side.prices
    return prices[-1 - n] if side.is_bid else prices[n]


def random_change(
    book: OrderBook,
    state: WalkState,
    rng: random.Random,
    *,
    bid_cap: int = ONE + 1,
    ask_floor: int = -1,
) -> tuple[Side, int, int] | None:
    """Make one maker action on ``book`` and return it as (side, price, new size); None when the
    drawn action is not allowed (out of the fenced range, no room)."""
    tick = state.tick
    is_bid = rng.random() < 0.5
    side = book.bids if is_bid else book.asks
    other_best = book.asks.best() if is_bid else book.bids.best()
    # Allowed prices for this side: never crossing the other side, never inside a fence.
    if is_bid:
        low, high = tick, min(ONE if other_best is None else other_best, bid_cap) - tick
    else:
        low, high = max(0 if other_best is None else other_best, ask_floor) + tick, ONE - tick
    count = len(side)
    min_levels, max_levels = max(2, state.levels // 2), state.levels + state.levels // 2
    action = rng.random()
    # Cancels grow with the level count, adds are the rest: the count hovers around ``levels``.
    cancel = 0.22 * count / state.levels
    if count and (count > max_levels or (action < cancel and count > min_levels)):
        best = side.prices[-1] if is_bid else side.prices[0]
        through = best > state.fair if is_bid else best < state.fair
        if through and rng.random() < 0.8:
            price = best  # the fair value moved past this level: it gets taken or pulled
        else:
            price = _nth_best(side, count - 1 - min(count - 1, int(rng.expovariate(0.5))))
        size = 0
    elif count and action < cancel + 0.3:
        price = _nth_best(side, min(count - 1, int(rng.expovariate(0.35))))
        cents = max(100, round(side.levels[price] / CENT_OF_SHARE * rng.uniform(0.3, 1.8)))
        size = cents * CENT_OF_SHARE
    else:
        half = state.step * rng.uniform(0.5, 1.2)
        depth_ticks = 0.6 * state.levels * state.step / tick  # spread adds over the whole book
        offset = tick * int(rng.expovariate(1.0 / depth_ticks))
        if is_bid:
            price = _floor_grid(state.fair - half, tick) - offset
        else:
            price = _ceil_grid(state.fair + half, tick) + offset
        price = min(high, max(low, price))
        size = fresh_size(rng)
    if not low <= price <= high or size == side.levels.get(price, 0):
        return None
    side.set(price, size)
    return (Side.BUY if is_bid else Side.SELL), price, size
