"""Exact fixed-point numbers for prices, sizes and money.

Inside the engine prices are integers in 1e-4 units (the finest venue tick is 0.0001) and sizes
are integers in 1e-6 share units (the chain's base unit). Money computed as price x size is in
1e-10 dollar units (``COST_SCALE``); it is converted to ``Decimal`` at the edges. No binary floats.
The parsers read the wire's decimal strings directly and reject anything finer than the scale,
so a malformed number is an error, never a silent rounding.
"""

from __future__ import annotations

from decimal import Decimal

PRICE_DECIMALS = 4
SIZE_DECIMALS = 6
PRICE_SCALE = 10**PRICE_DECIMALS
SIZE_SCALE = 10**SIZE_DECIMALS
COST_SCALE = PRICE_SCALE * SIZE_SCALE
ONE = PRICE_SCALE  # the price of a sure thing: $1

_price_cache: dict[str, int] = {}


_POW10: tuple[int, ...] = tuple(10**n for n in range(max(PRICE_DECIMALS, SIZE_DECIMALS) + 1))


def _parse_fixed(text: str, decimals: int) -> int:
    """Parse a plain non-negative decimal string into an integer of 10**-decimals units."""
    # Fast paths for the wire's usual shapes (this runs for every level update): ASCII digits,
    # optionally one dot with at most ``decimals`` decimals. ``isdigit`` alone would accept
    # non-ASCII digits, hence ``isascii`` (O(1) on str).
    if text.isdigit() and text.isascii():
        return int(text) * _POW10[decimals]
    whole, _, frac = text.partition(".")
    places = len(frac)
    if places <= decimals and whole.isdigit() and frac.isdigit() and text.isascii():
        return int(whole + frac) * _POW10[decimals - places]
    return _parse_fixed_slow(text, decimals)


def _parse_fixed_slow(text: str, decimals: int) -> int:
    """The general case: also accepts surplus trailing zeros ("0.50000000"), explains errors."""
    whole, dot, frac = text.partition(".")
    if not whole:
        whole = "0"
        if not frac:
            raise ValueError(f"not a number: {text!r}")
    if not text.isascii() or not whole.isdigit() or (dot and frac and not frac.isdigit()):
        raise ValueError(f"not a plain decimal: {text!r}")
    if len(frac) > decimals:
        extra = frac[decimals:]
        if extra.strip("0"):
            raise ValueError(f"more than {decimals} decimals: {text!r}")
        frac = frac[:decimals]
    value: int = int(whole) * 10**decimals + (int(frac.ljust(decimals, "0")) if frac else 0)
    return value


def parse_price(text: str) -> int:
    """Parse a wire price string ("0.52") into 1e-4 units; cached, prices repeat a lot."""
    value = _price_cache.get(text)
    if value is None:
        value = _parse_fixed(text, PRICE_DECIMALS)
        if value > ONE:
            raise ValueError(f"price above 1: {text!r}")
        if len(_price_cache) < 100_000:
            _price_cache[text] = value
    return value


def parse_size(text: str) -> int:
    """Parse a wire size string ("219.217767") into 1e-6 share units."""
    # _parse_fixed's fast paths, inlined: this runs for every level update of the feed.
    if text.isdigit() and text.isascii():
        return int(text) * _POW10[SIZE_DECIMALS]
    whole, _, frac = text.partition(".")
    places = len(frac)
    if places <= SIZE_DECIMALS and whole.isdigit() and frac.isdigit() and text.isascii():
        return int(whole + frac) * _POW10[SIZE_DECIMALS - places]
    return _parse_fixed_slow(text, SIZE_DECIMALS)


def price_to_decimal(price: int) -> Decimal:
    return Decimal(price).scaleb(-PRICE_DECIMALS)


def size_to_decimal(size: int) -> Decimal:
    return Decimal(size).scaleb(-SIZE_DECIMALS)


def cost_to_decimal(cost: int) -> Decimal:
    return Decimal(cost).scaleb(-(PRICE_DECIMALS + SIZE_DECIMALS))


def decimal_to_price(value: Decimal) -> int:
    """Convert an exact Decimal price to 1e-4 units; refuses values off the 1e-4 grid."""
    scaled = value.scaleb(PRICE_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {value} is finer than 1e-{PRICE_DECIMALS}")
    return int(scaled)


def decimal_to_size(value: Decimal) -> int:
    """Convert an exact Decimal size to 1e-6 units; refuses values off the 1e-6 grid."""
    scaled = value.scaleb(SIZE_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"size {value} is finer than 1e-{SIZE_DECIMALS}")
    return int(scaled)


def canonical(value: Decimal) -> str:
    """Render a Decimal without exponent or trailing zeros: 0.50 -> "0.5", 120.250 -> "120.25"."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def price_str(price: int) -> str:
    return canonical(price_to_decimal(price))


def size_str(size: int) -> str:
    return canonical(size_to_decimal(size))
