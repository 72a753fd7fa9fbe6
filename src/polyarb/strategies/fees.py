"""Exact taker-fee arithmetic on integer book units.

The venue charges takers ``shares x rate x (p x (1 - p)) ** exponent`` per fill (makers nothing),
rounded down to 5 decimals, so a fee under $0.00001 is not charged (``domain.market.round_fee``);
the rate is per market (``Market.fees``). A market whose fee data is missing
(``FeeSchedule.known`` false) gets no fee model: the strategies do not trade it. The seed's
``SUMTO100_FEE_RATE`` override keeps its meaning: a flat USD amount per complete set, replacing
the venue's fees.

Everything here is integer: a cost is counted in ``1/scale`` of a 1e-10 $ unit (the unit of
``price x size`` in ``numbers``), where ``scale`` clears every denominator of the rates involved,
so comparisons along a sweep are exact and cheap. Fees are charged level by level (each level of a
sweep is its own fill at its own price); the planner still reserves one rounding quantum per level
touched (a level can be several fills against several makers), so a new level is only worth taking
when its profit covers that reserve.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from math import lcm

from polyarb.domain.market import FeeSchedule
from polyarb.domain.numbers import COST_SCALE, ONE

FEE_QUANTUM = 10**5  # 1e-5 $ in 1e-10 $ units: the venue's fee precision


def _ratio(value: Decimal) -> tuple[int, int]:
    if not value.is_finite() or value < 0:
        raise ValueError(f"fee rate must be a finite non-negative number (got {value})")
    num, den = value.as_integer_ratio()
    return num, den


class FeeModel:
    """Taker fees of the legs of one trade (one leg per token bought), in scaled integer units.

    ``schedules[i]`` is leg i's market fee schedule; ``flat_per_set`` (USD per complete set)
    replaces them all when given.
    """

    __slots__ = ("_allowance", "_coef", "_exp", "flat_per_unit", "scale")

    def __init__(self, schedules: Sequence[FeeSchedule], flat_per_set: Decimal | None = None):
        legs = len(schedules)
        self.scale: int
        self.flat_per_unit: int  # scaled units per 1e-6 set
        self._coef: tuple[int, ...]
        self._exp: tuple[int, ...]
        if flat_per_set is not None:
            num, den = _ratio(flat_per_set)
            self.scale = den
            self.flat_per_unit = num * ONE  # per 1e-6 set: F x ONE 1e-10 $ units, times scale=den
            self._coef = (0,) * legs
            self._exp = (1,) * legs
        else:
            ratios = [(_ratio(s.rate), s.exponent) for s in schedules]
            for _, exponent in ratios:
                if exponent < 0:
                    raise ValueError(f"fee exponent must be >= 0 (got {exponent})")
            dens = [den * ONE ** (2 * e) for (num, den), e in ratios if num]
            self.scale = lcm(*dens) if dens else 1
            self.flat_per_unit = 0
            # fee (1e-10 $) of q units at P = rate x (P(ONE-P))^e / ONE^(2e) x q x ONE
            self._coef = tuple(
                num * ONE * self.scale // (den * ONE ** (2 * e)) for (num, den), e in ratios
            )
            self._exp = tuple(e for _, e in ratios)
        self._allowance = tuple(FEE_QUANTUM * self.scale if c else 0 for c in self._coef)

    @property
    def legs(self) -> int:
        return len(self._coef)

    def fee_per_unit(self, leg: int, price: int) -> int:
        """Exact venue fee of 1e-6 share of ``leg`` at ``price`` (scaled units)."""
        coef = self._coef[leg]
        if not coef:
            return 0
        return int(coef * (price * (ONE - price)) ** self._exp[leg])

    def unit_cost(self, leg: int, price: int) -> int:
        """Price plus venue fee of 1e-6 share at ``price`` (scaled units)."""
        coef = self._coef[leg]
        if not coef:
            return price * self.scale
        return int(price * self.scale + coef * (price * (ONE - price)) ** self._exp[leg])

    def level_allowance(self, leg: int) -> int:
        """Worst-case rounding of one level's fee (scaled units)."""
        return self._allowance[leg]

    def leg_fee(self, leg: int, slices: Iterable[tuple[int, int]]) -> int:
        """Fee of a sweep's (price, size) slices as the venue charges it: each level a fill,
        its fee rounded down to the venue's 1e-5 $ (a fee under 1e-5 $ is not charged)."""
        coef = self._coef[leg]
        if not coef:
            return 0
        quantum = FEE_QUANTUM * self.scale
        exponent = self._exp[leg]
        total = 0
        for price, size in slices:
            exact = coef * (price * (ONE - price)) ** exponent * size
            total += exact // quantum * quantum
        return int(total)

    def flat_fee(self, sets: int) -> int:
        return self.flat_per_unit * sets

    def to_usd(self, scaled: int) -> Decimal:
        """Scaled units to dollars; exact (every denominator is a product of 2s and 5s)."""
        usd: Decimal = Decimal(scaled) / Decimal(self.scale * COST_SCALE)
        return usd

    def usd_to_scaled_floor(self, usd: Decimal) -> int:
        """Dollars to scaled units, rounded down (for caps)."""
        num, den = usd.as_integer_ratio()
        return int(num * self.scale * COST_SCALE // den)

    def usd_to_scaled_ceil(self, usd: Decimal) -> int:
        """Dollars to scaled units, rounded up (for floors a plan must clear)."""
        num, den = usd.as_integer_ratio()
        return int(-(-num * self.scale * COST_SCALE // den))
