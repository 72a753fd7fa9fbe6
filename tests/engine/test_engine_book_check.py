"""The engine never trades a book the venue's own best_bid/best_ask contradict: from the first
disagreeing message until the book is repaired there is no signal on it; a lasting disagreement
is an error event and shows in the engine state. Once repaired, the book is evaluated again and
meets the torn-view guard (a binary market's two books must agree before anything trades)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polyarb.config import Settings, load_settings

from .replaykit import EPOCH_NS, MS, EngineDriver, book, text, universe_of


def settings(tmp_path: Path) -> Settings:
    return load_settings(
        None,
        data_dir=tmp_path,
        paper_latency_ms=20,
        sniper_enabled=False,
        clipper_enabled=False,
        book_check_max_mismatches=2,
    )


def change(
    cid: str, ts_ms: int, token: str, side: str, price: str, size: str, best: tuple[str, str]
) -> str:
    """One level change with the venue's best bid/ask of the token after it."""
    entry = {"asset_id": token, "side": side, "price": price, "size": size}
    entry |= {"best_bid": best[0], "best_ask": best[1]}
    return text(
        {
            "event_type": "price_change",
            "market": cid,
            "timestamp": str(ts_ms),
            "price_changes": [entry],
        }
    )


async def test_no_signal_on_a_contradicted_book_until_it_is_repaired(
    tmp_path: Path, market: Any
) -> None:
    driver, m = market
    cid, (yes, no) = m.condition_id, m.token_ids
    s = settings(tmp_path)
    run = EngineDriver(s, universe_of(driver.gamma_markets(), s))
    engine = run.engine
    errors: list[tuple[str, str, str]] = []
    engine.error_sinks.append(lambda *error: errors.append(error))
    t_ms = EPOCH_NS // MS
    now = EPOCH_NS

    async def send(raw: str) -> None:
        nonlocal now, t_ms
        now += 10 * MS
        t_ms += 10
        await run.frame(now, raw)
        await run.settle()

    # YES asks 0.45 and 0.60, NO ask 0.60: no window (1.05).
    await send(
        text(
            [
                book(yes, cid, [("0.40", "500")], [("0.45", "100"), ("0.60", "100")], t_ms),
                book(no, cid, [("0.35", "500")], [("0.60", "100")], t_ms),
            ]
        )
    )
    # On the venue the 0.45 YES ask is taken; that message is lost on the way. The next YES
    # message (a deep bid) says the best ask is 0.60: the book still holds 0.45.
    await send(change(cid, t_ms, yes, "BUY", "0.30", "10", ("0.4", "0.6")))
    assert engine.books.books[yes].stale
    # NO's ask drops to 0.50: with the stale 0.45 that would be a 0.95 complete set.
    await send(change(cid, t_ms, no, "SELL", "0.50", "100", ("0.35", "0.5")))
    await send(change(cid, t_ms, yes, "BUY", "0.31", "10", ("0.4", "0.6")))
    assert engine.counters.signals == 0
    assert errors == []  # two disagreeing messages are tolerated (not yet a failure)
    await send(change(cid, t_ms, yes, "BUY", "0.32", "10", ("0.4", "0.6")))
    assert engine.counters.signals == 0
    # A contradicted book is stale: it never reaches the torn-view guard (the integrity check
    # repairs it; the guard's REST refresh is not asked for on top).
    assert engine.counters.torn_views == 0
    [(source, kind, message)] = errors
    assert (source, kind) == ("feed", "book_mismatch")
    assert "venue best bid/ask 0.4/0.6, book held 0.4/0.45" in message
    state = engine.state()
    assert state.counters.book_repairs == 1
    assert state.counters.book_checks == 4
    assert state.counters.book_agreed == 1  # NO's message agreed
    assert engine.books.books[yes].stale

    # The repair (the venue's snapshot) makes it tradable again, and right: no window now ...
    await send(text(book(yes, cid, [("0.40", "500"), ("0.32", "10")], [("0.60", "100")], t_ms)))
    assert not engine.books.books[yes].stale
    assert engine.counters.signals == 0
    # ... and evaluated again: YES's ask drops to 0.45 (the venue agrees), which against NO's
    # 0.50 would be a 0.95 set. The YES book is right now, but a binary market is one book and
    # NO's view (bid 0.35, ask 0.50) is not its mirror: a torn view, never traded.
    await send(change(cid, t_ms, yes, "SELL", "0.45", "100", ("0.4", "0.45")))
    assert engine.state().counters.book_agreed == 2
    assert engine.counters.signals == 0
    assert engine.counters.torn_views == 1
    assert engine.state().counters.torn_views == 1
