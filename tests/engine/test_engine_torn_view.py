"""The engine's side of the torn-view guard and the edge sanity cap (issue 8, item 3): a torn
binary view is counted, never traded, and its two books are asked for again (at most once a
second per token); an edge above the cap is an error event (once a minute per market) and an
opportunity outcome, never a trade."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from polyarb.strategies.base import ANOMALY, TORN_VIEW

from .replaykit import EPOCH_NS, MS, EngineDriver, book, price_change, text, universe_of
from .test_engine_core import settings
from .test_engine_replay import leg_market

__all__ = ["leg_market"]  # a fixture: a two-outcome negRisk event


def torn(cid: str, yes: str, no: str, ts_ms: int) -> str:
    """YES at 0.44/0.45 while the NO view still shows 0.50/0.51 (YES at 0.49/0.50 seen from
    the other side): YES ask + NO ask = 0.96."""
    return text(
        [
            book(yes, cid, [("0.44", "500")], [("0.45", "100")], ts_ms),
            book(no, cid, [("0.50", "500")], [("0.51", "100")], ts_ms),
        ]
    )


async def test_a_torn_view_is_counted_refreshed_and_never_traded(
    tmp_path: Path, market: Any
) -> None:
    driver, m = market
    cid, (yes, no) = m.condition_id, m.token_ids
    s = settings(tmp_path, clipper_enabled=True)
    run = EngineDriver(s, universe_of(driver.gamma_markets(), s))
    engine = run.engine
    asked: list[list[str]] = []
    engine.refresh_books = asked.append
    t_ms = EPOCH_NS // MS

    await run.frame(EPOCH_NS, torn(cid, yes, no, t_ms))
    assert engine.counters.signals == 0
    assert engine.counters.torn_views == 2  # SumTo100 and Clipper each refused it
    assert asked == [[yes, no]]  # one request for the pair
    assert engine.counters.refreshes == 2
    # Still torn 300 ms later: counted again, not asked again within the second ...
    await run.frame(
        EPOCH_NS + 300 * MS, text(price_change(cid, t_ms + 300, [(yes, "BUY", "0.30", "10")]))
    )
    assert engine.books.books[yes].ts_recv_ns > engine.books.books[no].ts_recv_ns
    assert engine.counters.torn_views == 4
    assert asked == [[yes, no]]
    # ... but after it (both books fresh: a message touching both).
    changes = [(yes, "BUY", "0.31", "10"), (no, "BUY", "0.20", "10")]
    await run.frame(EPOCH_NS + 1100 * MS, text(price_change(cid, t_ms + 1100, changes)))
    assert asked == [[yes, no], [yes, no]]
    state = engine.state()
    assert state.counters.torn_views == 6
    assert state.counters.anomalies == 0
    assert engine.tracker.open_records()  # the record is open (outcome torn_view) ...
    assert state.opportunities == ()  # ... but not published as an opportunity

    # The refreshed NO book is the YES book's mirror: one book, no edge, nothing torn.
    await run.frame(
        EPOCH_NS + 1200 * MS,
        text(book(no, cid, [("0.55", "100")], [("0.56", "500")], t_ms + 1200)),
    )
    assert engine.counters.torn_views == 6
    await run.settle()
    assert engine.counters.signals == 0
    assert engine.ledger.positions() == []
    closed = engine.tracker.drain_closed()
    assert {(r.strategy, r.outcome) for r in closed} == {
        ("sumto100", TORN_VIEW),
        ("clipper", TORN_VIEW),
    }
    assert all(r.signal_ids == [] for r in closed)


async def test_without_a_venue_to_ask_a_torn_view_is_still_refused(
    tmp_path: Path, market: Any
) -> None:
    """A replay has no feed: the view is counted and refused, nothing is asked."""
    driver, m = market
    cid, (yes, no) = m.condition_id, m.token_ids
    s = settings(tmp_path)
    run = EngineDriver(s, universe_of(driver.gamma_markets(), s))
    await run.frame(EPOCH_NS, torn(cid, yes, no, EPOCH_NS // MS))
    assert run.engine.refresh_books is None
    assert run.engine.counters.torn_views == 1
    assert run.engine.counters.refreshes == 0
    assert run.engine.counters.signals == 0


async def test_an_edge_above_the_cap_is_an_error_event_and_never_traded(
    tmp_path: Path, leg_market: Any
) -> None:
    driver, (cid_a, yes_a), (cid_b, yes_b) = leg_market
    s = settings(tmp_path, negrisk_max_edge=Decimal("0.10"))
    run = EngineDriver(s, universe_of(driver.gamma_markets(), s))
    engine = run.engine
    errors: list[tuple[str, str, str]] = []
    engine.error_sinks.append(lambda *error: errors.append(error))
    t_ms = EPOCH_NS // MS
    # 0.40 + 0.45 = 0.85: a 15 % edge on a two-outcome event. Too good to be true.
    await run.frame(
        EPOCH_NS,
        text(
            [
                book(yes_a, cid_a, [("0.30", "500")], [("0.40", "100")], t_ms),
                book(yes_b, cid_b, [("0.30", "500")], [("0.45", "100")], t_ms),
            ]
        ),
    )
    assert engine.counters.signals == 0
    assert engine.counters.anomalies == 1
    [(source, kind, message)] = errors
    assert (source, kind) == ("strategy", "edge_anomaly")
    # 15c a set on 100 sets, less the chain transaction (CHAIN_TX_COST_USD) spread over them.
    reported = re.search(r"edge (\S+) per set", message)
    assert reported is not None, message
    assert Decimal(reported.group(1)) == (Decimal("0.15") * 100 - s.chain_tx_cost_usd) / 100
    # Seen again within the minute: counted, not reported again.
    await run.frame(
        EPOCH_NS + 500 * MS,
        text(price_change(cid_a, t_ms + 500, [(yes_a, "BUY", "0.31", "10")])),
    )
    assert engine.counters.anomalies == 2
    assert len(errors) == 1
    assert engine.state().counters.anomalies == 2
    # Back under the cap (0.40 + 0.52 = 0.92: 8 %): traded.
    await run.frame(
        EPOCH_NS + 600 * MS,
        text(
            price_change(
                cid_b, t_ms + 600, [(yes_b, "SELL", "0.45", "0"), (yes_b, "SELL", "0.52", "100")]
            )
        ),
    )
    assert engine.counters.signals == 1
    await run.settle()
    records = engine.tracker.drain_closed() + engine.tracker.open_records()
    outcomes = {r.outcome for r in records if r.strategy == "negrisk"}
    assert ANOMALY in outcomes or "filled" in outcomes
    assert engine.tracker.report()["negrisk"].opened >= 1
