"""History over HTTP: what the engine's store wrote is what the dashboard shows (trades with
cursor pages and CSV, positions, P&L by day and by strategy), money as exact decimal strings."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from tests.api.harness import Api

from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Fill, Mode, Signal
from polyarb.store import (
    AlertDelivery,
    AlertRecord,
    EquitySnapshot,
    MarketSeen,
    Store,
    WriterConfig,
)

pytestmark = pytest.mark.redis

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
DAY_NS = 86_400 * 1_000_000_000


async def _write_fills(api: Api, tmp_path: Path) -> list[Fill]:
    store = await Store.open(
        api.db_url,
        mode=Mode.PAPER,
        spool_dir=tmp_path / "spool",
        writer=WriterConfig(process=False, flush_interval_s=0.01),
    )
    ledger = Ledger()
    fills = []
    try:
        for n in range(7):
            side = Side.SELL if n == 6 else Side.BUY
            fill = Fill(
                fill_id=f"fill-{n}",
                client_order_id=f"ord-{n}",
                token_id="tok-yes",
                market="mkt-1",
                side=side,
                price=Decimal("0.61") if side is Side.SELL else Decimal("0.4"),
                size=Decimal("3") if side is Side.SELL else Decimal("2.5"),
                fee=Decimal("0.01"),
                ts_ns=T0 + (n // 4) * DAY_NS + n,
                strategy="sumto100" if n % 2 else "clipper",
                mode=Mode.PAPER,
            )
            ledger.apply_fill(fill)
            store.submit_fill(fill, ledger)
            fills.append(fill)
        signal = Signal(
            strategy="sumto100",
            market="mkt-1",
            ts_recv_ns=T0 + 5,
            edge=Decimal("0.012"),
            size=Decimal(10),
            legs=(),
        )
        store.submit_signal(signal, "denied", reason="max position")
        kill = AlertRecord(
            ts_ns=T0,
            severity="critical",
            title="kill switch engaged",
            message="m",
            delivery="pending",
        )
        store.submit(kill)
        store.submit(AlertDelivery(event_ids=(kill.event_id,), delivery="sent", ts_ns=T0 + 7))
        store.submit(
            MarketSeen(
                condition_id="mkt-1",
                ts_ns=T0,
                question="Will it rain?",
                outcomes=(("Yes", "tok-yes"), ("No", "tok-no")),
            )
        )
        for minute in range(5):
            store.submit(
                EquitySnapshot(
                    mode=Mode.PAPER,
                    ts_ns=T0 + minute * 60 * 10**9,
                    equity=Decimal("10000") + minute,
                    realized=Decimal(minute),
                    unrealized=Decimal(0),
                    fees=Decimal("0.01") * minute,
                    exposure=Decimal(5),
                )
            )
        await store.flush()
    finally:
        await store.close()
    return fills


async def test_trades_positions_and_pnl_as_the_store_has_them(api: Api, tmp_path: Path) -> None:
    fills = await _write_fills(api, tmp_path)
    viewer = await api.login("viewer@example.test")
    first = (await viewer.get("/api/trades", params={"limit": 4})).json()
    assert [t["fill_id"] for t in first["trades"]] == ["fill-6", "fill-5", "fill-4", "fill-3"]
    assert first["trades"][0]["price"] == "0.61"
    assert first["trades"][0]["notional"] == "1.83"
    rest = (
        await viewer.get("/api/trades", params={"limit": 4, "cursor": first["next_cursor"]})
    ).json()
    assert [t["fill_id"] for t in rest["trades"]] == ["fill-2", "fill-1", "fill-0"]
    assert rest["next_cursor"] is None
    only = (await viewer.get("/api/trades", params={"strategy": "clipper"})).json()
    assert {t["strategy"] for t in only["trades"]} == {"clipper"}
    assert len(only["trades"]) == 4

    exported = await viewer.get("/api/trades", params={"format": "csv"})
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["fill_id"] for row in table] == [f.fill_id for f in fills]  # oldest first

    positions = (await viewer.get("/api/positions")).json()
    held = sum(Decimal(p["size"]) for p in positions)
    assert held == Decimal("2.5") * 6 - 3  # bought 6 x 2.5, sold 3

    days = (await viewer.get("/api/pnl/daily")).json()
    assert [d["key"] for d in days] == ["2026-01-01", "2026-01-02"]
    assert [d["fills"] for d in days] == [4, 3]
    assert sum(Decimal(d["fees"]) for d in days) == Decimal("0.07")
    by_strategy = (await viewer.get("/api/pnl/strategies")).json()
    assert {s["key"] for s in by_strategy} == {"clipper", "sumto100"}
    bad_day = await viewer.get("/api/pnl/daily", params={"since": "yesterday"})
    assert bad_day.status_code == 422


async def test_signals_alerts_markets_and_the_equity_curve(api: Api, tmp_path: Path) -> None:
    await _write_fills(api, tmp_path)
    viewer = await api.login("viewer@example.test")
    signals = (await viewer.get("/api/signals", params={"outcome": "denied"})).json()
    [signal] = signals["signals"]
    assert (signal["strategy"], signal["reason"], signal["edge"]) == (
        "sumto100",
        "max position",
        "0.012",
    )
    alerts = (await viewer.get("/api/alerts")).json()
    assert [(a["title"], a["delivery"], a["delivered_ns"]) for a in alerts] == [
        ("kill switch engaged", "sent", T0 + 7)
    ]
    markets = (await viewer.get("/api/markets")).json()
    assert markets[0]["question"] == "Will it rain?"
    assert markets[0]["outcomes"] == [["Yes", "tok-yes"], ["No", "tok-no"]]
    curve = (await viewer.get("/api/pnl/equity")).json()
    assert [p["equity"] for p in curve] == ["10000", "10001", "10002", "10003", "10004"]
    thinned = (await viewer.get("/api/pnl/equity", params={"max_points": 3})).json()
    assert [p["equity"] for p in thinned] == ["10000", "10002", "10004"]
