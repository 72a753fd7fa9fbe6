"""The simulated matching engine: a marketable (FOK/FAK) order against a binary market's ONE
matching book (the first token's; the second token trades at 1 - p on the other side).

``match`` is pure: it returns the fills and the level changes of the first token's book; the
caller applies and announces them. Prices are book units (1e-4), sizes 1e-6 shares.
"""

from __future__ import annotations

from dataclasses import dataclass

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.numbers import ONE


@dataclass(frozen=True, slots=True)
class MatchFill:
    price: int  # in the taker token's terms
    size: int


@dataclass(frozen=True, slots=True)
class Match:
    fills: tuple[MatchFill, ...]
    changes: tuple[tuple[Side, int, int], ...]  # (side, price, new size) of the first book

    @property
    def size(self) -> int:
        return sum(f.size for f in self.fills)


def match(book: OrderBook, *, first: bool, side: Side, limit: int, size: int) -> Match:
    """Walk ``book`` (the first token's) from the best level for a taker of ``size`` shares at
    ``limit`` (both in the taker token's terms; ``first`` = the taker trades the first token).

    Buying the first token lifts its asks; buying the second token (at p) hits the first
    token's bids at 1 - p; selling is the mirror image of each.
    """
    takes_asks = (side == Side.BUY) == first
    levels = book.asks if takes_asks else book.bids
    prices = levels.prices  # ascending; the best ask is the lowest, the best bid the highest
    walk = prices if takes_asks else list(reversed(prices))
    fills: list[MatchFill] = []
    changes: list[tuple[Side, int, int]] = []
    left = size
    for level in walk:
        own = level if first else ONE - level
        if (side == Side.BUY and own > limit) or (side == Side.SELL and own < limit):
            break
        resting = levels.levels[level]
        take = min(resting, left)
        fills.append(MatchFill(own, take))
        changes.append((Side.SELL if takes_asks else Side.BUY, level, resting - take))
        left -= take
        if not left:
            break
    return Match(tuple(fills), tuple(changes))
