"""Log-only execution (DRY_RUN=true, paper trading off): decisions are logged, nothing fills.

Each leg becomes an ``Order`` left in the INTENT state and the report's outcome is "logged".
Nothing leaves the process and nothing touches a ledger.
"""

from __future__ import annotations

from decimal import Decimal

import structlog

from polyarb.domain.clock import Clock, WallClock
from polyarb.domain.trading import Mode, Order, OrderStatus, OrderType, Signal
from polyarb.execution.base import ZERO, ExecutionReport, new_client_order_id, new_event_id

log = structlog.get_logger(__name__)


class LogOnlyExecution:
    mode = Mode.LOG_ONLY

    def __init__(self, clock: Clock | None = None, order_type: OrderType = OrderType.FAK) -> None:
        self.clock: Clock = clock or WallClock()
        self.order_type = order_type

    async def execute(
        self, signal: Signal, *, order_type: OrderType | None = None
    ) -> ExecutionReport:
        now = self.clock.now_ns()
        signal_id = signal.signal_id or new_event_id("signal")
        report = ExecutionReport(
            signal_id, signal.strategy, Mode.LOG_ONLY, "logged", started_ns=now, finished_ns=now
        )
        for leg in signal.legs:
            order = Order(
                client_id=new_client_order_id(Mode.LOG_ONLY),
                token_id=leg.token_id,
                market=leg.market,
                side=leg.side,
                price=leg.limit_price,
                size=leg.size,
                order_type=order_type or self.order_type,
                strategy=signal.strategy,
                mode=Mode.LOG_ONLY,
                signal_id=signal_id,
                created_ns=now,
            )
            order.transition(OrderStatus.INTENT, now)
            report.orders.append(order)
        report.reason = "log-only mode: nothing sent"
        log.info(
            "log-only intent",
            signal_id=signal_id,
            strategy=signal.strategy,
            market=signal.market,
            edge=str(signal.edge),
            size=str(signal.size),
            legs=[
                f"{o.side.value} {o.size} {o.token_id} @ {o.price} {o.order_type.value}"
                for o in report.orders
            ],
        )
        return report

    async def cancel_all(self) -> list[Order]:
        return []

    def on_book(self, token_id: str) -> None:
        return None

    def on_resolved(self, market: str, winning_token_id: str) -> Decimal:
        return ZERO
