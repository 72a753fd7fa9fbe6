"""Issue 8 items 2 and 6 through the engine and the replay path: marginal sizing, the chain
transaction in P&L, and markets without fee data (fail closed, or an explicit default rate)."""

from __future__ import annotations

import copy
import json
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from polyarb.config import Settings, load_settings
from polyarb.domain.trading import Signal
from polyarb.engine.core import Engine
from polyarb.engine.runner import run_replay_trading
from polyarb.execution.base import ExecutionReport

from .replaykit import (
    EPOCH_NS,
    MS,
    EngineDriver,
    book,
    independent_books,
    replay_with_independent_books,
    text,
    universe_of,
    write_recording,
)


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp_path,
        "paper_latency_ms": 20,
        "sniper_enabled": False,
        "clipper_enabled": False,
        "sumto100_min_liquidity": Decimal(5),
    }
    base.update(overrides)
    return load_settings(None, **base)


def deep_window(cid: str, yes: str, no: str, ts_ms: int) -> str:
    """YES asks 0.40 x 40, 0.45 x 40, 0.55 x 200 against NO asks 0.50 x 1000: the first 80 sets
    cost 0.90 and 0.95, every set after them 1.05."""
    yes_asks = [("0.40", "40"), ("0.45", "40"), ("0.55", "200")]
    return text(
        [
            book(yes, cid, [("0.30", "500")], yes_asks, ts_ms),
            book(no, cid, [("0.40", "500")], [("0.50", "1000")], ts_ms),
        ]
    )


async def test_replay_buys_only_the_sets_that_make_money(
    tmp_path: Path, market: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed's average rule bought 188.67 sets here (the average still cleared 0.3 %) and lost
    5c on each of the last 108.67; the marginal rule buys 80 and keeps the whole edge. The
    hand-made YES and NO books are independent (not one matching book): the torn-view guard is
    off for this sizing test."""
    replay_with_independent_books(monkeypatch)
    driver, m = market
    cid, (yes, no) = m.condition_id, m.token_ids
    frames = [(EPOCH_NS, deep_window(cid, yes, no, EPOCH_NS // MS))]
    recording = write_recording(tmp_path / "deep", driver.gamma_markets(), frames)
    s = settings(
        tmp_path,
        sumto100_max_position=Decimal(1000),
        sumto100_max_notional=Decimal(1000),
        risk_max_position=Decimal(1000),
        risk_max_notional=Decimal(1000),
    )
    trades_out = tmp_path / "trades.jsonl"
    engines: list[Engine] = []
    summary = await run_replay_trading(s, recording, trades_out=trades_out, inspect=engines.append)
    [engine] = engines
    assert summary.taken == 1
    trades = sorted(
        (t["token_id"], Decimal(t["price"]), Decimal(t["size"]))
        for t in map(json.loads, trades_out.read_text().splitlines())
    )
    assert trades == sorted(
        [
            (yes, Decimal("0.40"), Decimal(40)),
            (yes, Decimal("0.45"), Decimal(40)),
            (no, Decimal("0.50"), Decimal(80)),
        ]
    )
    # 80 sets for 16 + 18 + 40 = $74, merged into $80, less the merge transaction.
    assert engine.ledger.realized_pnl == Decimal(6) - s.chain_tx_cost_usd
    assert summary.realized_pnl == Decimal(6) - s.chain_tx_cost_usd
    assert engine.ledger.chain_costs == s.chain_tx_cost_usd == Decimal("0.01")


def window(cid: str, yes: str, no: str, ts_ms: int) -> str:
    """YES ask 0.45 + NO ask 0.50 = 0.95 on 100 sets."""
    return text(
        [
            book(yes, cid, [("0.40", "500")], [("0.45", "100")], ts_ms),
            book(no, cid, [("0.45", "500")], [("0.50", "100")], ts_ms),
        ]
    )


def without_fee_data(raw_markets: list[dict[str, Any]], cid: str) -> list[dict[str, Any]]:
    """The Gamma listing with every fee field removed from market ``cid``."""
    out = copy.deepcopy(raw_markets)
    for raw in out:
        if raw.get("conditionId") == cid:
            for key in ("feesEnabled", "feeSchedule", "feeType"):
                raw.pop(key, None)
    return out


async def _trade_window(s: Settings, raw: list[dict[str, Any]], cid: str, yes: str, no: str) -> Any:
    run = EngineDriver(s, universe_of(raw, s))
    independent_books(run.engine)  # hand-made books: a fee test, not a torn-view test
    reports: list[tuple[ExecutionReport, Signal]] = []
    run.engine.trade_sinks.append(lambda report, signal: reports.append((report, signal)))
    await run.frame(EPOCH_NS, window(cid, yes, no, EPOCH_NS // MS))
    await run.settle()
    return run.engine, reports


async def test_a_market_without_fee_data_is_not_traded(tmp_path: Path, market: Any) -> None:
    driver, m = market
    cid, (yes, no) = m.condition_id, m.token_ids
    raw = without_fee_data(driver.gamma_markets(), cid)
    engine, reports = await _trade_window(settings(tmp_path), raw, cid, yes, no)
    assert reports == []
    assert engine.counters.taken == 0
    [sum_to_100] = [s for s in engine.strategies if s.name == "sumto100"]
    assert sum_to_100.stats()["no_fee_data"] == 1
    assert engine.ledger.positions() == []

    # The same listing with its fee data trades the window (the test is not vacuous).
    engine, reports = await _trade_window(settings(tmp_path), driver.gamma_markets(), cid, yes, no)
    assert len(reports) == 1


async def test_an_explicit_default_fee_rate_prices_the_plan_and_the_paper_fills(
    tmp_path: Path, market: Any
) -> None:
    driver, m = market
    cid, (yes, no) = m.condition_id, m.token_ids
    raw = without_fee_data(driver.gamma_markets(), cid)
    s = settings(tmp_path, default_fee_rate=Decimal("0.04"))
    engine, reports = await _trade_window(s, raw, cid, yes, no)
    [(report, signal)] = reports
    rate = Decimal("0.04")
    expected = {
        yes: (rate * Decimal("0.45") * Decimal("0.55") * 100).quantize(Decimal("1e-5"), ROUND_DOWN),
        no: (rate * Decimal("0.50") * Decimal("0.50") * 100).quantize(Decimal("1e-5"), ROUND_DOWN),
    }
    assert {f.token_id: f.fee for f in report.fills} == expected
    assert signal.fees == sum(expected.values())
    assert engine.ledger.fees_paid == sum(expected.values())
    assert engine.ledger.realized_pnl == Decimal(5) - sum(expected.values()) - s.chain_tx_cost_usd
