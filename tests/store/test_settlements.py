"""Trade settlements in the store: the latest status per trade, and the fills of a trade that
FAILED on chain left out when the ledger is recomputed at start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from polyarb.domain.trading import Mode
from polyarb.store import FillRecord, Store, TradeSettlementRecord

from .conftest import FAST_WRITER
from .helpers import T0, make_fill, rows


@pytest.fixture
async def live_store(db_url: str, spool_dir: Path) -> AsyncIterator[Store]:
    opened = await Store.open(db_url, mode=Mode.LIVE, spool_dir=spool_dir, writer=FAST_WRITER)
    try:
        yield opened
    finally:
        await opened.close()


def _status(trade: str, status: str, fill_ids: tuple[str, ...], n: int) -> TradeSettlementRecord:
    return TradeSettlementRecord(
        trade_id=trade, mode=Mode.LIVE, status=status, fill_ids=fill_ids, reason="", ts_ns=T0 + n
    )


async def test_a_failed_trade_leaves_the_recomputed_ledger(live_store: Store, db_url: str) -> None:
    kept = make_fill(1, price="0.40", size="10", fee="0", mode=Mode.LIVE)
    failed = make_fill(2, price="0.60", size="10", fee="0", mode=Mode.LIVE)
    live_store.submit(FillRecord(fill=kept))
    live_store.submit(FillRecord(fill=failed))
    for n, status in enumerate(("MATCHED", "MINED", "CONFIRMED")):
        live_store.submit(_status("t-1", status, (kept.fill_id,), n))
    for n, status in enumerate(("MATCHED", "RETRYING", "FAILED")):
        live_store.submit(_status("t-2", status, (failed.fill_id,), 10 + n))
    await live_store.flush()
    settled = {r["trade_id"]: r["status"] for r in await rows(db_url, "trade_settlements")}
    assert settled == {"t-1": "CONFIRMED", "t-2": "FAILED"}
    state = await live_store.load_state()
    assert [f.fill_id for f in state.fills] == [kept.fill_id]
    ledger = state.recompute_ledger(Decimal(100))
    assert ledger.shares("tok-yes") == Decimal(10)
    assert ledger.cash == Decimal(96)
