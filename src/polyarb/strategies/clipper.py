"""Clipper: the top-of-book complete set, the best one across the markets evaluated.

Only each book's best ask counts: the size is capped by the smaller top level, the position and
the notional caps; it fires when the net profit per set (fees included: the venue's, or the flat
override per set) is at least ``min_profit``. Unlike the seed, which fired on the first market in
hash order, it picks the largest expected profit among the markets evaluated together, and it
checks staleness, age and crossing like SumTo100.
"""

from __future__ import annotations

from decimal import Decimal

from polyarb.domain.market import Market
from polyarb.strategies.base import NS_PER_MS, ClipperConfig
from polyarb.strategies.complete_set import SetBounds, config_bounds
from polyarb.strategies.fees import FeeModel
from polyarb.strategies.set_strategy import Candidate
from polyarb.strategies.sum_to_100 import BinarySetStrategy


class Clipper(BinarySetStrategy[ClipperConfig]):
    name = "clipper"
    config_type = ClipperConfig
    top_only = True

    def _fee_rate(self) -> Decimal | None:
        return self.config.fee_rate

    def _bounds(self, market: Market, fees: FeeModel) -> SetBounds:
        config = self.config
        return config_bounds(
            fees, config, min_edge=config.min_profit, min_sets=market.min_order_size
        )

    def _select(self, ready: list[Candidate]) -> list[Candidate]:
        if not ready:
            return []
        best = max(ready, key=lambda c: (c.profit, c.edge, c.target.key))
        return [best]

    def _max_age_ns(self) -> int | None:
        return self.config.max_book_age_ms * NS_PER_MS

    def _cooldown_ns(self) -> int:
        return self.config.cooldown_ms * NS_PER_MS
