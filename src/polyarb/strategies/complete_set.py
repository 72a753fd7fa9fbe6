"""Sizing a complete set (buy one share of every outcome; exactly one pays $1) on real depth.

For a size Q the cost of a set is the sum over legs of VWAP_i(Q) plus fees, and the edge is
1 - cost(Q). The marginal cost of one more set is the sum of the legs' current ask prices plus
their per-share fees; asks only get worse and ``p + r p (1 - p)`` rises with p for any r < 1, so
the marginal cost never falls and the edge never rises with Q. The planner therefore walks the
merged ask ladders once, segment by segment (a segment ends where any leg's level ends), solves
each segment's linear cost for the largest Q that still clears the edge and notional bounds, and
stops at the first segment whose marginal cost exceeds the threshold: O(levels touched), no
search over sizes. Sizes are kept on the venue's 0.01 share grid throughout, and one fee rounding
quantum is reserved per level touched, so the plan holds exactly once the fees are rounded.

Venue rules (polymarket_protocol.md 4.3-4.4): sizes are rounded down to 0.01 share, a
marketable BUY must be worth at least $1 per leg, an order at least ``min_order_size`` shares,
and the limit price (the worst level touched) sits on the tick grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

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


def max_sets(
    asks: Sequence[BookSide],
    fees: FeeModel,
    *,
    edge_ratio: tuple[int, int],
    max_units: int,
    max_cost: int,
    top_only: bool = False,
    grid: int = SIZE_STEP,
) -> int:
    """Largest Q (1e-6 sets, a multiple of ``grid``) whose cost per set, fees included, is at
    most 1 - min_edge and whose total cost is at most ``max_cost`` (scaled units), within
    ``max_units`` and the depth.

    ``edge_ratio`` is min_edge as (numerator, denominator). ``top_only`` limits every leg to its
    best level. Returns 0 when no positive size qualifies.
    """
    edge_num, edge_den = edge_ratio
    threshold = (edge_den - edge_num) * ONE * fees.scale  # edge_den x max cost per 1e-6 set
    legs = len(asks)
    ladders = [side.best_first() for side in asks]
    prices = [0] * legs
    left = [0] * legs
    marginal = fees.flat_per_unit
    cost = 0
    for i, ladder in enumerate(ladders):
        level = next(ladder, None)
        if level is None:
            return 0
        prices[i], left[i] = level
        marginal += fees.unit_cost(i, level[0])
        cost += fees.level_allowance(i)
    filled = 0  # sets taken at the start of the current segment
    best = 0
    while filled < max_units:
        step = min(left)
        end = min(filled + step, max_units)
        capped = end < filled + step
        if cost + marginal * (end - filled) > max_cost:
            if max_cost < cost:
                break
            end = filled + (max_cost - cost) // marginal
            capped = True
        if edge_den * marginal <= threshold:
            # Average cost falls (or holds) along this segment: its last grid point is the best
            # point in it, if any point in it qualifies.
            q = end - end % grid
            if q > filled and edge_den * (cost + marginal * (q - filled)) <= threshold * q:
                best = q
        else:
            # Average cost rises from here on (every later marginal is at least this one): the
            # bound edge_den x cost(q) <= threshold x q holds up to q_max and never again.
            numerator = edge_den * (marginal * filled - cost)
            if numerator <= 0:
                break
            q_max = numerator // (edge_den * marginal - threshold)
            q = min(end, q_max)
            q -= q % grid
            if q > filled:
                best = q
            if q_max < end:
                break
        if capped:
            break
        cost += marginal * step
        filled += step
        for i in range(legs):
            left[i] -= step
            if left[i]:
                continue
            if top_only:
                return best
            level = next(ladders[i], None)
            if level is None:
                return best
            marginal += fees.unit_cost(i, level[0]) - fees.unit_cost(i, prices[i])
            prices[i], left[i] = level
            cost += fees.level_allowance(i)
    return best


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
    total: int  # scaled units: prices + fees
    fees: int  # scaled units


@dataclass(frozen=True, slots=True)
class SetBounds:
    """A strategy's limits for one set, in the integer units of that set's fee model."""

    edge_ratio: tuple[int, int]  # min edge per set as numerator/denominator
    max_units: int  # 1e-6 sets
    max_cost: int  # scaled units (FeeModel.scale x 1e-10 $), fees included
    min_units: int  # 1e-6 sets: minimum liquidity and the venue's minimum order size
    threshold: int  # edge denominator x the highest cost of one 1e-6 set (scaled units)


def make_bounds(
    fees: FeeModel,
    *,
    min_edge: Decimal,
    max_sets: Decimal,
    max_notional: Decimal,
    min_sets: Decimal,
) -> SetBounds:
    edge_num, edge_den = min_edge.as_integer_ratio()
    return SetBounds(
        edge_ratio=(edge_num, edge_den),
        max_units=size_units(max_sets),
        max_cost=fees.usd_to_scaled_floor(max_notional),
        min_units=int((min_sets * SIZE_SCALE).to_integral_value(rounding=ROUND_CEILING)),
        threshold=(edge_den - edge_num) * ONE * fees.scale,
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
    """The largest executable complete set within ``bounds``, or None and why not."""
    best = max_sets(
        asks,
        fees,
        edge_ratio=bounds.edge_ratio,
        max_units=bounds.max_units,
        max_cost=bounds.max_cost,
        top_only=top_only,
    )
    if best <= 0:
        return None, "no_edge"
    sets = best
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
    edge_num, edge_den = bounds.edge_ratio
    if edge_den * total > (edge_den - edge_num) * ONE * fees.scale * sets:
        return None, "rounding"  # the 0.01 share grid or fee rounding ate the last of the edge
    if total > bounds.max_cost:
        return None, "rounding"
    return SetPlan(sets, tuple(legs), total, fee_total), ""


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
