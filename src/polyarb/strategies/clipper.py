"""Clipper: the top-of-book complete set, the best one across the markets evaluated.

Only each book's best ask counts: the size is capped by the smaller top level, the position and
the notional caps; it fires when the net profit per set (fees included: the venue's, or the flat
override per set) is at least ``min_profit``. Unlike the seed, which fired on the first market in
hash order, it picks the largest expected profit among the markets evaluated together, and it
checks staleness, age and crossing like SumTo100.
"""

from __future__ import annotations

from collections.abc import Sequence

from polyarb.domain.market import Market, MarketEvent
from polyarb.strategies.base import NS_PER_MS, ClipperConfig
from polyarb.strategies.complete_set import config_bounds
from polyarb.strategies.fees import FeeModel
from polyarb.strategies.set_strategy import Candidate, SetStrategy, SetTarget
from polyarb.strategies.sum_to_100 import is_binary_set, is_tradable


class Clipper(SetStrategy[ClipperConfig]):
    name = "clipper"
    config_type = ClipperConfig
    top_only = True

    def watches(self, market: Market) -> bool:
        return is_binary_set(market) and is_tradable(market)

    def _targets(self, markets: Sequence[Market], events: Sequence[MarketEvent]) -> list[SetTarget]:
        config = self.config
        targets = []
        for market in markets:
            if not self.watches(market) or not self._fees_known((market,)):
                continue
            fees = FeeModel((market.fees, market.fees), config.fee_rate)
            bounds = config_bounds(
                fees, config, min_edge=config.min_profit, min_sets=market.min_order_size
            )
            legs = tuple((market, outcome) for outcome in market.outcomes)
            targets.append(SetTarget(market.condition_id, legs, fees, bounds, mirrored=True))
        return targets

    def _select(self, ready: list[Candidate]) -> list[Candidate]:
        if not ready:
            return []
        best = max(ready, key=lambda c: (c.profit, c.edge, c.target.key))
        return [best]

    def _max_age_ns(self) -> int | None:
        return self.config.max_book_age_ms * NS_PER_MS

    def _cooldown_ns(self) -> int:
        return self.config.cooldown_ms * NS_PER_MS
