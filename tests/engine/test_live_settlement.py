"""The engine's side of live settlement (issue 14): a trade FAILED on chain after it was booked
is reversed by the real settlement tracker, risk's position follows the ledger, an error is
raised and the engine keeps trading; a failure that could not be reversed halts it. Every
status change is handed to the store as a ``TradeSettlementRecord``. (End to end, over the
simulator's user channel: tests/engine/test_live_engine.py.)"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from polyarb.domain.book import Side
from polyarb.domain.errors import PolyarbError
from polyarb.domain.settlement import Settlement
from polyarb.domain.trading import Fill, Mode
from polyarb.engine.live_settlement import SettlementLink, user_channel_url
from polyarb.execution.settlement import SettlementTracker, TradeFailure
from polyarb.risk.state import TradingState
from polyarb.store import Record, TradeSettlementRecord

from .replaykit import bare_engine

TOKEN = "111222333444555"


class Submitted:
    """What the link hands to the store's writer (``Store.submit``)."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def submit(self, record: Record) -> None:
        self.records.append(record)


def _fill(trade_id: str) -> Fill:
    return Fill(
        trade_id, "c1", TOKEN, "0xm", Side.BUY, Decimal("0.40"), Decimal(25), Decimal(0), 1,
        "sniper", Mode.LIVE,
    )  # fmt: skip


def test_a_failed_trade_is_reversed_recorded_and_the_engine_keeps_trading(
    tmp_path: Path,
) -> None:
    engine, errors = bare_engine(tmp_path)
    store = Submitted()
    link = SettlementLink(engine, store)  # type: ignore[arg-type]
    tracker = SettlementTracker(engine.ledger, None, clock=engine.clock)
    tracker.on_status, tracker.on_failure = link.on_status, link.on_trade_failed
    tracker.observe("t1", Settlement.MATCHED, [_fill("t1")])
    engine.risk.set_position(TOKEN, Decimal(25), Decimal(10))  # as the fill told risk
    tracker.observe("t1", Settlement.RETRYING, [])
    tracker.observe("t1", Settlement.FAILED, [], reason="transaction reverted")

    assert engine.ledger.shares(TOKEN) == 0
    assert TOKEN not in engine.risk.positions()  # risk follows the ledger: nothing held
    assert [(s, k) for s, k, _ in errors] == [("execution", "trade_failed")]
    assert "t1 FAILED on chain; fills reversed (BUY 25 @ 0.40)" in errors[0][2]
    assert engine.risk.state is TradingState.ACTIVE
    steps = [("MATCHED", ""), ("RETRYING", ""), ("FAILED", "transaction reverted")]
    assert [r for r in store.records if isinstance(r, TradeSettlementRecord)] == [
        TradeSettlementRecord(
            trade_id="t1", mode=Mode.LIVE, status=s, fill_ids=("t1",), reason=reason, ts_ns=0
        )
        for s, reason in steps
    ]


def test_a_failure_that_could_not_be_reversed_halts_the_engine(tmp_path: Path) -> None:
    engine, errors = bare_engine(tmp_path)
    link = SettlementLink(engine, Submitted())  # type: ignore[arg-type]
    SettlementTracker(engine.ledger, None).observe("t2", Settlement.MATCHED, [_fill("t2")])
    failure = TradeFailure(
        "t2", (_fill("t2"),), Decimal(0), {TOKEN: (Decimal(25), Decimal(10))}, "reverted", 1,
        reversed=False, problem="the journal does not hold every event of the ledger",
    )  # fmt: skip
    link.on_trade_failed(failure)

    assert engine.risk.state is TradingState.HALTED
    gate = engine.risk.kill_switch
    assert gate is not None
    assert gate.reason == failure.message
    assert gate.actor == "settlement"
    assert "NOT reversed" in gate.reason
    assert errors == [("execution", "trade_failed", failure.message)]
    assert engine.risk.positions()[TOKEN] == 25  # what the ledger still holds


def test_the_user_channel_is_next_to_the_market_channel() -> None:
    venue = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    assert user_channel_url(venue) == "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    assert user_channel_url("ws://127.0.0.1:8080/ws/market/") == "ws://127.0.0.1:8080/ws/user"
    with pytest.raises(PolyarbError, match="POLY_WS_URL must end with /ws/market"):
        user_channel_url("wss://example.com/market")
