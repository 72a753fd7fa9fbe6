"""Log-only execution: intents are logged and returned, nothing ever fills."""

from __future__ import annotations

from decimal import Decimal

from structlog.testing import capture_logs

from polyarb.domain.book import Side
from polyarb.domain.clock import ReplayClock
from polyarb.domain.trading import Leg, Mode, OrderStatus, OrderType, Signal
from polyarb.execution.base import ExecutionClient
from polyarb.execution.log_only import LogOnlyExecution

D = Decimal


def signal() -> Signal:
    legs = (
        Leg("yes", Side.BUY, D(100), D("0.45"), D("0.45"), "cond"),
        Leg("no", Side.BUY, D(100), D("0.50"), D("0.50"), "cond"),
    )
    return Signal("sumto100", "cond", 0, D("0.05"), D(100), legs, signal_id="sig-1")


async def test_log_only_returns_intents_and_never_fills() -> None:
    client: ExecutionClient = LogOnlyExecution(ReplayClock(42))
    assert client.mode == Mode.LOG_ONLY
    with capture_logs() as logs:
        report = await client.execute(signal())
    assert report.outcome == "logged"
    assert report.mode == Mode.LOG_ONLY
    assert report.signal_id == "sig-1"
    assert report.fills == []
    assert report.merged == 0
    assert report.realized_pnl == 0
    assert [(o.token_id, o.side, o.price, o.size) for o in report.orders] == [
        ("yes", Side.BUY, D("0.45"), D(100)),
        ("no", Side.BUY, D("0.50"), D(100)),
    ]
    for order in report.orders:
        assert order.status == OrderStatus.INTENT
        assert order.history == [(OrderStatus.INTENT, 42)]
        assert order.filled == 0
        assert order.mode == Mode.LOG_ONLY
        assert order.order_type == OrderType.FAK
    assert len({o.client_id for o in report.orders}) == 2
    [entry] = [e for e in logs if e["event"] == "log-only intent"]
    assert entry["signal_id"] == "sig-1"
    assert entry["legs"] == ["BUY 100 yes @ 0.45 FAK", "BUY 100 no @ 0.50 FAK"]


async def test_log_only_hooks_do_nothing() -> None:
    client = LogOnlyExecution()
    assert await client.cancel_all() == []
    client.on_book("yes")
    assert client.on_resolved("cond", "yes") == 0
    report = await client.execute(signal(), order_type=OrderType.GTC)
    assert {o.order_type for o in report.orders} == {OrderType.GTC}
