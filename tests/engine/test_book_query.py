"""The engine's answer to a book query stays bounded however many outcomes an event has: depth
lowered to keep 4,000 levels in all, 200 books at most, one message well under the limit."""

from __future__ import annotations

from pathlib import Path

from polyarb.bus import BookQuery, codec
from polyarb.bus.base import Envelopes
from polyarb.bus.schemas import MAX_ANSWER_BOOKS, MAX_ANSWER_LEVELS
from polyarb.bus.topics import Channel
from polyarb.domain.clock import WallClock
from polyarb.domain.market import Market, Outcome
from polyarb.engine.book_query import BookAnswers
from polyarb.engine.core import Engine
from polyarb.marketdata.gamma import Universe

from .test_engine_core import settings

OUTCOMES = 250
LEVELS = 60  # per side, per book


def _leg(i: int) -> Market:
    return Market(
        condition_id=f"0xc{i:03d}",
        question=f"Will candidate {i} win?",
        slug=f"c{i}",
        outcomes=(Outcome("Yes", f"{i}1"), Outcome("No", f"{i}0")),
        neg_risk=True,
        event_id="e1",
        group_item_title=f"Candidate {i}",
    )


def test_a_huge_event_is_cut_to_fit_one_message(tmp_path: Path) -> None:
    legs = tuple(_leg(i) for i in range(OUTCOMES))
    engine = Engine(
        settings(tmp_path, sumto100_enabled=False, negrisk_enabled=False),
        Universe(markets=legs, events=(), raw=[]),
        clock=WallClock(),
    )
    for book in engine.books.books.values():
        bids = [(100 * p, 1_000_000 * p) for p in range(1, LEVELS + 1)]
        asks = [(100 * p, 2_000_000) for p in range(LEVELS + 1, 2 * LEVELS + 1)]
        book.apply_snapshot(bids, asks, ts_event_ms=1, ts_recv_ns=5)
    answer = BookAnswers(engine)(BookQuery(id="q1", condition_id="0xc007", depth=200, sent_ns=1))
    assert answer.found
    assert answer.truncated
    assert len(answer.books) == MAX_ANSWER_BOOKS
    assert answer.depth == MAX_ANSWER_LEVELS // (2 * MAX_ANSWER_BOOKS)  # 10
    levels = sum(len(b.bids) + len(b.asks) for b in answer.books)
    assert levels == MAX_ANSWER_LEVELS
    first = answer.books[0]
    assert (first.token_id, first.outcome) == ("01", "Candidate 0")  # YES books, by title
    assert first.bids[0].price == "0.6"  # best first
    assert first.asks[0].price == "0.61"
    assert (first.best_bid, first.best_ask, first.stale) == ("0.6", "0.61", False)
    envelope = Envelopes("engine").wrap(Channel.QUERY_ANSWERS, answer)
    assert envelope is not None
    assert len(codec.encode(envelope)) < codec.MAX_MESSAGE_BYTES // 2
    small = BookAnswers(engine)(BookQuery(id="q2", condition_id="0xnone", depth=5, sent_ns=1))
    assert not small.found
