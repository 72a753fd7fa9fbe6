"""Engine bookkeeping around the hot path, driven frame by frame on a replay clock: what the
risk manager, the published state and the daily P&L see after trades."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from polyarb.config import Settings, load_settings
from polyarb.domain.book import Side
from polyarb.domain.ledger import Merge
from polyarb.domain.trading import Fill, Mode
from polyarb.risk.state import TradingState

from .replaykit import (
    EPOCH_NS,
    MS,
    EngineDriver,
    book,
    independent_books,
    price_change,
    text,
    universe_of,
)

DAY_NS = 86_400 * 1_000_000_000

CHAIN = Decimal("0.01")  # the default CHAIN_TX_COST_USD


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp_path,
        "paper_latency_ms": 20,
        "paper_latency_sigma": 0,  # exactly 20 ms: the tests time their frames against it
        "sniper_enabled": False,
        "clipper_enabled": False,
    }
    base.update(overrides)
    return load_settings(None, **base)


def window_frames(cid: str, yes: str, no: str, ts_ms: int) -> str:
    """YES ask 0.45 + NO ask 0.50 = 0.95: a 100-set complete set at 5 cents a set."""
    return text(
        [
            book(yes, cid, [("0.40", "500")], [("0.45", "100"), ("0.60", "100")], ts_ms),
            book(no, cid, [("0.45", "500")], [("0.50", "100"), ("0.70", "100")], ts_ms),
        ]
    )


async def test_risk_positions_follow_the_ledger_after_a_merge(tmp_path: Path, market: Any) -> None:
    """A merged complete set leaves no position; the risk manager must not keep counting it
    (else the next window on the same market is denied by the position limit). Hand-made
    independent books: the point is the merge, not binary arbitrage (on the venue a binary
    market's two books are one book and show no such window)."""
    driver, m = market
    cid, (yes, no) = m.condition_id, m.token_ids
    s = settings(tmp_path)
    run = EngineDriver(s, universe_of(driver.gamma_markets(), s))
    engine = independent_books(run.engine)
    t0_ms = EPOCH_NS // MS
    await run.frame(EPOCH_NS, window_frames(cid, yes, no, t0_ms))
    await run.settle()
    assert engine.counters.taken == 1
    # 5c a set on 100 sets, less the merge transaction (CHAIN_TX_COST_USD, default $0.01).
    assert engine.ledger.realized_pnl == Decimal(5) - CHAIN
    assert engine.ledger.chain_costs == CHAIN
    assert engine.ledger.positions() == []
    assert engine.risk.positions() == {}  # the merge returned the shares as collateral

    # The window closes (both cheap levels leave the book), then reopens on the same market
    # after the cooldown (2 s) with new orders.
    closed = [(yes, "SELL", "0.45", "0"), (no, "SELL", "0.50", "0")]
    await run.frame(EPOCH_NS + 500 * MS, text(price_change(cid, t0_ms + 500, closed)))
    reopen = [(yes, "SELL", "0.45", "120"), (no, "SELL", "0.50", "120")]
    await run.frame(EPOCH_NS + 3000 * MS, text(price_change(cid, t0_ms + 3000, reopen)))
    await run.settle()
    assert engine.risk.denials == {}
    assert engine.counters.taken == 2
    assert engine.ledger.realized_pnl == Decimal(10) - 2 * CHAIN


async def test_state_reports_the_kill_switch(tmp_path: Path, market: Any) -> None:
    driver, _ = market
    s = settings(tmp_path)
    engine = EngineDriver(s, universe_of(driver.gamma_markets(), s)).engine
    assert engine.state().kill_switch is False
    engine.risk.engage("operator test", "pytest", EPOCH_NS)
    state = engine.state()
    assert state.trading_state == "halted"
    assert state.kill_switch is True


async def test_state_counts_frames_in_the_live_path(tmp_path: Path, market: Any) -> None:
    """Live, the feed applies frames to ``engine.books`` and calls ``engine.on_update``."""
    driver, m = market
    cid, yes = m.condition_id, m.token_ids[0]
    s = settings(tmp_path)
    engine = EngineDriver(s, universe_of(driver.gamma_markets(), s)).engine
    for i in range(3):
        raw = text(price_change(cid, EPOCH_NS // MS + i, [(yes, "BUY", "0.30", str(10 + i))]))
        changed = engine.books.on_frame(raw, EPOCH_NS + i)
        engine.on_update(changed, EPOCH_NS + i)
    assert engine.state().counters.frames == 3


def _fill(fill_id: str, token: str, price: str, ts_ns: int) -> Fill:
    return Fill(
        fill_id=fill_id,
        client_order_id=fill_id,
        token_id=token,
        market="m",
        side=Side.BUY,
        price=Decimal(price),
        size=Decimal(20),
        fee=Decimal(0),
        ts_ns=ts_ns,
        strategy="sumto100",
        mode=Mode.PAPER,
    )


async def test_yesterdays_profit_does_not_halt_today(tmp_path: Path, market: Any) -> None:
    """The daily loss limit is on today's P&L: at the UTC day boundary a profitable yesterday
    must not read as today's loss."""
    driver, m = market
    yes, no = m.token_ids
    s = settings(tmp_path, risk_max_daily_loss=Decimal(1))
    run = EngineDriver(s, universe_of(driver.gamma_markets(), s))
    engine = run.engine
    day_end = (EPOCH_NS // DAY_NS + 1) * DAY_NS
    engine.on_timer()  # the day starts flat
    t = EPOCH_NS + MS
    engine.ledger.apply(_fill("f1", yes, "0.40", t))
    engine.ledger.apply(_fill("f2", no, "0.50", t))
    engine.ledger.apply(Merge("merge-1", m.condition_id, (yes, no), Decimal(20), t, "sumto100"))
    assert engine.ledger.realized_pnl == Decimal(2)
    engine.on_timer()
    assert engine.risk.daily_pnl == Decimal(2)
    run.clock.advance(day_end + 1_000_000_000)
    engine.on_timer()
    assert engine.risk.daily_pnl == 0
    assert engine.risk.state is TradingState.ACTIVE
