"""One market's books, as the dashboard asks for them (``bus.queries``): the engine's own books,
read on its event loop, bounded in depth and size."""

from __future__ import annotations

from itertools import islice

from polyarb.bus.schemas import (
    MAX_ANSWER_BOOKS,
    MAX_ANSWER_LEVELS,
    MAX_BOOK_DEPTH,
    BookAnswer,
    BookLevel,
    BookQuery,
    OutcomeBook,
)
from polyarb.domain.book import BookSide, OrderBook
from polyarb.domain.market import Market
from polyarb.domain.numbers import price_str, size_str
from polyarb.engine.core import Engine
from polyarb.marketdata.gamma import Universe


class BookAnswers:
    """``answer(query)``: the books of the market asked about, for ``QueryResponder``.

    A binary market gives its outcomes' books in the market's order (YES then NO); a negRisk
    market gives the YES book of every outcome of its event that the engine watches (each
    labelled with the outcome's title), in the event's order.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._indexed: Universe | None = None
        self._markets: dict[str, Market] = {}
        self._events: dict[str, list[Market]] = {}

    def __call__(self, query: BookQuery) -> BookAnswer:
        engine = self._engine
        self._index(engine.universe)
        market = self._markets.get(query.condition_id)
        if market is None:
            return BookAnswer(query_id=query.id, found=False, condition_id=query.condition_id)
        event_id = market.event_id or ""
        if market.neg_risk and event_id:
            legs = [
                (m.yes or m.outcomes[0], _title(m)) for m in self._events[event_id] if m.outcomes
            ]
        else:
            legs = [(o, o.label) for o in market.outcomes]
        truncated = len(legs) > MAX_ANSWER_BOOKS
        legs = legs[:MAX_ANSWER_BOOKS]
        wanted = max(1, min(query.depth, MAX_BOOK_DEPTH))
        depth = max(1, min(wanted, MAX_ANSWER_LEVELS // (2 * max(1, len(legs)))))
        books = engine.books.books
        return BookAnswer(
            query_id=query.id,
            found=True,
            condition_id=market.condition_id,
            question=market.question,
            neg_risk=market.neg_risk,
            event_id=event_id,
            as_of_ns=engine.clock.now_ns(),
            depth=depth,
            truncated=truncated,
            books=tuple(
                _outcome_book(books.get(outcome.token_id), outcome.token_id, label, depth)
                for outcome, label in legs
            ),
        )

    def _index(self, universe: Universe) -> None:
        """Markets by condition id and negRisk legs by event (rebuilt when the universe grows)."""
        if universe is self._indexed:
            return
        self._markets = {m.condition_id: m for m in universe.markets}
        events: dict[str, list[Market]] = {}
        for m in universe.markets:
            if m.neg_risk and m.event_id:
                events.setdefault(m.event_id, []).append(m)
        self._events = events
        self._indexed = universe


def _title(market: Market) -> str:
    return market.group_item_title or market.question


def _levels(side: BookSide, depth: int) -> tuple[BookLevel, ...]:
    return tuple(
        BookLevel(price=price_str(price), size=size_str(size))
        for price, size in islice(side.best_first(), depth)
    )


def _outcome_book(book: OrderBook | None, token_id: str, label: str, depth: int) -> OutcomeBook:
    if book is None:  # registered with every market; kept for a universe changing underneath
        return OutcomeBook(token_id=token_id, outcome=label)
    bid, ask = book.best_bid(), book.best_ask()
    return OutcomeBook(
        token_id=token_id,
        outcome=label,
        bids=_levels(book.bids, depth),
        asks=_levels(book.asks, depth),
        best_bid=price_str(bid) if bid is not None else None,
        best_ask=price_str(ask) if ask is not None else None,
        stale=book.stale,
        updated_ns=book.ts_recv_ns or None,
    )
