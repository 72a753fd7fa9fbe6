"""SumTo100: buy YES and NO of one binary market when a complete set costs less than $1.

Depth-aware (the seed's primary strategy, spec in seed_code_study.md 2.1, fixed): the size is the
most profitable Q over both ask ladders that buys no set whose own marginal cost, fees included,
leaves less than ``min_edge``, within the position and notional caps, and whose expected profit
covers the merge transaction plus ``min_profit_usd`` (``complete_set.plan_sets``); both books
must be fresh, not stale and not crossed; the venue's minimums and precision are respected. Both
books are read independently (never NO = 1 - YES), and then required to agree: a binary market
is ONE matching book, so an edge between two views that disagree is a torn view, refreshed and
never traded (set_strategy). On the venue this strategy should therefore almost never trade; it
is the guard that keeps a torn view from being traded as an arbitrage.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from polyarb.domain.market import Market, MarketEvent
from polyarb.strategies.base import NS_PER_MS, SumTo100Config
from polyarb.strategies.complete_set import SetBounds, config_bounds
from polyarb.strategies.fees import FeeModel
from polyarb.strategies.set_strategy import ConfigT, SetStrategy, SetTarget


def is_tradable(market: Market) -> bool:
    return market.active and market.accepting_orders and not market.closed


def is_binary_set(market: Market) -> bool:
    """Two outcomes with distinct tokens: one share of each pays exactly $1."""
    outcomes = market.outcomes
    return (
        len(outcomes) == 2
        and outcomes[0].token_id != outcomes[1].token_id
        and all(o.token_id for o in outcomes)
    )


class BinarySetStrategy(SetStrategy[ConfigT]):
    """A complete set of one binary market (YES + NO), mirrored books: SumTo100 and Clipper.
    A subclass gives the flat fee override and the set's bounds."""

    def watches(self, market: Market) -> bool:
        return is_binary_set(market) and is_tradable(market)

    def _targets(self, markets: Sequence[Market], events: Sequence[MarketEvent]) -> list[SetTarget]:
        targets = []
        for market in markets:
            if not self.watches(market) or not self._fees_known((market,)):
                continue
            fees = FeeModel((market.fees, market.fees), self._fee_rate())
            bounds = self._bounds(market, fees)
            legs = tuple((market, outcome) for outcome in market.outcomes)
            targets.append(SetTarget(market.condition_id, legs, fees, bounds, mirrored=True))
        return targets

    def _fee_rate(self) -> Decimal | None:
        raise NotImplementedError

    def _bounds(self, market: Market, fees: FeeModel) -> SetBounds:
        raise NotImplementedError


class SumTo100(BinarySetStrategy[SumTo100Config]):
    name = "sumto100"
    config_type = SumTo100Config

    def _fee_rate(self) -> Decimal | None:
        return self.config.fee_rate

    def _bounds(self, market: Market, fees: FeeModel) -> SetBounds:
        config = self.config
        return config_bounds(
            fees,
            config,
            min_edge=config.min_edge,
            min_sets=max(config.min_liquidity, market.min_order_size),
        )

    def _max_age_ns(self) -> int | None:
        return self.config.max_book_age_ms * NS_PER_MS

    def _cooldown_ns(self) -> int:
        return self.config.cooldown_ms * NS_PER_MS
