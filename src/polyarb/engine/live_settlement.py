"""What the engine does with the settlement of its live trades.

- Every status change of a trade (MATCHED, MINED, CONFIRMED, RETRYING, FAILED), once the
  journal has it, becomes a ``trade_settlements`` row (``TradeSettlementRecord``, mode LIVE).
- A trade that FAILS on chain after its fills were booked (``TradeFailure``): risk's positions
  are taken from the ledger again, an error event (``execution``/``trade_failed``: an ``errors``
  row and a critical alert keyed ``execution:trade_failed``); when the fills could NOT be
  reversed, the kill switch is engaged with the reason (HALTED until ``polyarb ctl clear``).
- The user channel (``/ws/user``): every event of ours to ``LiveExecution.on_user_event``, and
  after every (re)connection the trades not yet final are read again from REST
  (``refresh_settlements``), so what a gap hid is caught up.

The user channel's URL is the market channel's with ``/ws/market`` replaced by ``/ws/user``, as
the venue (and the simulator) serves both.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import structlog

from polyarb.domain.errors import PolyarbError
from polyarb.domain.trading import Mode
from polyarb.engine.risk_link import sync_risk_positions
from polyarb.execution.journal import SettlementRecord
from polyarb.execution.live.user_channel import UserChannelClient
from polyarb.execution.settlement import TradeFailure
from polyarb.store import TradeSettlementRecord

if TYPE_CHECKING:
    from polyarb.engine.core import Engine
    from polyarb.execution.live.client import LiveExecution
    from polyarb.store import Store

log = structlog.get_logger(__name__)

SETTLEMENT_ACTOR = "settlement"
MARKET_PATH = "/ws/market"
USER_PATH = "/ws/user"


def user_channel_url(market_url: str) -> str:
    """The user channel next to the market channel ``market_url`` (``.../ws/market``)."""
    base = market_url.rstrip("/")
    if not base.endswith(MARKET_PATH):
        raise PolyarbError(
            f"POLY_WS_URL must end with {MARKET_PATH} (the user channel is {USER_PATH} "
            f"next to it): {market_url}"
        )
    return base[: -len(MARKET_PATH)] + USER_PATH


class SettlementLink:
    """The settlement tracker's callbacks, wired into the engine and the store."""

    def __init__(self, engine: Engine, store: Store) -> None:
        self.engine = engine
        self.store = store

    def attach(self, live: LiveExecution) -> None:
        """Before anything is observed (the start's reconciliation may read trades)."""
        live.settlement.on_status = self.on_status
        live.settlement.on_failure = self.on_trade_failed

    def on_status(self, record: SettlementRecord) -> None:
        self.store.submit(TradeSettlementRecord(mode=Mode.LIVE, **asdict(record)))

    def on_trade_failed(self, failure: TradeFailure) -> None:
        engine = self.engine
        sync_risk_positions(engine.risk, engine.ledger, list(failure.positions))
        details = {
            "trade_id": failure.trade_id,
            "fills": failure.fills_text,
            "realized_change": str(failure.realized_change),
            "reason": failure.reason,
        }
        engine.emit_error("execution", "trade_failed", failure.message, details)
        if not failure.reversed:
            engine.risk.engage(failure.message, SETTLEMENT_ACTOR, engine.clock.now_ns())
            log.critical("HALTED: " + failure.message)


def user_channel(live: LiveExecution, market_url: str) -> UserChannelClient:
    """The user channel client of ``live`` (every market of the API key); not started."""
    creds = live.rest.creds
    if creds is None:
        raise PolyarbError("the user channel needs the API key (none was had at start)")
    return UserChannelClient(
        user_channel_url(market_url),
        creds,
        live.on_user_event,
        on_connect=live.refresh_settlements,
    )
