"""Realistic payloads and small async helpers shared by the bus tests and the benchmark."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Coroutine
from decimal import Decimal
from typing import Any

from polyarb.bus import (
    Command,
    Counters,
    DailyPnl,
    EngineState,
    Envelope,
    ErrorEvent,
    Opportunity,
    ParamValue,
    PositionMark,
    SignalEvent,
    StrategyStatus,
    Subscription,
    TradeEvent,
)
from polyarb.bus.signing import sign
from polyarb.domain.book import Side
from polyarb.domain.trading import Fill, Leg, Mode, Signal

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def engine_state(
    *, opportunities: int = 20, positions: int = 50, started_ns: int = 0
) -> EngineState:
    """A state as full as the bounds allow, with venue-sized ids (77-digit token ids)."""
    opps = tuple(
        Opportunity(
            strategy="sumto100",
            market=f"0x{i:064x}",
            label=f"Will team {i} win the 2026 championship final?",
            edge=Decimal("0.0125") + Decimal(i) / 10000,
            size=Decimal("250.5"),
            expected_profit=Decimal("3.13125") + Decimal(i),
            ts_ns=1_760_000_000_000_000_000 + i,
            signal_id=f"sig-{i:08d}",
        )
        for i in range(opportunities)
    )
    marks = tuple(
        PositionMark(
            token_id=f"{TOKEN[:-4]}{i:04d}",
            market=f"0x{i:064x}",
            outcome="Yes" if i % 2 else "No",
            size=Decimal("125.123456"),
            avg_cost=Decimal("0.4875"),
            mark=Decimal("0.52"),
            unrealized_pnl=Decimal("4.066512"),
            realized_pnl=Decimal("-1.25"),
        )
        for i in range(positions)
    )
    return EngineState(
        status="running",
        trading_state="active",
        mode=Mode.PAPER,
        started_ns=started_ns or time.time_ns(),
        markets_tracked=200,
        books_tracked=400,
        books_stale=3,
        opportunities=opps,
        opportunities_total=opportunities,
        positions=marks,
        positions_total=positions,
        pnl=DailyPnl(
            day="2026-01-15",
            realized=Decimal("12.345678"),
            unrealized=Decimal("-3.5"),
            fees=Decimal("0.75"),
            trades=42,
        ),
        counters=Counters(
            frames=12_345_678,
            signals=1_234,
            orders=456,
            fills=400,
            denials={
                "max_position": 12,
                "max_notional": 3,
                "stale_book": 40,
                "cooldown": 100,
                "daily_loss": 0,
                "kill_switch": 1,
                "orders_per_minute": 2,
                "min_size": 7,
            },
        ),
        strategies=tuple(
            StrategyStatus(
                name=name,
                enabled=True,
                params={"min_edge": "0.003", "max_position": "100", "cooldown_ms": "2000"},
            )
            for name in ("sumto100", "clipper", "negrisk", "sniper")
        ),
    )


def signal() -> Signal:
    legs = tuple(
        Leg(
            token_id=f"{TOKEN[:-1]}{i}",
            side=Side.BUY,
            size=Decimal("100"),
            vwap=Decimal("0.4861"),
            limit_price=Decimal("0.49"),
            market="0xabc",
            outcome=label,
        )
        for i, label in enumerate(("Yes", "No"))
    )
    return Signal(
        strategy="sumto100",
        market="0xabc",
        ts_recv_ns=1_760_000_000_123_456_789,
        edge=Decimal("0.0171"),
        size=Decimal("100"),
        legs=legs,
        fees=Decimal("0.1"),
        cost=Decimal("97.32"),
        reason="vwap 0.4861 + 0.4968 < 1",
        signal_id="sig-1",
    )


def signal_event() -> SignalEvent:
    return SignalEvent.from_signal(signal(), decision="taken")


def fill(i: int = 0) -> Fill:
    return Fill(
        fill_id=f"fill-{i}",
        client_order_id=f"ord-{i}",
        token_id=TOKEN,
        market="0xabc",
        side=Side.BUY,
        price=Decimal("0.4861"),
        size=Decimal("100.000001"),
        fee=Decimal("0.05"),
        ts_ns=1_760_000_000_223_456_789 + i,
        strategy="sumto100",
        mode=Mode.PAPER,
    )


def trade_event(i: int = 0) -> TradeEvent:
    return TradeEvent.from_fill(fill(i), signal_id="sig-1", realized_pnl=Decimal("1.71"))


def error_event() -> ErrorEvent:
    return ErrorEvent(
        source="feed",
        kind="disconnect",
        message="market websocket closed (1006)",
        severity="warning",
        details={"shard": "2", "reconnect_in_s": "0.5"},
    )


COMMAND_SECRET = b"the-engines-shared-command-secret"


def command(
    action: str = "pause",
    *,
    id: str = "cmd-1",
    actor: str = "alice@example.com",
    sent_ns: int | None = None,
    secret: bytes | None = COMMAND_SECRET,
    **fields: str,
) -> Command:
    """A command signed with ``secret`` (``None``: unsigned)."""
    unsigned = Command(
        id=id,
        actor=actor,
        sent_ns=time.time_ns() if sent_ns is None else sent_ns,
        action=action,
        **fields,
    )
    return unsigned if secret is None else sign(unsigned, secret)


def completes_at_once(step: Coroutine[Any, Any, object]) -> bool:
    """True when the coroutine ran to its end without suspending once: it waited on nothing."""
    try:
        step.send(None)
    except StopIteration:
        return True
    step.close()
    return False


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def take(subscription: Subscription, n: int, timeout_s: float = 5.0) -> list[Envelope]:
    """The next ``n`` envelopes (fails the test if they do not come in time)."""
    out: list[Envelope] = []

    async def collect() -> None:
        async for envelope in subscription:
            out.append(envelope)
            if len(out) == n:
                return

    await asyncio.wait_for(collect(), timeout_s)
    return out


class FakeEngine:
    """A stand-in for the engine's side of the commands."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, ...]] = []

    def strategy_names(self) -> Collection[str]:
        return {"sumto100", "clipper"}

    async def pause(self, actor: str) -> None:
        self.applied.append(("pause", actor))

    async def resume(self, actor: str) -> None:
        self.applied.append(("resume", actor))

    async def engage_kill_switch(self, reason: str, actor: str) -> None:
        self.applied.append(("kill", reason, actor))

    async def clear_kill_switch(self, actor: str) -> None:
        self.applied.append(("clear", actor))

    async def set_strategy_enabled(self, strategy: str, enabled: bool, actor: str) -> None:
        self.applied.append(("enable" if enabled else "disable", strategy))

    async def set_strategy_param(
        self, strategy: str, param: str, value: ParamValue, actor: str
    ) -> None:
        self.applied.append(("set", strategy, param, str(value)))


ROLES = {"alice@example.com": "operator", "root@example.com": "admin", "eve@example.com": "viewer"}
