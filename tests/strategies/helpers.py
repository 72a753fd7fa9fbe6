"""Hand-built markets and books for the strategy tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.market import NO_FEES, FeeSchedule, Market, MarketEvent, Outcome
from polyarb.domain.numbers import decimal_to_price, parse_price, parse_size

NOW = 1_780_000_000 * 1_000_000_000  # a fixed "now" (ns); books are fresh at NOW by default
MS = 1_000_000

Levels = Sequence[tuple[str, str]]  # (price, size) as strings


def make_book(
    token: str,
    asks: Levels = (),
    bids: Levels = (),
    *,
    ts: int = NOW,
    tick: str = "0.01",
    market: str = "",
) -> OrderBook:
    book = OrderBook(token, market, tick=decimal_to_price(Decimal(tick)))
    book.apply_snapshot(
        [(parse_price(p), parse_size(s)) for p, s in bids],
        [(parse_price(p), parse_size(s)) for p, s in asks],
        ts_event_ms=ts // MS,
        ts_recv_ns=ts,
    )
    return book


def set_ask(book: OrderBook, price: str, size: str, ts: int) -> None:
    book.apply_level(Side.SELL, parse_price(price), parse_size(size), ts // MS, ts)


def binary_market(
    cid: str = "cond-1",
    labels: tuple[str, str] = ("Yes", "No"),
    *,
    fees: FeeSchedule = NO_FEES,
    tick: str = "0.01",
    min_order_size: str = "5",
    sports_market_type: str = "",
    game_start_time: datetime | None = None,
    **extra: object,
) -> Market:
    outcomes = tuple(Outcome(label, f"{cid}-{label.lower()}") for label in labels)
    return Market(
        condition_id=cid,
        question=f"question {cid}",
        slug=cid,
        outcomes=outcomes,
        tick_size=Decimal(tick),
        min_order_size=Decimal(min_order_size),
        fees=fees,
        sports_market_type=sports_market_type,
        game_start_time=game_start_time,
        **extra,  # type: ignore[arg-type]
    )


def negrisk_event(
    event_id: str,
    titles: Sequence[str],
    *,
    fees: Sequence[FeeSchedule] | None = None,
    **extra: object,
) -> MarketEvent:
    markets = []
    for i, title in enumerate(titles):
        cid = f"{event_id}-m{i}"
        markets.append(
            Market(
                condition_id=cid,
                question=f"Will {title} win?",
                slug=cid,
                outcomes=(Outcome("Yes", f"{cid}-yes"), Outcome("No", f"{cid}-no")),
                neg_risk=True,
                event_id=event_id,
                group_item_title=title,
                fees=fees[i] if fees else NO_FEES,
                **extra,  # type: ignore[arg-type]
            )
        )
    return MarketEvent(event_id, event_id, f"event {event_id}", True, tuple(markets))


@dataclass
class FakeView:
    """A MarketView over a dict of books with a settable clock."""

    books: dict[str, OrderBook] = field(default_factory=dict)
    now: int = NOW

    def book(self, token_id: str) -> OrderBook | None:
        return self.books.get(token_id)

    def now_ns(self) -> int:
        return self.now

    def add(self, *books: OrderBook) -> FakeView:
        for b in books:
            self.books[b.token_id] = b
        return self


@dataclass
class FakeSettings:
    """Only what a test sets; everything else falls back to the config defaults."""

    values: dict[str, object] = field(default_factory=dict)

    def __getattr__(self, name: str) -> object:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None
