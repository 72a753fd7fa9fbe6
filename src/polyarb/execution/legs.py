"""Leg risk: what to do when the legs of a complete set did not fill alike.

The shares that do not form complete sets are orphans: unhedged inventory. They are never
forgotten: they stay in the ledger and in the report, and the configured policy acts on them:

- ``unwind``: sell the orphans back into the bids (FAK) with a price floor chosen so the loss of
  the unwind stays within ``max_loss``; what cannot be sold above the floor stays an orphan.
- ``complete``: buy the missing legs (FAK) up to a price cap chosen so that completing the sets
  loses at most ``max_loss``; whatever is still unbalanced afterwards is unwound with the rest
  of the budget (a completion that is impossible within the cap falls back to unwind at once).
- ``hold``: keep the orphans (the caller alerts).

Loss is measured on this signal's own inventory with orphans valued at their cost: the P&L given
up relative to stopping with the sets the legs formed. Caps are computed before the orders are
sent, from the worst fee per share any fill at or beyond the limit can pay, minus a small reserve
for the venue's per-fill fee rounding, so the realized loss stays within the cap whatever the
book does during the order's latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Protocol

import structlog

from polyarb.domain.book import Side
from polyarb.domain.market import FeeSchedule
from polyarb.domain.trading import Fill, Leg, Order, Signal
from polyarb.execution.base import (
    ZERO,
    ExecutionReport,
    LegPolicy,
    LegRiskReport,
    Orphan,
    round_size_down,
)

log = structlog.get_logger(__name__)

_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)
_REPORT_QUANTUM = Decimal("1e-10")
_QUARTER = Decimal("0.25")
# Each fill's fee is rounded down to 1e-5 (``domain.market.round_fee``), so the exact fee bounds
# it; $0.001 per order stays reserved as a margin (it covered half-up rounding of 100 fills).
FEE_ROUNDING_RESERVE = Decimal("0.001")

PlaceOrder = Callable[[str, Side, Decimal, Decimal], Awaitable[tuple[Order, list[Fill]]]]
"""Send one FAK order (token, side, size, limit price); return it in its final state + fills."""
AlertCallback = Callable[[LegRiskReport], None]


def buys_a_complete_set(signal: Signal) -> bool:
    """Leg risk (and merging) apply to complete sets bought leg by leg."""
    return (
        signal.kind == "complete_set"
        and len(signal.legs) > 1
        and all(leg.side == Side.BUY for leg in signal.legs)
    )


def leg_risk_signal(
    signal: Signal, signal_id: str, leg: Leg, client_id: str, fees: Decimal
) -> Signal:
    """How risk sees one leg-risk order (of ``signal``): a completion (BUY) or an unwind (SELL),
    checked as a reducing order under its own id."""
    return Signal(
        strategy=signal.strategy,
        market=signal.market,
        ts_recv_ns=signal.ts_recv_ns,
        edge=ZERO,
        size=leg.size,
        legs=(leg,),
        fees=fees,
        kind="leg_completion" if leg.side == Side.BUY else "unwind",
        reason=f"leg risk of {signal_id}",
        signal_id=f"{signal_id}-{client_id}",
    )


def alert_leg_risk(report: LegRiskReport, on_alert: AlertCallback | None) -> None:
    """Log what leg-risk handling did and tell the engine (error event, alert); never raises."""
    log.warning(
        "leg risk",
        signal_id=report.signal_id,
        strategy=report.strategy,
        policy=report.policy,
        actions=",".join(report.actions),
        loss=str(report.loss),
        detected=[(o.token_id, str(o.shares)) for o in report.detected],
        remaining=[(o.token_id, str(o.shares)) for o in report.remaining],
    )
    if on_alert is None:
        return
    try:
        on_alert(report)
    except Exception:
        log.exception("leg-risk alert callback failed", signal_id=report.signal_id)


@dataclass(slots=True)
class _Holding:
    market: str
    shares: Decimal = ZERO
    cost: Decimal = ZERO


class LegPool:
    """One signal's inventory per leg token (shares, cost with fees) and its realized P&L."""

    def __init__(self, token_markets: Sequence[tuple[str, str]]) -> None:
        self._legs: dict[str, _Holding] = {t: _Holding(m) for t, m in token_markets}
        self.realized = ZERO

    @classmethod
    def of(cls, token_markets: Sequence[tuple[str, str]], fills: Sequence[Fill]) -> LegPool:
        pool = cls(token_markets)
        for fill in fills:
            pool.add(fill)
        return pool

    def add(self, fill: Fill) -> None:
        leg = self._legs.get(fill.token_id)
        if leg is None:
            return
        if fill.side == Side.BUY:
            leg.shares += fill.size
            leg.cost += fill.price * fill.size + fill.fee
            return
        size = min(fill.size, leg.shares)
        removed = leg.cost if size == leg.shares else _share_of(leg.cost, size, leg.shares)
        leg.shares -= size
        leg.cost -= removed
        self.realized += fill.price * fill.size - fill.fee - removed

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(self._legs)

    def shares(self, token_id: str) -> Decimal:
        return self._legs[token_id].shares

    def avg_cost(self, token_id: str) -> Decimal:
        leg = self._legs[token_id]
        return _CTX.divide(leg.cost, leg.shares) if leg.shares else ZERO

    def sets(self) -> Decimal:
        return min((leg.shares for leg in self._legs.values()), default=ZERO)

    def pnl(self) -> Decimal:
        """Realized + the sets' value ($1 each) - their cost; orphans count at cost (0 P&L)."""
        sets = self.sets()
        cost = sum(
            (_share_of(leg.cost, sets, leg.shares) for leg in self._legs.values() if leg.shares),
            ZERO,
        )
        return self.realized + sets - cost

    def orphans(self) -> tuple[Orphan, ...]:
        sets = self.sets()
        out = []
        for token_id, leg in self._legs.items():
            excess = leg.shares - sets
            if excess > 0:
                avg = self.avg_cost(token_id).quantize(_REPORT_QUANTUM, context=_CTX)
                out.append(Orphan(token_id, leg.market, excess, avg))
        return tuple(out)


def _share_of(cost: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    return _CTX.divide(_CTX.multiply(cost, part), whole)


def _worst_fee_at_or_above(fees: FeeSchedule, price: Decimal) -> Decimal:
    """The highest fee per share of a fill at any price >= ``price`` (a SELL with that floor)."""
    curve = _QUARTER if price <= _QUARTER * 2 else price * (1 - price)
    return fees.rate * curve**fees.exponent


def _worst_fee_at_or_below(fees: FeeSchedule, price: Decimal) -> Decimal:
    """The highest fee per share of a fill at any price <= ``price`` (a BUY with that cap)."""
    curve = _QUARTER if price >= _QUARTER * 2 else price * (1 - price)
    return fees.rate * curve**fees.exponent


def _reserve(fees: FeeSchedule) -> Decimal:
    return FEE_ROUNDING_RESERVE if fees.rate else ZERO


def unwind_floor(
    shares: Decimal, avg_cost: Decimal, budget: Decimal, fees: FeeSchedule, tick: Decimal
) -> Decimal | None:
    """The lowest tick-grid price at which selling ``shares`` loses at most ``budget``.

    Loss at floor p is bounded by shares x (avg_cost - p + worst fee at or above p), which falls
    as p rises; None when even 1 - tick would lose more.
    """
    budget -= _reserve(fees)
    steps = int(1 / tick)

    def within(k: int) -> bool:
        p = tick * k
        return shares * (avg_cost - p + _worst_fee_at_or_above(fees, p)) <= budget

    if shares <= 0 or steps < 2 or not within(steps - 1):
        return None
    lo, hi = 1, steps - 1  # find the smallest k in [lo, hi] that is within the budget
    while lo < hi:
        mid = (lo + hi) // 2
        if within(mid):
            hi = mid
        else:
            lo = mid + 1
    return tick * lo


def completion_cap(
    shares: Decimal, budget: Decimal, fees: FeeSchedule, tick: Decimal
) -> Decimal | None:
    """The highest tick-grid price at which buying ``shares`` costs at most ``budget``.

    Cost at cap p is bounded by shares x (p + worst fee at or below p), which rises with p;
    None when even one tick costs more.
    """
    budget -= _reserve(fees)
    steps = int(1 / tick)

    def within(k: int) -> bool:
        p = tick * k
        return shares * (p + _worst_fee_at_or_below(fees, p)) <= budget

    if shares <= 0 or steps < 2 or not within(1):
        return None
    lo, hi = 1, steps - 1  # find the largest k in [lo, hi] that is within the budget
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if within(mid):
            lo = mid
        else:
            hi = mid - 1
    return tick * lo


def completion_orders(
    pool: LegPool,
    max_loss: Decimal,
    fees_of: Callable[[str], FeeSchedule],
    tick_of: Callable[[str], Decimal],
) -> list[tuple[str, Side, Decimal, Decimal]]:
    """BUY orders bringing every leg up to the fullest one, capped so the loss <= ``max_loss``.

    Completing to F sets from m loses completion cost + cost of the orphan shares absorbed into
    the new sets - (F - m) dollars; the money allowed for buying is split across the missing legs
    in proportion to the shares each needs. Empty when completion cannot stay within the cap.
    """
    sets = pool.sets()
    fullest = max((pool.shares(t) for t in pool.tokens), default=ZERO)
    needs = {t: round_size_down(fullest - pool.shares(t)) for t in pool.tokens}
    target = min(pool.shares(t) + needs[t] for t in pool.tokens)
    if target <= sets:
        return []
    absorbed = sum(
        ((min(pool.shares(t), target) - sets) * pool.avg_cost(t) for t in pool.tokens),
        ZERO,
    )
    spend = (target - sets) + max_loss - absorbed
    total_need = sum(needs.values(), ZERO)
    orders = []
    for token_id, need in needs.items():
        if need <= 0:
            continue
        budget = _CTX.divide(_CTX.multiply(spend, need), total_need)
        cap = completion_cap(need, budget, fees_of(token_id), tick_of(token_id))
        if cap is None:
            return []
        orders.append((token_id, Side.BUY, need, cap))
    return orders


def unwind_orders(
    pool: LegPool,
    budget: Decimal,
    fees_of: Callable[[str], FeeSchedule],
    tick_of: Callable[[str], Decimal],
) -> list[tuple[str, Side, Decimal, Decimal]]:
    """SELL orders for every orphan (venue-sized), floors splitting ``budget`` by orphan cost."""
    plans = []
    for orphan in pool.orphans():
        qty = round_size_down(orphan.shares)
        if qty > 0:
            plans.append((orphan.token_id, qty, pool.avg_cost(orphan.token_id)))
    total_cost = sum((qty * avg for _, qty, avg in plans), ZERO)
    orders = []
    for token_id, qty, avg in plans:
        if total_cost > 0:
            share = _CTX.divide(_CTX.multiply(budget, qty * avg), total_cost)
        else:
            share = _CTX.divide(budget, Decimal(len(plans)))
        floor = unwind_floor(qty, avg, share, fees_of(token_id), tick_of(token_id))
        if floor is not None:
            orders.append((token_id, Side.SELL, qty, floor))
    return orders


async def handle_leg_risk(
    pool: LegPool,
    *,
    policy: LegPolicy,
    max_loss: Decimal,
    place: PlaceOrder,
    fees_of: Callable[[str], FeeSchedule],
    tick_of: Callable[[str], Decimal],
    signal_id: str,
    strategy: str,
) -> tuple[LegRiskReport, list[Order], list[Fill]]:
    """Apply ``policy`` to the orphans of ``pool``; orders go out concurrently via ``place``."""
    detected = pool.orphans()
    start_pnl = pool.pnl()
    actions: list[str] = []
    notes: list[str] = []
    orders: list[Order] = []
    fills: list[Fill] = []

    async def send(requests: list[tuple[str, Side, Decimal, Decimal]]) -> None:
        results = await asyncio.gather(*(place(*request) for request in requests))
        for order, order_fills in results:
            orders.append(order)
            fills.extend(order_fills)
            for fill in order_fills:
                pool.add(fill)

    if policy == "hold":
        actions.append("hold")
    else:
        if policy == "complete":
            actions.append("complete")
            requests = completion_orders(pool, max_loss, fees_of, tick_of)
            if requests:
                await send(requests)
            else:
                notes.append("completion impossible within the loss cap")
        if pool.orphans():
            actions.append("unwind")
            budget = max_loss - (start_pnl - pool.pnl())
            requests = unwind_orders(pool, budget, fees_of, tick_of)
            if requests:
                await send(requests)
            else:
                notes.append("no unwind possible within the loss cap")
    remaining = pool.orphans()
    if remaining:
        notes.append(
            "orphans remain: " + ", ".join(f"{o.shares} of {o.token_id}" for o in remaining)
        )
    loss = (start_pnl - pool.pnl()).quantize(_REPORT_QUANTUM, context=_CTX)
    report = LegRiskReport(
        signal_id=signal_id,
        strategy=strategy,
        policy=policy,
        detected=detected,
        remaining=remaining,
        actions=tuple(actions),
        loss=loss,
        max_loss=max_loss,
        order_ids=tuple(o.client_id for o in orders),
        detail="; ".join(notes),
    )
    return report, orders, fills


class LegRules(Protocol):
    """The settings a policy runs under (``PaperConfig``, ``LiveConfig``)."""

    @property
    def leg_policy(self) -> LegPolicy: ...

    @property
    def leg_max_loss(self) -> Decimal: ...


async def act_on_orphans(
    report: ExecutionReport,
    pool: LegPool,
    rules: LegRules,
    place: PlaceOrder,
    venue: tuple[Callable[[str], FeeSchedule], Callable[[str], Decimal]],
    on_alert: AlertCallback | None,
) -> None:
    """``handle_leg_risk`` for an execution (paper or live) under ``rules``, with ``venue``
    the fee schedule and tick of a token: its orders and fills join ``report``, its
    ``LegRiskReport`` too, and the engine is told (``alert_leg_risk``)."""
    fees_of, tick_of = venue
    leg_report, orders, fills = await handle_leg_risk(
        pool,
        policy=rules.leg_policy,
        max_loss=rules.leg_max_loss,
        place=place,
        fees_of=fees_of,
        tick_of=tick_of,
        signal_id=report.signal_id,
        strategy=report.strategy,
    )
    report.orders.extend(orders)
    report.fills.extend(fills)
    report.leg_risk = leg_report
    alert_leg_risk(leg_report, on_alert)
