"""NegRisk complete sets: buy YES of every outcome of a negRisk event when the set costs < $1.

Exactly one outcome of a complete negRisk event resolves YES, so one YES share of each pays $1.
Only events whose listed outcomes are the whole set qualify (``MarketEvent.is_complete_set``: no
placeholder "Other" of an augmented event, no closed or inactive member). The size is the most
profitable Q whose every set bought costs at most 1 - min_edge at the margin (sum of the legs'
asks there plus fees), covering the redeem transaction plus ``min_profit_usd``
(``complete_set.plan_sets``), so the thinnest outcome bounds it; every
outcome book must be fresh, not stale and not crossed. The market key is the event id.
"""

from __future__ import annotations

from collections.abc import Sequence

from polyarb.domain.market import Market, MarketEvent, Outcome
from polyarb.strategies.base import NS_PER_MS, NegRiskConfig
from polyarb.strategies.complete_set import config_bounds
from polyarb.strategies.fees import FeeModel
from polyarb.strategies.set_strategy import SetStrategy, SetTarget
from polyarb.strategies.sum_to_100 import is_tradable


class NegRisk(SetStrategy[NegRiskConfig]):
    name = "negrisk"
    config_type = NegRiskConfig

    def watches(self, market: Market) -> bool:
        return market.neg_risk and is_tradable(market) and market.yes is not None

    def _targets(self, markets: Sequence[Market], events: Sequence[MarketEvent]) -> list[SetTarget]:
        config = self.config
        targets = []
        for event in events:
            if not event.neg_risk or not event.is_complete_set:
                continue
            legs: list[tuple[Market, Outcome]] = []
            for market in event.markets:
                yes = market.yes
                if yes is None or not self.watches(market):
                    break
                legs.append((market, yes))
            else:
                if len({outcome.token_id for _, outcome in legs}) != len(legs):
                    continue
                if not self._fees_known([market for market, _ in legs]):
                    continue
                fees = FeeModel(tuple(market.fees for market, _ in legs))
                bounds = config_bounds(
                    fees,
                    config,
                    min_edge=config.min_edge,
                    min_sets=max(config.min_liquidity, *(m.min_order_size for m, _ in legs)),
                )
                targets.append(SetTarget(event.event_id, tuple(legs), fees, bounds))
        return targets

    def _max_age_ns(self) -> int | None:
        return self.config.max_book_age_ms * NS_PER_MS

    def _cooldown_ns(self) -> int:
        return self.config.cooldown_ms * NS_PER_MS
