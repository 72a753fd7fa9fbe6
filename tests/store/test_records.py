"""Records, their spool codec, URL resolution and error classification (no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from polyarb.domain.errors import ConfigError
from polyarb.domain.ledger import Merge, Resolution
from polyarb.domain.trading import Mode, OrderStatus, Signal
from polyarb.store import (
    AlertDelivery,
    AlertRecord,
    AuditRecord,
    DailyPnlRow,
    ErrorRecord,
    FillRecord,
    LedgerState,
    LockedSetRow,
    MarketSeen,
    MergeRecord,
    OpportunityRecord,
    OrderRecord,
    PositionRow,
    ResolutionRecord,
    RiskStateRecord,
    SignalRecord,
    TradeSettlementRecord,
    resolve_database_url,
)
from polyarb.store.database import is_connectivity_error, redacted
from polyarb.store.records import (
    RECORD_TYPES,
    EquitySnapshot,
    decode_batch,
    encode_batch,
    modes_compatible,
    new_event_id,
    order_events,
)
from polyarb.store.spool import Spool

from .helpers import T0, advance, make_fill, make_order


def _one_of_each() -> list[object]:
    ledger = LedgerState(
        mode=Mode.PAPER,
        ts_ns=T0,
        positions=(
            PositionRow(
                strategy="s",
                token_id="t",
                market="m",
                size=Decimal("1.000001"),
                cost=Decimal("0.4000000001"),
            ),
        ),
        locked=(
            LockedSetRow(
                lock_id="l",
                strategy="s",
                market="e",
                token_ids=("a", "b"),
                qty=Decimal(2),
                cost=Decimal("1.9"),
            ),
        ),
        daily=(
            DailyPnlRow(
                day=date(2026, 1, 1), strategy="", realized_pnl=Decimal("-0.5"), fees=Decimal("0.1")
            ),
        ),
    )
    signal = Signal(
        strategy="sum_to_100",
        market="m",
        ts_recv_ns=T0,
        edge=Decimal("0.012"),
        size=Decimal(10),
        legs=(),
    )
    return [
        MarketSeen(condition_id="c", ts_ns=T0, outcomes=(("Yes", "t1"), ("No", "t2"))),
        SignalRecord.from_signal(signal, Mode.PAPER, "denied", reason="max position"),
        OpportunityRecord(
            opportunity_id="o",
            mode=Mode.PAPER,
            strategy="s",
            market="m",
            first_seen_ns=1,
            last_seen_ns=2,
            best_edge=Decimal("0.03"),
            executable_size=Decimal(5),
            sightings=2,
        ),
        OrderRecord.from_order(
            advance(make_order("o1"), OrderStatus.SUBMITTING), signed_payload="x"
        ),
        FillRecord(fill=make_fill(1), ledger=ledger),
        TradeSettlementRecord(
            trade_id="t1", mode=Mode.LIVE, status="FAILED", fill_ids=("f1",), reason="r", ts_ns=T0
        ),
        ledger,
        MergeRecord(merge=Merge("mg", "m", ("a", "b"), Decimal(3), T0, "s"), mode=Mode.PAPER),
        ResolutionRecord(resolution=Resolution("r", "m", "a", T0, ("a", "b")), mode=Mode.PAPER),
        RiskStateRecord(mode=Mode.PAPER, state="active", kill_switch=False, ts_ns=T0),
        ErrorRecord(ts_ns=T0, source="feed", kind="malformed", message="bad frame"),
        AlertRecord(ts_ns=T0, severity="critical", title="t", message="m", delivery="pending"),
        AlertDelivery(event_ids=("e1", "e2"), delivery="sent", ts_ns=T0),
        AuditRecord(ts_ns=T0, actor="ops", action="kill", detail={"why": "test", "n": 3}),
        EquitySnapshot(
            mode=Mode.PAPER,
            ts_ns=T0,
            equity=Decimal("10000.123456789"),
            realized=Decimal("-0.5"),
            unrealized=Decimal("0.25"),
            fees=Decimal("0.1"),
            exposure=Decimal("40"),
        ),
    ]


def test_every_record_type_round_trips_exactly_through_the_spool_codec() -> None:
    records = _one_of_each()
    assert {type(r) for r in records} == set(RECORD_TYPES)
    assert decode_batch(encode_batch(records)) == records  # type: ignore[arg-type]


def test_spool_keeps_batches_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([ErrorRecord(ts_ns=1, source="s", kind="k", message="a")])
    spool.seal()
    spool.append([ErrorRecord(ts_ns=2, source="s", kind="k", message="b")])
    spool.append([ErrorRecord(ts_ns=3, source="s", kind="k", message="c")])
    segments = spool.segments()
    assert len(segments) == 2
    messages = [
        r.message  # type: ignore[union-attr]
        for segment in segments
        for batch in spool.read(segment)
        for r in batch.records
    ]
    assert messages == ["a", "b", "c"]
    for segment in segments:
        spool.remove(segment)
    assert not spool.pending()
    spool.close()


def test_order_events_number_the_history_from_the_intent() -> None:
    order = advance(make_order("o"), OrderStatus.SUBMITTING, OrderStatus.ACKED)
    events = order_events(order)
    assert [(e.seq, e.status) for e in events] == [
        (0, OrderStatus.INTENT),
        (1, OrderStatus.SUBMITTING),
        (2, OrderStatus.ACKED),
    ]
    record = OrderRecord.from_order(order)
    assert (record.status, record.seq) == (OrderStatus.ACKED, 2)


def test_event_ids_are_unique() -> None:
    assert len({new_event_id() for _ in range(10_000)}) == 10_000
    assert (
        ErrorRecord(ts_ns=1, source="s", kind="k", message="m").event_id
        != ErrorRecord(ts_ns=1, source="s", kind="k", message="m").event_id
    )


def test_modes() -> None:
    assert modes_compatible(Mode.PAPER, Mode.LOG_ONLY)
    assert modes_compatible(Mode.LIVE, Mode.LIVE)
    assert not modes_compatible(Mode.LIVE, Mode.PAPER)
    assert not modes_compatible(Mode.LOG_ONLY, Mode.LIVE)


def test_database_url_resolution(tmp_path: Path) -> None:
    assert resolve_database_url(None, tmp_path) == f"sqlite+aiosqlite:///{tmp_path / 'polyarb.db'}"
    assert resolve_database_url("", tmp_path).endswith("polyarb.db")
    assert (
        resolve_database_url("postgres://u:p@db.example:5432/x", tmp_path)
        == "postgresql+asyncpg://u:p@db.example:5432/x"
    )
    assert resolve_database_url("postgresql+asyncpg://h/x", tmp_path) == "postgresql+asyncpg://h/x"
    for bad in ("mysql://h/x", "postgresql+psycopg2://h/x", "not a url"):
        with pytest.raises(ConfigError, match="DATABASE_URL"):
            resolve_database_url(bad, tmp_path)
    assert redacted("postgresql+asyncpg://u:secret@h/x") == "postgresql+asyncpg://u:***@h/x"


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_error_classification() -> None:
    assert is_connectivity_error(ConnectionRefusedError())
    assert is_connectivity_error(TimeoutError())
    assert is_connectivity_error(DBAPIError("x", {}, _PgError("57P01")))  # admin shutdown
    assert is_connectivity_error(DBAPIError("x", {}, _PgError("08006")))  # connection failure
    assert not is_connectivity_error(DBAPIError("x", {}, _PgError("22001")))  # value too long
    assert not is_connectivity_error(IntegrityError("x", {}, Exception()))
    assert not is_connectivity_error(ValueError())


def test_an_opportunity_of_the_strategies_tracker_becomes_a_record() -> None:
    from polyarb.strategies.opportunities import Opportunity

    opp = Opportunity(
        strategy="neg_risk",
        market="evt-1",
        first_seen_ns=T0,
        last_seen_ns=T0 + 5,
        best_edge=Decimal("0.02"),
        max_size=Decimal(12),
        sightings=4,
        outcome="taken",
        signal_ids=["sig-9"],
    )
    open_record = OpportunityRecord.from_opportunity(opp, Mode.PAPER)
    assert open_record.opportunity_id == f"neg_risk:evt-1:{T0}"
    assert (open_record.closed_ns, open_record.executable_size) == (None, Decimal(12))
    opp.closed_ns = T0 + 9
    closed = OpportunityRecord.from_opportunity(opp, Mode.PAPER)
    assert closed.opportunity_id == open_record.opportunity_id  # the same row, updated
    assert (closed.closed_ns, closed.outcome) == (T0 + 9, "taken")
    assert closed.detail["signal_ids"] == ["sig-9"]


def test_an_odd_detail_value_is_kept_as_text_not_an_error() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd-thing"

    record = ErrorRecord(ts_ns=1, source="s", kind="k", message="m", detail={"x": Odd()})
    (decoded,) = decode_batch(encode_batch([record]))
    assert decoded.detail == {"x": "odd-thing"}  # type: ignore[union-attr]
