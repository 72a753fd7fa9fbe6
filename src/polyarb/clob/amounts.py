"""Price and size of an order to its maker/taker amounts in base units (1e-6), exactly.

The venue's rules (py-clob-client-v2 ``get_order_amounts``, done here in Decimal): the price on
the market's tick grid, the size to 2 decimals rounded down; a BUY gives price x size USD for
size shares, a SELL gives size shares for price x size USD. A price off the grid is refused,
not rounded: choosing a price is the caller's decision.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from polyarb.domain.book import Side

UNIT = Decimal(1_000_000)  # base units per share or per USD
SIZE_QUANTUM = Decimal("0.01")
# A marketable (FOK/FAK) order: the amount given must fit 2 decimals, the amount received 4.
MARKETABLE_GIVE_QUANTUM = Decimal("0.01")
MARKETABLE_GET_QUANTUM = Decimal("0.0001")
TICKS = frozenset(Decimal(t) for t in ("0.1", "0.01", "0.005", "0.0025", "0.001", "0.0001"))


class AmountError(ValueError):
    """A price or size the venue would refuse."""


def to_units(value: Decimal) -> int:
    units = value * UNIT
    if units != units.to_integral_value():
        raise AmountError(f"{value} is finer than the chain's 1e-6 unit")
    return int(units)


def from_units(units: int) -> Decimal:
    return (Decimal(units) / UNIT).normalize()


def check_price(price: Decimal, tick: Decimal) -> None:
    if tick not in TICKS:
        raise AmountError(f"unknown tick size {tick}")
    if not price.is_finite() or price < tick or price > 1 - tick or price % tick:
        raise AmountError(f"price {price} is not on the {tick} grid within [{tick}, {1 - tick}]")


def limit_amounts(side: Side, price: Decimal, size: Decimal, tick: Decimal) -> tuple[int, int]:
    """(maker_amount, taker_amount) in base units of a limit order of ``size`` at ``price``."""
    check_price(price, tick)
    shares = size.quantize(SIZE_QUANTUM, rounding=ROUND_DOWN)
    if shares <= 0:
        raise AmountError(f"size {size} rounds to nothing")
    usd = shares * price  # on the grid: exact within the tick's amount decimals
    if side == Side.BUY:
        return to_units(usd), to_units(shares)
    return to_units(shares), to_units(usd)


def marketable_size(side: Side, price: Decimal, size: Decimal) -> Decimal:
    """The largest size <= ``size`` (2 decimals) whose FOK/FAK amounts meet the venue's
    precision: a BUY gives USD to 2 decimals, a SELL receives USD to 4 decimals. 0 if none."""
    shares = size.quantize(SIZE_QUANTUM, rounding=ROUND_DOWN)
    quantum = MARKETABLE_GIVE_QUANTUM if side == Side.BUY else MARKETABLE_GET_QUANTUM
    while shares > 0:
        usd = shares * price
        if usd == usd.quantize(quantum, rounding=ROUND_DOWN):
            return shares
        shares -= SIZE_QUANTUM
    return Decimal(0)


def marketable_precision_error(side: Side, maker_amount: int, taker_amount: int) -> str | None:
    """The venue's refusal of a FOK/FAK order whose amounts are too fine, or None."""
    give, get = from_units(maker_amount), from_units(taker_amount)
    side_name = "buy" if side == Side.BUY else "sell"
    if give % MARKETABLE_GIVE_QUANTUM or get % MARKETABLE_GET_QUANTUM:
        return (
            f"invalid amounts, the market {side_name} orders maker amount supports a max "
            "accuracy of 2 decimals, taker amount a max of 4 decimals"
        )
    return None
