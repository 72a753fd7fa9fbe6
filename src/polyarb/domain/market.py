"""Markets, outcomes, events and the venue's fee schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Taker fee per share = rate x (p x (1 - p)) ** exponent; makers pay nothing (V2)."""

    rate: Decimal
    exponent: int = 1
    taker_only: bool = True
    rebate_rate: Decimal = Decimal(0)

    def taker_fee_per_share(self, price: Decimal) -> Decimal:
        return self.rate * (price * (1 - price)) ** self.exponent

    def taker_fee(self, price: Decimal, shares: Decimal) -> Decimal:
        return shares * self.taker_fee_per_share(price)


NO_FEES = FeeSchedule(rate=Decimal(0))


@dataclass(frozen=True, slots=True)
class Outcome:
    label: str
    token_id: str


@dataclass(frozen=True, slots=True)
class Market:
    """One CLOB market (a condition): its outcomes with their token ids, paired by label."""

    condition_id: str
    question: str
    slug: str
    outcomes: tuple[Outcome, ...]
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Decimal = Decimal(5)
    neg_risk: bool = False
    event_id: str | None = None  # the parent event: the group a negRisk outcome belongs to
    event_slug: str | None = None
    neg_risk_market_id: str | None = None
    neg_risk_other: bool = False  # the placeholder "Other" outcome of an augmented negRisk event
    group_item_title: str = ""
    end_date: datetime | None = None
    fees: FeeSchedule = NO_FEES
    accepting_orders: bool = True
    active: bool = True
    closed: bool = False
    liquidity: Decimal = Decimal(0)
    volume_24h: Decimal = Decimal(0)
    tags: tuple[str, ...] = ()
    gamma_id: str = ""
    sports_market_type: str = ""
    game_start_time: datetime | None = None
    raw: dict[str, object] = field(default_factory=dict, compare=False, hash=False, repr=False)
    enable_order_book: bool = True  # the CLOB keeps a book for it (Gamma ``enableOrderBook``)

    @property
    def token_ids(self) -> tuple[str, ...]:
        return tuple(o.token_id for o in self.outcomes)

    @property
    def taker_delay_s(self) -> Decimal:
        """The venue's delay on marketable orders, in seconds (Gamma ``secondsDelay``, CLOB
        ``seconds_delay``; set on sports markets in play); 0 when absent or unreadable."""
        raw = self.raw
        value = raw.get("secondsDelay", raw.get("seconds_delay", 0))
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return Decimal(0)
        try:
            delay = Decimal(str(value))
        except ArithmeticError:
            return Decimal(0)
        return delay if delay.is_finite() and delay > 0 else Decimal(0)

    def outcome(self, label: str) -> Outcome | None:
        """Find an outcome by label, case-insensitively."""
        wanted = label.casefold()
        for o in self.outcomes:
            if o.label.casefold() == wanted:
                return o
        return None

    @property
    def is_binary(self) -> bool:
        return len(self.outcomes) == 2

    @property
    def yes(self) -> Outcome | None:
        return self.outcome("Yes")

    @property
    def no(self) -> Outcome | None:
        return self.outcome("No")


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """A Gamma event; for negRisk, mutually exclusive binary markets, one per outcome."""

    event_id: str
    slug: str
    title: str
    neg_risk: bool
    markets: tuple[Market, ...]
    tags: tuple[str, ...] = ()

    @property
    def is_complete_set(self) -> bool:
        """True when exactly one of the listed outcomes must win: no placeholder or "other".

        An augmented negRisk event can add outcomes later and its "Other" placeholder may resolve
        outside the listed set, so buying YES of every listed outcome is not a sure dollar.
        """
        if not self.neg_risk or len(self.markets) < 2:
            return False
        for m in self.markets:
            if m.neg_risk_other or m.closed or not m.active:
                return False
            if m.group_item_title.strip().casefold() in {"other", "others", "another", "none"}:
                return False
        return True
