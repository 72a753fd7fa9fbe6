"""Markets, outcomes, events and the venue's fee schedule."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

FEE_QUANTUM = Decimal("0.00001")  # the venue's fee precision (USD)


def round_fee(raw: Decimal) -> Decimal:
    """One fill's taker fee as the venue charges it: rounded down to 5 decimals, so a fee under
    $0.00001 is not charged (docs.polymarket.com trading/fees; NautilusTrader's Polymarket
    commission floors the same way)."""
    if raw <= 0:
        return Decimal(0)
    return raw.quantize(FEE_QUANTUM, rounding=ROUND_DOWN)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Taker fee per share = rate x (p x (1 - p)) ** exponent; makers pay nothing (V2).

    ``known`` is false when the market data carried no fee information at all (``UNKNOWN_FEES``):
    such a market is not traded unless a default rate is configured (fail closed, never "free").
    """

    rate: Decimal
    exponent: int = 1
    taker_only: bool = True
    rebate_rate: Decimal = Decimal(0)
    known: bool = True

    def taker_fee_per_share(self, price: Decimal) -> Decimal:
        return self.rate * (price * (1 - price)) ** self.exponent

    def taker_fee(self, price: Decimal, shares: Decimal) -> Decimal:
        return shares * self.taker_fee_per_share(price)


NO_FEES = FeeSchedule(rate=Decimal(0))
_FINAL_PRICES = frozenset({Decimal(0), Decimal("0.5"), Decimal(1)})
PLACEHOLDER_TITLES = frozenset({"other", "others", "another", "none", "tbd", "tba"})
_PLACEHOLDER_RE = re.compile(r"^(person|player|candidate|team|option|outcome)\s+[a-z]{1,2}$")
UNKNOWN_FEES = FeeSchedule(rate=Decimal(0), known=False)


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
    # Gamma ``outcomePrices`` (per outcome) and ``umaResolutionStatus``: a closed market's payout.
    outcome_prices: tuple[Decimal, ...] = ()
    resolution_status: str = ""

    @property
    def payouts(self) -> tuple[Decimal, ...] | None:
        """What one share of each outcome paid, when the market data says it resolved: closed,
        final prices (each 0, 1/2 or 1, summing to 1: a winner or a 50/50 split) and no pending
        UMA status. None while open or when the resolution is unknown."""
        if not self.closed or len(self.outcome_prices) != len(self.outcomes):
            return None
        if self.resolution_status and self.resolution_status.casefold() != "resolved":
            return None
        prices = self.outcome_prices
        if any(p not in _FINAL_PRICES for p in prices) or sum(prices) != 1:
            return None
        return prices

    @property
    def resolved_no(self) -> bool:
        """True when the data says this (Yes/No) market resolved NO: its NO share paid $1."""
        payouts = self.payouts
        no = self.no
        if payouts is None or no is None:
            return False
        return payouts[self.outcomes.index(no)] == 1

    @property
    def is_placeholder(self) -> bool:
        """An outcome of an augmented negRisk event that names no one yet ("Other", "Person
        A"): it may be renamed, or pay for outcomes added later."""
        if self.neg_risk_other:
            return True
        title = self.group_item_title.strip().casefold()
        return title in PLACEHOLDER_TITLES or _PLACEHOLDER_RE.match(title) is not None

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
    # Gamma ``negRiskAugmented``: outcomes can be added later and a placeholder ("Other") may
    # win, so the listed outcomes are never the whole set.
    augmented: bool = False
    # Legs the event data says resolved NO (closed): out of the set, and they cannot win.
    resolved_no: tuple[str, ...] = ()

    @property
    def is_complete_set(self) -> bool:
        """True when exactly one of the listed outcomes must win: not augmented, no
        placeholder or "other", every listed leg open and active.

        An augmented negRisk event can add outcomes later and its "Other" placeholder may resolve
        outside the listed set, so buying YES of every listed outcome is not a sure dollar.
        """
        if not self.neg_risk or self.augmented or len(self.markets) < 2:
            return False
        return all(not m.is_placeholder and not m.closed and m.active for m in self.markets)

    @property
    def is_convertible(self) -> bool:
        """True when NO of every listed outcome can be converted by the negRisk adapter: a
        negRisk event with at least two open, named (non-placeholder) outcomes. Augmented events
        qualify: converting NO of the k named outcomes pays k - 1 and YES of the rest."""
        if not self.neg_risk or len(self.markets) < 2:
            return False
        return all(not m.is_placeholder and not m.closed and m.active for m in self.markets)


def resolve_fees(market: Market, default_rate: Decimal | None) -> Market:
    """``market`` with ``default_rate`` in place of missing fee data (``UNKNOWN_FEES``); unchanged
    when its fees are known or no default is configured (then it stays untradable)."""
    if market.fees.known or default_rate is None:
        return market
    return replace(market, fees=FeeSchedule(rate=default_rate))
