"""The risk checks, each a pure function of numbers: it returns a ``Denial`` or None."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from polyarb.domain.book import Side
from polyarb.domain.trading import Signal
from polyarb.risk.state import TradingState


@dataclass(frozen=True, slots=True)
class Denial:
    reason: str  # a stable machine name (counted, published)
    detail: str  # for people


def check_shape(signal: Signal) -> Denial | None:
    """A signal must have legs with positive sizes and limit prices in (0, 1]."""
    if not signal.legs:
        return Denial("invalid_signal", "no legs")
    for leg in signal.legs:
        if not leg.size > 0:
            return Denial("invalid_signal", f"leg {leg.token_id}: size {leg.size}")
        if not 0 < leg.limit_price <= 1:
            return Denial("invalid_signal", f"leg {leg.token_id}: limit {leg.limit_price}")
    if signal.fees < 0:
        return Denial("invalid_signal", f"negative fees {signal.fees}")
    return None


def check_state(state: TradingState, reduces_risk: bool, gates: str) -> Denial | None:
    if state is TradingState.HALTED:
        return Denial("halted", gates)
    if state is TradingState.REDUCING and not reduces_risk:
        return Denial("reducing", f"only position-reducing signals are allowed ({gates})")
    return None


def check_daily_loss(daily_pnl: Decimal, max_daily_loss: Decimal) -> Denial | None:
    if daily_pnl <= -max_daily_loss:
        return Denial("daily_loss", f"today's P&L {daily_pnl} reached the limit -{max_daily_loss}")
    return None


def check_rate(recent_orders: int, new_orders: int, max_per_minute: int) -> Denial | None:
    if recent_orders + new_orders > max_per_minute:
        return Denial(
            "rate_limit",
            f"{recent_orders} orders in the last 60 s + {new_orders} > {max_per_minute}",
        )
    return None


def check_notional(spend: Decimal, max_notional: Decimal) -> Denial | None:
    if spend > max_notional:
        return Denial("notional_limit", f"signal spends up to {spend} > {max_notional}")
    return None


def check_inventory(
    sells: Mapping[str, Decimal], held: Mapping[str, Decimal], selling: Mapping[str, Decimal]
) -> Denial | None:
    """Sells must be covered by shares held and not already being sold."""
    for token, size in sells.items():
        free = held.get(token, Decimal(0)) - selling.get(token, Decimal(0))
        if size > free:
            return Denial("insufficient_position", f"sell {size} of {token}, {free} free")
    return None


def check_positions(
    buys: Mapping[str, Decimal],
    held: Mapping[str, Decimal],
    buying: Mapping[str, Decimal],
    max_position: Decimal,
) -> Denial | None:
    """Held + in flight + this signal, per token, within the position limit."""
    for token, size in buys.items():
        total = held.get(token, Decimal(0)) + buying.get(token, Decimal(0)) + size
        if total > max_position:
            return Denial("position_limit", f"{token}: {total} shares > {max_position}")
    return None


def check_exposure(current: Decimal, added: Decimal, max_exposure: Decimal) -> Denial | None:
    if current + added > max_exposure:
        return Denial("exposure_limit", f"exposure {current} + {added} > {max_exposure}")
    return None


def leg_sizes(signal: Signal, side: Side) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for leg in signal.legs:
        if leg.side == side:
            out[leg.token_id] = out.get(leg.token_id, Decimal(0)) + leg.size
    return out


def buy_spend(signal: Signal) -> Decimal:
    """The most a signal can spend: every buy leg at its limit price, plus the expected fees."""
    spend = sum(
        (leg.size * leg.limit_price for leg in signal.legs if leg.side == Side.BUY), Decimal(0)
    )
    return spend + signal.fees
