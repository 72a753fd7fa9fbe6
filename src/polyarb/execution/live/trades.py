"""Our trades at the venue, wherever they are seen: the answer's trade ids read from
``GET /data/trades``, the user channel's ``trade`` events, and a catch-up read after the channel
reconnects. Each sighting becomes our fills in the trade and goes to the settlement tracker,
which books a trade once and reverses it if it FAILS (``execution/settlement.py``).

A taker fill's fee is the venue's: rate x p x (1 - p) per share from the market's fee schedule,
rounded down to 5 decimals (``venue_taker_fee``), exactly what the venue takes from the pUSD
balance at match time; a trade whose ``fee_rate_bps`` differs from the schedule's rate is logged
as an error (the schedule changed, or the venue charged otherwise), and reconciliation compares
the cash."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import structlog

from polyarb.domain.clock import Clock
from polyarb.domain.errors import MalformedMessage
from polyarb.domain.market import Market
from polyarb.domain.settlement import Settlement
from polyarb.domain.trading import Fill, Mode, Order
from polyarb.execution.base import ZERO, venue_taker_fee
from polyarb.execution.live.venue import ClobRest, VenueBusy, VenueUnknown
from polyarb.execution.settlement import SettlementTracker
from polyarb.execution.user_schemas import (
    OwnFill,
    TradeStatus,
    UserEvent,
    UserTrade,
    parse_rest_trade,
)

log = structlog.get_logger(__name__)

_BPS = Decimal(10_000)

_SETTLEMENT = {
    TradeStatus.MATCHED: Settlement.MATCHED,
    TradeStatus.MATCHED_NOT_BROADCASTED: Settlement.MATCHED,
    TradeStatus.MINED: Settlement.MINED,
    TradeStatus.CONFIRMED: Settlement.CONFIRMED,
    TradeStatus.RETRYING: Settlement.RETRYING,
    TradeStatus.FAILED: Settlement.FAILED,
}


class LiveTrades:
    def __init__(
        self,
        rest: ClobRest,
        markets: Mapping[str, Market],
        tracker: SettlementTracker,
        clock: Clock,
    ) -> None:
        self.rest = rest
        self.markets = markets
        self.tracker = tracker
        self.clock = clock
        self.orders: dict[str, Order] = {}  # venue id -> our order (signed this run or resumed)
        # client id -> the signal id risk checked a leg-risk order under (its fills count there)
        self.risk_ids: dict[str, str] = {}

    async def read(self, trade_id: str) -> UserTrade | None:
        """``GET /data/trades?id=``: the trade as the venue has it now (None: not read)."""
        try:
            answer = await self.rest.l2("GET", f"/data/trades?id={trade_id}")
        except (VenueBusy, VenueUnknown) as exc:
            log.warning("trade not read", trade_id=trade_id, reason=str(exc))
            return None
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        item = next(
            (t for t in data or [] if isinstance(t, dict) and t.get("id") == trade_id), None
        )
        if item is None:
            return None
        try:
            return parse_rest_trade(item)
        except MalformedMessage as exc:
            log.error("trade unreadable", trade_id=trade_id, reason=str(exc))
            return None

    def fill(self, order: Order, trade_id: str, own: OwnFill) -> Fill:
        """Our fill in a trade; a taker fill's id is the trade id (a maker's: trade/order)."""
        market = self.markets.get(order.token_id)
        taker = own.liquidity == "TAKER"
        fee = venue_taker_fee(market.fees, own.price, own.size) if market and taker else ZERO
        return Fill(
            fill_id=trade_id if taker else f"{trade_id}/{own.order_id}",
            client_order_id=order.client_id,
            token_id=own.asset_id,
            market=order.market,
            side=own.side,
            price=own.price,
            size=own.size,
            fee=fee,
            ts_ns=self.clock.now_ns(),
            strategy=order.strategy,
            mode=Mode.LIVE,
            liquidity="taker" if taker else "maker",
        )

    def check_rate(self, trade: UserTrade, order: Order) -> None:
        """The rate the venue says it charged our taker order against the schedule we book."""
        market = self.markets.get(order.token_id)
        if market is None or trade.taker_order_id != order.venue_id:
            return
        ours = market.fees.rate * _BPS
        if Decimal(trade.fee_rate_bps) != ours:
            log.error(
                "venue fee rate differs from the market's schedule",
                trade_id=trade.trade_id,
                venue_bps=trade.fee_rate_bps,
                schedule_bps=str(ours),
            )

    def observe(self, trade: UserTrade, fills: list[Fill], signal_id: str) -> list[Fill]:
        """One sighting to the tracker; the fills it newly booked."""
        status = _SETTLEMENT.get(trade.status)
        if status is None:
            log.warning(
                "trade status not understood", trade_id=trade.trade_id, status=trade.status_text
            )
            return []
        reason = trade.err_msg or trade.reason
        return self.tracker.observe(
            trade.trade_id, status, fills, signal_id=signal_id, reason=reason
        )

    async def order_fills(self, order: Order, trade_ids: list[str]) -> list[Fill]:
        """The fills of ``order`` (a taker) in the trades the venue's answer named, read from
        REST and observed; a trade already FAILED gave no fill."""
        fills: list[Fill] = []
        for trade_id in trade_ids:
            trade = await self.read(trade_id)
            if trade is None:
                continue
            own = [f for f in trade.own_fills((order.venue_id,)) if f.liquidity == "TAKER"]
            if not own:  # the venue named the trade for this order: it is the taker
                side, token = order.side, order.token_id
                own = [OwnFill(order.venue_id, token, side, trade.price, trade.size, "TAKER")]
            fill = self.fill(order, trade.trade_id, own[0])
            self.check_rate(trade, order)
            self.observe(trade, [fill], self.risk_ids.get(order.client_id, order.signal_id))
            if trade.status is not TradeStatus.FAILED:
                fills.append(fill)
        return fills

    def on_user_event(self, event: UserEvent) -> None:
        """A user-channel event: a trade of ours is observed; order events are logged."""
        if not isinstance(event, UserTrade):
            log.info("user order event", order_id=event.order_id, status=event.status_text)
            return
        fills: list[Fill] = []
        signal_id = ""
        for own in event.own_fills(self.orders):
            order = self.orders[own.order_id]
            fills.append(self.fill(order, event.trade_id, own))
            signal_id = signal_id or self.risk_ids.get(order.client_id, order.signal_id)
        if fills or self.tracker.status(event.trade_id) is not None:
            self.observe(event, fills, signal_id)

    async def refresh(self) -> None:
        """Read every trade not yet final from REST (what a channel gap hid)."""
        for trade_id in self.tracker.pending():
            trade = await self.read(trade_id)
            if trade is not None:
                self.observe(trade, [], "")
