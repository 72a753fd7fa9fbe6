"""Sizing a complete set (buy one share of every outcome; exactly one pays $1) on real depth.

The sizing rule is marginal, not average. The marginal cost of one more set is the sum of the
legs' current ask prices plus their per-share fees; asks only get worse and ``p + r p (1 - p)``
rises with p for any r < 1, so it never falls as Q grows. The planner walks the merged ask ladders
once, segment by segment (a segment ends where any leg's level ends), and:

1. takes a segment only while its own net edge (1 - marginal cost, that level's fees included) is
   at least ``min_edge``: a set that costs more than 1 - min_edge is never bought to ride on the
   cheaper sets before it (the seed's average rule did exactly that);
2. reserves one fee rounding quantum per level touched, so a new level is only worth taking when
   its profit covers that reserve;
3. stops at the position cap, the notional cap (chain cost included) and the depth, and keeps the
   size with the largest expected profit among the segment ends walked (profit is linear inside a
   segment, so the optimum on the 0.01 share grid is one of them): O(levels touched);
4. then applies the venue minimums and requires the expected profit to cover the on-chain
   transaction the set needs (merge or redeem, ``chain_cost``) plus ``min_profit``.

Venue rules (polymarket_protocol.md 4.3-4.4): sizes are rounded down to 0.01 share, a
marketable BUY must be worth at least $1 per leg, an order at least ``min_order_size`` shares,
and the limit price (the worst level touched) sits on the tick grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Protocol

from polyarb.domain.book import BookSide, OrderBook, Side
from polyarb.domain.market import Market, Outcome
from polyarb.domain.numbers import (
    COST_SCALE,
    ONE,
    SIZE_SCALE,
    canonical,
    decimal_to_price,
    size_to_decimal,
)
from polyarb.domain.numbers import price_to_decimal as _price
from polyarb.domain.trading import Leg, Signal
from polyarb.strategies.fees import FeeModel

SIZE_STEP = 10_000  # 0.01 share in 1e-6 units: the venue's size precision
MIN_MARKETABLE_COST = COST_SCALE  # $1 in 1e-10 $ units
EDGE_QUANTUM = Decimal("1e-8")
VWAP_QUANTUM = Decimal("1e-8")


def book_problem(book: OrderBook | None, now_ns: int, max_age_ns: int | None) -> str:
    """Empty ("") when the book can be traded on, else why not."""
    if book is None:
        return "no_book"
    if book.stale:
        return "stale"
    if max_age_ns is not None and now_ns - book.ts_recv_ns > max_age_ns:
        return "too_old"
    asks = book.asks.prices
    if not asks:
        return "no_asks"
    bids = book.bids.prices
    if bids and bids[-1] >= asks[0]:
        return "crossed"
    return ""


def size_units(shares: Decimal) -> int:
    """Shares to 1e-6 units, rounded down."""
    return int((shares * SIZE_SCALE).to_integral_value(rounding=ROUND_FLOOR))


def best_sets(
    asks: Sequence[BookSide],
    fees: FeeModel,
    bounds: SetBounds,
    *,
    top_only: bool = False,
    grid: int = SIZE_STEP,
) -> tuple[int, int]:
    """The size Q (1e-6 sets, a multiple of ``grid``) of the most profitable set on the merged
    ask ladders, and that profit (scaled units: Q x $1 less prices, exact fees and one rounding
    reserve per level touched), or (0, 0) when no size makes money.

    Only segments whose own marginal cost per set, fees included, is at most 1 - min_edge are
    taken; the walk stops at the first that is not (marginal costs never fall), at ``max_units``
    or the depth, and where the total cost would pass ``max_cost``. Profit rises linearly inside a
    segment and drops by the reserves where a new level starts, so the best size is the last grid
    point of one of the segments walked: the maximum over those. ``top_only`` limits every leg to
    its best level.
    """
    edge_den = bounds.edge_ratio[1]
    threshold = bounds.threshold
    max_units = bounds.max_units
    max_cost = bounds.max_cost
    payoff = ONE * fees.scale  # what one 1e-6 set pays (scaled units)
    legs = len(asks)
    ladders = [side.best_first() for side in asks]
    prices = [0] * legs
    left = [0] * legs
    marginal = fees.flat_per_unit
    cost = 0
    for i, ladder in enumerate(ladders):
        level = next(ladder, None)
        if level is None:
            return 0, 0
        prices[i], left[i] = level
        marginal += fees.unit_cost(i, level[0])
        cost += fees.level_allowance(i)
    filled = 0  # sets taken at the start of the current segment
    best = 0
    best_profit = 0
    while filled < max_units and edge_den * marginal <= threshold and cost <= max_cost:
        step = min(left)
        end = filled + step
        if end > max_units:
            end = max_units
        if cost + marginal * (end - filled) > max_cost:  # the notional cap ends it here
            end = filled + (max_cost - cost) // marginal
        q = end - end % grid
        if q > filled:
            profit = payoff * q - cost - marginal * (q - filled)
            if profit > best_profit:
                best, best_profit = q, profit
        if end < filled + step:
            break  # a cap ends the walk inside this segment
        cost += marginal * step
        filled += step
        for i in range(legs):
            left[i] -= step
            if left[i]:
                continue
            level = None if top_only else next(ladders[i], None)
            if level is None:
                return best, best_profit
            marginal += fees.unit_cost(i, level[0]) - fees.unit_cost(i, prices[i])
            prices[i], left[i] = level
            cost += fees.level_allowance(i)
    return best, best_profit


@dataclass(frozen=True, slots=True)
class LegFill:
    """One leg of a planned set: what a sweep of ``size`` takes from the asks."""

    slices: tuple[tuple[int, int], ...]  # (price, size) best first
    cost: int  # sum(price x size), 1e-10 $ units
    fee: int  # scaled units (see FeeModel), rounded per level
    worst_price: int


@dataclass(frozen=True, slots=True)
class SetPlan:
    sets: int  # 1e-6 units, multiple of SIZE_STEP
    legs: tuple[LegFill, ...]
    total: int  # scaled units: prices + fees (the chain cost is not in it)
    fees: int  # scaled units
    chain_cost: int = 0  # scaled units: the on-chain transaction the set needs


@dataclass(frozen=True, slots=True)
class SetBounds:
    """A strategy's limits for one set, in the integer units of that set's fee model."""

    edge_ratio: tuple[int, int]  # min marginal edge per set as numerator/denominator
    max_units: int  # 1e-6 sets
    max_cost: int  # scaled units (FeeModel.scale x 1e-10 $), fees included
    min_units: int  # 1e-6 sets: minimum liquidity and the venue's minimum order size
    threshold: int  # edge denominator x the highest marginal cost of one 1e-6 set (scaled units)
    min_profit: int = 0  # scaled units: least expected profit of a plan, chain cost excluded
    chain_cost: int = 0  # scaled units: the on-chain transaction the set needs (merge, redeem)


def make_bounds(
    fees: FeeModel,
    *,
    min_edge: Decimal,
    max_sets: Decimal,
    max_notional: Decimal,
    min_sets: Decimal,
    min_profit: Decimal = Decimal(0),
    chain_cost: Decimal = Decimal(0),
) -> SetBounds:
    edge_num, edge_den = min_edge.as_integer_ratio()
    chain = fees.usd_to_scaled_ceil(chain_cost)
    return SetBounds(
        edge_ratio=(edge_num, edge_den),
        max_units=size_units(max_sets),
        # The notional cap holds the chain transaction too: orders + fees + chain <= max_notional.
        max_cost=max(0, fees.usd_to_scaled_floor(max_notional) - chain),
        min_units=int((min_sets * SIZE_SCALE).to_integral_value(rounding=ROUND_CEILING)),
        threshold=(edge_den - edge_num) * ONE * fees.scale,
        min_profit=fees.usd_to_scaled_ceil(min_profit),
        chain_cost=chain,
    )


class SetLimits(Protocol):
    """The settings every set strategy's bounds take (SumTo100, Clipper, NegRisk, convert)."""

    @property
    def max_position(self) -> Decimal: ...

    @property
    def max_notional(self) -> Decimal: ...

    @property
    def min_profit_usd(self) -> Decimal: ...

    @property
    def chain_tx_cost_usd(self) -> Decimal: ...


def config_bounds(
    fees: FeeModel,
    config: SetLimits,
    *,
    min_edge: Decimal,
    min_sets: Decimal,
    max_sets: Decimal | None = None,
) -> SetBounds:
    """``make_bounds`` from a strategy's settings; ``max_sets`` defaults to its max_position."""
    return make_bounds(
        fees,
        min_edge=min_edge,
        max_sets=config.max_position if max_sets is None else max_sets,
        max_notional=config.max_notional,
        min_profit=config.min_profit_usd,
        chain_cost=config.chain_tx_cost_usd,
        min_sets=min_sets,
    )


def _sweep_asks(side: BookSide, quantity: int) -> tuple[tuple[tuple[int, int], ...], int]:
    """What ``side.take(quantity)`` takes, best first, and its cost (1e-10 $ units), in one walk
    over the ask ladder (no generator: this runs for every leg of every set planned)."""
    if side.is_bid:
        taken = tuple(side.take(quantity))
        return taken, sum(price * size for price, size in taken)
    levels = side.levels
    slices = []
    cost = 0
    remaining = quantity
    for price in side.prices:
        if remaining <= 0:
            break
        size = levels[price]
        if size > remaining:
            size = remaining
        slices.append((price, size))
        cost += price * size
        remaining -= size
    return tuple(slices), cost


def plan_sets(
    asks: Sequence[BookSide], fees: FeeModel, bounds: SetBounds, *, top_only: bool = False
) -> tuple[SetPlan | None, str]:
    """The most profitable executable complete set within ``bounds``, or None and why not.

    The size comes from ``best_sets`` (marginal edge, reserves, caps); then the venue's minimums
    (``min_units``, $1 per leg) and the profit floor: the expected profit, with the rounding
    reserves, must cover ``chain_cost`` plus ``min_profit``. The plan's fees are the venue's
    (each level rounded as the venue rounds a fill), so its total never exceeds the estimate.
    """
    sets, profit = best_sets(asks, fees, bounds, top_only=top_only)
    if sets <= 0:
        return None, "no_edge"
    if sets < bounds.min_units:
        return None, "too_thin"
    legs = []
    fee_total = fees.flat_fee(sets)
    total = fee_total
    for i, side in enumerate(asks):
        slices, cost = _sweep_asks(side, sets)
        if cost < MIN_MARKETABLE_COST:
            return None, "below_venue_minimum"
        fee = fees.leg_fee(i, slices)
        legs.append(LegFill(slices, cost, fee, slices[-1][0]))
        total += cost * fees.scale + fee
        fee_total += fee
    if total > bounds.max_cost:
        return None, "rounding"
    if profit < bounds.chain_cost + bounds.min_profit:
        return None, "below_min_profit"
    return SetPlan(sets, tuple(legs), total, fee_total, bounds.chain_cost), ""


def top_of_book_sets(
    asks: Sequence[BookSide], fees: FeeModel, bounds: SetBounds
) -> tuple[int, int]:
    """A cheap estimate for a market that cannot be traded now (in flight, cooling down): the
    largest set on the best levels alone and its cost with the planner's fee allowance (scaled
    units), or (0, 0) when none clears ``bounds``. The size is a lower bound of ``plan_sets``'s
    and the cost an upper bound of its cost at that size, so the edge is never overstated."""
    # The first segment of ``max_sets`` with ``top_only``, without its ladder walk.
    marginal = fees.flat_per_unit
    allowance = 0
    depth = bounds.max_units
    for i, side in enumerate(asks):
        price = side.prices[0]
        marginal += fees.unit_cost(i, price)
        allowance += fees.level_allowance(i)
        depth = min(depth, side.levels[price])
    if allowance + marginal * depth > bounds.max_cost:
        if bounds.max_cost < allowance:
            return 0, 0
        depth = (bounds.max_cost - allowance) // marginal
    sets = depth - depth % SIZE_STEP
    if sets <= 0 or sets < bounds.min_units:
        return 0, 0
    total = allowance + marginal * sets
    if bounds.edge_ratio[1] * total > bounds.threshold * sets:
        return 0, 0
    return sets, total


def limit_price(worst: int, tick: int) -> int | None:
    """The worst price touched, rounded up to the tick grid; None if outside [tick, 1 - tick]."""
    if tick <= 0:
        return worst
    limit = -(-worst // tick) * tick
    if limit < tick or limit > ONE - tick:
        return None
    return limit


def tick_of(book: OrderBook, market: Market) -> int:
    """The book's tick (kept current by tick_size_change), else the market's."""
    if book.tick > 0:
        return book.tick
    return decimal_to_price(market.tick_size)


def limit_prices(
    plan: SetPlan, books: Sequence[OrderBook], targets: Sequence[tuple[Market, Outcome]]
) -> tuple[int, ...] | None:
    """Each leg's limit (the worst level touched on its tick grid); None if one is invalid."""
    limits = []
    for fill, book, (market, _) in zip(plan.legs, books, targets, strict=True):
        limit = limit_price(fill.worst_price, tick_of(book, market))
        if limit is None:
            return None
        limits.append(limit)
    return tuple(limits)


def build_legs(
    plan: SetPlan, limits: Sequence[int], targets: Sequence[tuple[Market, Outcome]]
) -> tuple[Leg, ...]:
    size = size_to_decimal(plan.sets)
    denominator = Decimal(plan.sets * ONE)
    return tuple(
        Leg(
            token_id=outcome.token_id,
            side=Side.BUY,
            size=size,
            vwap=(Decimal(fill.cost) / denominator).quantize(VWAP_QUANTUM),
            limit_price=_price(limit),
            market=market.condition_id,
            outcome=outcome.label,
        )
        for fill, limit, (market, outcome) in zip(plan.legs, limits, targets, strict=True)
    )


def set_signal(
    *,
    strategy: str,
    key: str,
    legs: tuple[Leg, ...],
    size: Decimal,
    cost: Decimal,
    fees: Decimal,
    edge: Decimal,
    ts_recv_ns: int,
    signal_id: str,
) -> Signal:
    prices = " + ".join(canonical(leg.vwap) for leg in legs)
    reason = f"{prices} + fees: {canonical(cost)} for {canonical(size)} sets"
    return Signal(
        strategy=strategy,
        market=key,
        ts_recv_ns=ts_recv_ns,
        edge=edge,
        size=size,
        legs=legs,
        fees=fees,
        cost=cost,
        kind="complete_set",
        reason=reason,
        signal_id=signal_id,
    )
