"""negRisk conversion: buy NO of every outcome of an event for less than n - 1, convert the set.

The negRisk adapter's ``convertPositions(marketId, indexSet, amount)`` burns ``amount`` NO shares
of each outcome in ``indexSet`` and returns ``amount x (k - 1)`` of collateral (k outcomes in the
set) plus YES of every outcome of the event outside it. NO of the n listed outcomes of an event
therefore turns into n - 1 dollars a set at once, whatever resolves: buying the NO set for less
than n - 1 (fees included) is an arbitrage that needs no resolution (unlike a YES set, which is
locked until the event resolves). It holds for augmented events too: converting NO of the k named
outcomes pays k - 1 and YES of the placeholders, valued here at nothing.

Sizing is the complete-set planner's (``plan_sets``, depth-aware VWAP, per-level fees) on the NO
asks: one set pays n - 1 instead of 1, which the planner sees as a credit of n - 2 dollars a set
(``ConversionFees``), so its edge per set is (n - 1) - sum_i VWAP_no_i - fees, the same rule as
the other set strategies. ``NEGRISK_CONVERT_MAX_NOTIONAL`` bounds what the NO set costs (sets are
capped at max_notional / (n - 1)). The paper executor converts the filled sets (an unlocked merge
of n tokens in the ledger: ``Merge.collateral_per_set`` = n - 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

from polyarb.domain.book import OrderBook
from polyarb.domain.market import FeeSchedule, Market, MarketEvent, Outcome
from polyarb.domain.numbers import ONE, canonical
from polyarb.domain.trading import Signal
from polyarb.strategies.base import NS_PER_MS, MarketView, NegRiskConvertConfig
from polyarb.strategies.complete_set import config_bounds
from polyarb.strategies.fees import FeeModel
from polyarb.strategies.set_strategy import Candidate, SetStrategy, SetTarget
from polyarb.strategies.sum_to_100 import is_tradable


class ConversionFees(FeeModel):
    """The NO legs' venue fees, with a conversion's extra collateral as a negative flat fee.

    A set of n NO shares converts into n - 1 dollars: n - 2 more than the $1 a set the planner
    assumes, so ``flat_per_unit`` is -(n - 2) dollars a set and ``extra_per_set`` keeps n - 2.
    """

    __slots__ = ("extra_per_set",)

    def __init__(self, schedules: Sequence[FeeSchedule], extra_per_set: int) -> None:
        super().__init__(schedules)
        self.extra_per_set = extra_per_set
        self.flat_per_unit = -extra_per_set * ONE * self.scale


class NegRiskConvert(SetStrategy[NegRiskConvertConfig]):
    name = "neg_risk_convert"
    config_type = NegRiskConvertConfig

    def watches(self, market: Market) -> bool:
        return market.neg_risk and is_tradable(market) and market.no is not None

    def _targets(self, markets: Sequence[Market], events: Sequence[MarketEvent]) -> list[SetTarget]:
        config = self.config
        targets = []
        for event in events:
            if not event.is_convertible:
                continue
            legs: list[tuple[Market, Outcome]] = []
            for market in event.markets:
                no = market.no
                if no is None or not self.watches(market):
                    break
                legs.append((market, no))
            else:
                if len({outcome.token_id for _, outcome in legs}) != len(legs):
                    continue
                n = len(legs)
                fees = ConversionFees(tuple(m.fees for m, _ in legs), extra_per_set=n - 2)
                # What a set costs is below n - 1 whenever it is traded: this many sets never
                # cost more than max_notional.
                by_notional = (config.max_notional / (n - 1)).quantize(
                    Decimal("0.01"), rounding=ROUND_FLOOR
                )
                bounds = config_bounds(
                    fees,
                    config,
                    min_edge=config.min_edge,
                    max_sets=min(config.max_position, by_notional),
                    min_sets=max(config.min_liquidity, *(m.min_order_size for m, _ in legs)),
                )
                # The edge cap is relative to what a set pays (n - 1 dollars), as for a YES set.
                targets.append(SetTarget(event.event_id, tuple(legs), fees, bounds, payout=n - 1))
        return targets

    def _fresh_books(
        self, view: MarketView, target: SetTarget, oldest_ns: int
    ) -> list[OrderBook] | None:
        books = super()._fresh_books(view, target, oldest_ns)
        if books is None:
            return None
        # NO asks summing to n - 2 or less are not a market (a set would cost nothing after the
        # credit): refuse rather than size (or estimate a held-back sighting) on them.
        fees = target.fees
        marginal = fees.flat_per_unit
        for i, book in enumerate(books):
            marginal += fees.unit_cost(i, book.asks.prices[0])
        if marginal <= 0:
            self._count("implausible")
            return None
        return books

    def _signal(self, candidate: Candidate, ts_recv_ns: int, signal_id: str) -> Signal:
        """The set's cost is what the NO shares cost (fees included), its fees the venue's."""
        signal = super()._signal(candidate, ts_recv_ns, signal_id)
        fees = candidate.target.fees
        assert isinstance(fees, ConversionFees)
        extra = fees.extra_per_set
        cost = candidate.cost + extra * candidate.size
        venue_fees = fees.to_usd(candidate.plan.fees - fees.flat_fee(candidate.plan.sets))
        prices = " + ".join(canonical(leg.vwap) for leg in signal.legs)
        collateral = (extra + 1) * candidate.size
        reason = (
            f"NO {prices} + fees: {canonical(cost)} for {canonical(candidate.size)} sets, "
            f"converted into {canonical(collateral)}"
        )
        return dataclasses.replace(signal, cost=cost, fees=venue_fees, reason=reason)

    def _max_age_ns(self) -> int | None:
        return self.config.max_book_age_ms * NS_PER_MS

    def _cooldown_ns(self) -> int:
        return self.config.cooldown_ms * NS_PER_MS
