"""The risk manager: every signal passes ``check`` before an order leaves the process.

It keeps what the checks need: positions (from fills, or synced from the ledger), the signals in
flight (``on_submit``/``on_done``; a fill moves its shares from in flight to held), the orders of
the last minute, and the day's P&L with a real UTC day boundary. It approves a signal only if
every limit still holds with that signal added.

Trading state (seed lessons K1-K4): the kill switch changes only by explicit ``engage``/``clear``
and halts everything (``HALTED``); reaching the daily loss limit moves to ``REDUCING``
automatically (orders that reduce risk still go out: unwinds, leg completions, sells of held
shares) and stays there, across day boundaries and restarts (``snapshot``/``restore``), until
cleared; ``status`` lists every gate that is up. Every change of the persistent state is told
to ``listeners`` at once, so it can be stored when it happens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from polyarb.domain.book import Side
from polyarb.domain.trading import Fill, Signal
from polyarb.risk.checks import (
    Denial,
    buy_spend,
    check_daily_loss,
    check_exposure,
    check_inventory,
    check_notional,
    check_positions,
    check_rate,
    check_shape,
    check_state,
    leg_sizes,
)
from polyarb.risk.limits import RiskLimits
from polyarb.risk.state import Gate, RiskEvent, TradingState

DAY_NS = 86_400 * 1_000_000_000
MINUTE_NS = 60 * 1_000_000_000
SNAPSHOT_VERSION = 1
_EPOCH = date(1970, 1, 1)
ZERO = Decimal(0)


def utc_day(now_ns: int) -> date:
    """The UTC calendar day of a Unix time in ns (Unix time has no leap seconds)."""
    return _EPOCH + timedelta(days=now_ns // DAY_NS)


def _day_end_ns(day: date) -> int:
    """The first Unix time (ns) after the UTC day ``day``."""
    return ((day - _EPOCH).days + 1) * DAY_NS


@dataclass(slots=True)
class _InFlightLeg:
    token_id: str
    side: Side
    remaining: Decimal  # shares not filled yet
    spend_per_share: Decimal  # limit price + this leg's share of the expected fees (buys)


@dataclass(slots=True)
class _Holding:
    shares: Decimal = ZERO
    cost: Decimal = ZERO  # cost basis of the shares held, fees included


@dataclass(frozen=True, slots=True)
class RiskStatus:
    state: TradingState
    gates: tuple[Gate, ...]
    day: str
    daily_pnl: Decimal
    exposure: Decimal
    in_flight: int
    orders_last_minute: int
    positions: dict[str, Decimal]
    denials: dict[str, int]
    approvals: int

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "gates": [g.as_dict() for g in self.gates],
            "day": self.day,
            "daily_pnl": str(self.daily_pnl),
            "exposure": str(self.exposure),
            "in_flight": self.in_flight,
            "orders_last_minute": self.orders_last_minute,
            "positions": {k: str(v) for k, v in self.positions.items()},
            "denials": dict(self.denials),
            "approvals": self.approvals,
        }


class RiskManager:
    def __init__(self, limits: RiskLimits, *, now_ns: int = 0) -> None:
        self.limits = limits
        self.denials: dict[str, int] = {}
        self.approvals = 0
        self.revision = 0  # bumps on every change of the persistent state (see snapshot)
        self._holdings: dict[str, _Holding] = {}
        self._in_flight: dict[str, list[_InFlightLeg]] = {}  # signal id -> legs
        # Totals the check reads, kept up to date by the calls that change their inputs so the
        # check itself stays O(legs): recomputed on fills, syncs and releases (off the decision
        # path), extended on submit in the order a recomputation would add (same Decimal sums).
        self._held: dict[str, Decimal] = {}  # token -> shares, non-zero positions only
        self._held_cost = ZERO  # cost of the open long positions
        self._buying: dict[str, Decimal] = {}  # token -> buy shares in flight, not yet filled
        self._selling: dict[str, Decimal] = {}  # token -> sell shares in flight
        self._flying = ZERO  # the most the orders in flight can still spend
        self._orders: deque[int] = deque()  # submit times, one per order (leg)
        self._kill_switch: Gate | None = None
        self._loss_limit: Gate | None = None  # the daily loss limit was reached: reducing
        self._reducing: dict[str, Gate] = {}  # source -> gate (operator, store outage, ...)
        self._day = utc_day(now_ns)
        self._day_end_ns = _day_end_ns(self._day)  # the check rolls the day only past this
        self._realized_today = ZERO  # realized P&L of the current UTC day (the engine's figure)
        self._unrealized: Decimal | None = None  # current mark-to-market of open positions
        self._day_start_unrealized: Decimal | None = None  # the marks carried into the day
        self._events: list[RiskEvent] = []
        # Told of every change of the persistent state (the event, or None for the day's P&L
        # baseline): the store writes it and the engine cancels orders when the switch engages.
        self.listeners: list[Callable[[RiskEvent | None], None]] = []

    # --- state ------------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        if self._kill_switch is not None:
            return TradingState.HALTED
        if self._reducing or self._loss_limit is not None:
            return TradingState.REDUCING
        return TradingState.ACTIVE

    @property
    def kill_switch(self) -> Gate | None:
        """The kill switch's gate while it is engaged."""
        return self._kill_switch

    @property
    def daily_pnl(self) -> Decimal:
        """Realized today plus the change of the marks since the day began."""
        if self._unrealized is None or self._day_start_unrealized is None:
            return self._realized_today
        return self._realized_today + self._unrealized - self._day_start_unrealized

    def _event(self, kind: str, detail: str, actor: str, ts_ns: int) -> None:
        event = RiskEvent(kind, detail, actor, ts_ns)
        self._events.append(event)
        self._changed(event)

    def _changed(self, event: RiskEvent | None) -> None:
        self.revision += 1
        for listener in list(self.listeners):
            listener(event)

    def drain_events(self) -> list[RiskEvent]:
        """State changes since the last call, for alerts and persistence."""
        out, self._events = self._events, []
        return out

    def engage(self, reason: str, actor: str, now_ns: int = 0) -> None:
        """Engage the kill switch: nothing goes out until ``clear``."""
        self._kill_switch = Gate("kill_switch", reason or "engaged", actor, now_ns)
        self._event("kill_switch_engaged", reason, actor, now_ns)

    def clear(self, actor: str, now_ns: int = 0) -> list[Gate]:
        """Clear the kill switch and the daily-loss gate; returns the gates still up (a day
        still beyond its loss limit keeps denying new risk, reducing mode stays)."""
        if self._kill_switch is not None:
            self._kill_switch = None
            self._event("kill_switch_cleared", "", actor, now_ns)
        if self._loss_limit is not None:
            self._loss_limit = None
            self._event("loss_limit_cleared", "", actor, now_ns)
        return self.gates(now_ns)

    def set_reducing(
        self, reason: str, actor: str, now_ns: int = 0, *, source: str = "operator"
    ) -> None:
        """Allow only signals that reduce open positions until ``resume`` for the same
        ``source``. Sources are independent: a store outage ending (``source="store"``) does
        not lift an operator's pause."""
        self._reducing[source] = Gate("reducing", reason or "paused", actor, now_ns, source)
        self._event("reducing", f"{source}: {reason}", actor, now_ns)

    def resume(self, actor: str, now_ns: int = 0, *, source: str = "operator") -> list[Gate]:
        """Lift ``source``'s reducing gate; returns the gates still up (K4: say what still
        blocks)."""
        if self._reducing.pop(source, None) is not None:
            self._event("resumed", source, actor, now_ns)
        return self.gates(now_ns)

    # --- P&L and the day --------------------------------------------------------------------

    def _roll_day(self, now_ns: int) -> None:
        if now_ns < self._day_end_ns:
            return
        day = utc_day(now_ns)
        if day <= self._day:
            return
        previous = self.daily_pnl
        self._day = day
        self._day_end_ns = _day_end_ns(day)
        self._realized_today = ZERO
        self._day_start_unrealized = self._unrealized
        self._event("day_rollover", f"{day.isoformat()} (previous day P&L {previous})", "", now_ns)

    def update_pnl(self, realized_today: Decimal, unrealized: Decimal, now_ns: int) -> None:
        """Feed the realized P&L of the current UTC day (net of fees) and the current
        mark-to-market of open positions. The day's P&L is realized_today plus the change of the
        marks since the day began (a loss marked yesterday is not counted again today).
        Reaching -RISK_MAX_DAILY_LOSS moves trading to reducing until an explicit ``clear``."""
        self._roll_day(now_ns)
        self._realized_today = realized_today
        self._unrealized = unrealized
        if self._day_start_unrealized is None:
            self._day_start_unrealized = unrealized
            self._changed(None)  # the day's baseline is persistent state
        daily = self.daily_pnl
        if daily <= -self.limits.max_daily_loss and self._loss_limit is None:
            breach = check_daily_loss(daily, self.limits.max_daily_loss)
            detail = breach.detail if breach else ""
            self._loss_limit = Gate("loss_limit", detail, "risk", now_ns)
            self._event("loss_limit", detail, "risk", now_ns)

    # --- positions and orders in flight -----------------------------------------------------

    def on_fill(self, fill: Fill, signal_id: str = "") -> None:
        """Book a fill: a buy adds shares at cost (fees included), a sell removes them at the
        average cost. The fill's shares stop counting as in flight: on the legs of
        ``signal_id`` (pass it: the engine knows which signal an order belongs to), else on any
        in-flight leg of the same token and side."""
        holding = self._holdings.setdefault(fill.token_id, _Holding())
        if fill.side == Side.BUY:
            holding.shares += fill.size
            holding.cost += fill.price * fill.size + fill.fee
        else:
            if holding.shares > 0:
                sold = min(fill.size, holding.shares)
                holding.cost -= holding.cost * sold / holding.shares
            holding.shares -= fill.size
            if holding.shares <= 0:
                holding.cost = ZERO
        if signal_id:
            legs = list(self._in_flight.get(signal_id, ()))
        else:
            legs = [leg for legs in self._in_flight.values() for leg in legs]
        # Release the cheapest matching reservation first: if the match is ambiguous (two legs
        # of one token), what stays reserved is never less than what can still be spent.
        legs.sort(key=lambda leg: leg.spend_per_share)
        left = fill.size
        for leg in legs:
            if left <= 0:
                break
            if leg.token_id == fill.token_id and leg.side == fill.side and leg.remaining > 0:
                take = min(leg.remaining, left)
                leg.remaining -= take
                left -= take
        self._refresh_holdings()
        self._refresh_in_flight()

    def set_position(self, token_id: str, shares: Decimal, cost: Decimal) -> None:
        """Replace a token's position from the ledger (startup, merges, resolutions)."""
        if shares == 0:
            self._holdings.pop(token_id, None)
        else:
            self._holdings[token_id] = _Holding(shares, cost)
        self._refresh_holdings()

    def on_submit(self, signal: Signal, now_ns: int) -> None:
        """An approved signal's orders were sent: they count as in flight and against the rate."""
        buys = [leg for leg in signal.legs if leg.side == Side.BUY]
        buy_notional = sum((leg.size * leg.limit_price for leg in buys), ZERO)
        legs = []
        for leg in signal.legs:
            per_share = leg.limit_price
            if leg.side == Side.BUY and buy_notional > 0:
                fee_share = signal.fees * (leg.size * leg.limit_price) / buy_notional
                per_share = leg.limit_price + fee_share / leg.size
            legs.append(_InFlightLeg(leg.token_id, leg.side, leg.size, per_share))
        replaced = signal.signal_id in self._in_flight
        self._in_flight[signal.signal_id] = legs
        self._orders.extend([now_ns] * len(signal.legs))
        if replaced:  # the legs moved in the order of the sums: add them up again
            self._refresh_in_flight()
            return
        for new in legs:  # the new legs come last in a recomputation too
            if new.side == Side.BUY:
                self._flying += new.remaining * new.spend_per_share
            if new.remaining > 0:
                sizes = self._buying if new.side == Side.BUY else self._selling
                sizes[new.token_id] = sizes.get(new.token_id, ZERO) + new.remaining

    def on_done(self, signal: Signal) -> None:
        """The signal's orders are over (filled, cancelled, rejected): release what is left."""
        if self._in_flight.pop(signal.signal_id, None) is not None:
            self._refresh_in_flight()

    # --- the check --------------------------------------------------------------------------

    def _refresh_holdings(self) -> None:
        holdings = self._holdings
        self._held = {t: h.shares for t, h in holdings.items() if h.shares != 0}
        self._held_cost = sum((h.cost for h in holdings.values() if h.shares > 0), ZERO)

    def _refresh_in_flight(self) -> None:
        buying: dict[str, Decimal] = {}
        selling: dict[str, Decimal] = {}
        flying = ZERO
        for legs in self._in_flight.values():
            for leg in legs:
                if leg.side == Side.BUY:
                    flying += leg.remaining * leg.spend_per_share
                if leg.remaining > 0:
                    sizes = buying if leg.side == Side.BUY else selling
                    sizes[leg.token_id] = sizes.get(leg.token_id, ZERO) + leg.remaining
        self._buying, self._selling, self._flying = buying, selling, flying

    def positions(self) -> dict[str, Decimal]:
        return dict(self._held)

    def exposure(self) -> Decimal:
        """Cost of open long positions plus the most the orders in flight can still spend."""
        return self._held_cost + self._flying

    def _recent_orders(self, now_ns: int) -> int:
        orders = self._orders
        while orders and orders[0] <= now_ns - MINUTE_NS:
            orders.popleft()
        return len(orders)

    def reduces_risk(self, signal: Signal, completing: Collection[str] = ()) -> bool:
        """Sells of shares held (and not already being sold): an exit or an unwind. Or, with
        ``completing`` (the tokens of a complete set), buys that only complete sets already
        held: no bought token ends above the fullest other leg of the set, counting what is
        held and being bought."""
        if not signal.legs:
            return False
        if all(leg.side == Side.SELL for leg in signal.legs):
            return check_inventory(leg_sizes(signal, Side.SELL), self._held, self._selling) is None
        if not completing or any(
            leg.side != Side.BUY or leg.token_id not in completing for leg in signal.legs
        ):
            return False
        held, buying = self._held, self._buying
        for token, size in leg_sizes(signal, Side.BUY).items():
            others = [held.get(t, ZERO) for t in completing if t != token]
            if not others or held.get(token, ZERO) + buying.get(token, ZERO) + size > max(others):
                return False
        return True

    def _deny(self, denial: Denial) -> Denial:
        self.denials[denial.reason] = self.denials.get(denial.reason, 0) + 1
        return denial

    def check(
        self, signal: Signal, now_ns: int, *, completing: Collection[str] = ()
    ) -> Denial | None:
        """None if ``signal`` keeps every limit, else the first limit it breaks.

        ``completing`` names the tokens of the complete set a leg-completion order completes
        (see ``reduces_risk``); a reducing signal passes the reducing state and the daily loss
        and exposure limits, never the kill switch."""
        self._roll_day(now_ns)
        denial = check_shape(signal)
        if denial is not None:
            return self._deny(denial)
        reducing = self.reduces_risk(signal, completing)
        state = self.state
        # The gates' text only matters for a denial, and an active state denies nothing.
        denial = None
        if state is not TradingState.ACTIVE:
            denial = check_state(state, reducing, self._gates_text(now_ns))
        if denial is None and not reducing:
            denial = check_daily_loss(self.daily_pnl, self.limits.max_daily_loss)
        if denial is None:
            denial = check_rate(
                self._recent_orders(now_ns), len(signal.legs), self.limits.max_orders_per_minute
            )
        if denial is None:
            denial = check_notional(signal.notional + signal.fees, self.limits.max_notional)
        if denial is None:
            denial = check_inventory(leg_sizes(signal, Side.SELL), self._held, self._selling)
            if denial is None:
                denial = check_positions(
                    leg_sizes(signal, Side.BUY), self._held, self._buying, self.limits.max_position
                )
        if denial is None and not reducing:
            denial = check_exposure(self.exposure(), buy_spend(signal), self.limits.max_exposure)
        if denial is not None:
            return self._deny(denial)
        self.approvals += 1
        return None

    # --- reporting and persistence ----------------------------------------------------------

    def gates(self, now_ns: int) -> list[Gate]:
        """Every gate that restricts trading now, not only the first."""
        gates = [g for g in (self._kill_switch, self._loss_limit) if g is not None]
        gates.extend(self._reducing.values())
        limits = self.limits
        if self.daily_pnl <= -limits.max_daily_loss:
            gates.append(Gate("daily_loss", f"today's P&L {self.daily_pnl}", "risk", now_ns))
        exposure = self.exposure()
        if exposure >= limits.max_exposure:
            gates.append(Gate("exposure", f"exposure {exposure}", "risk", now_ns))
        recent = self._recent_orders(now_ns)
        if recent >= limits.max_orders_per_minute:
            gates.append(Gate("rate_limit", f"{recent} orders in 60 s", "risk", now_ns))
        return gates

    def _gates_text(self, now_ns: int) -> str:
        up = [g for g in (self._kill_switch, self._loss_limit) if g is not None]
        up.extend(self._reducing.values())
        return "; ".join(f"{g.name}: {g.reason} ({g.actor})" for g in up) or "no gate"

    def status(self, now_ns: int) -> RiskStatus:
        self._roll_day(now_ns)
        return RiskStatus(
            state=self.state,
            gates=tuple(self.gates(now_ns)),
            day=self._day.isoformat(),
            daily_pnl=self.daily_pnl,
            exposure=self.exposure(),
            in_flight=len(self._in_flight),
            orders_last_minute=self._recent_orders(now_ns),
            positions=self.positions(),
            denials=dict(self.denials),
            approvals=self.approvals,
        )

    def snapshot(self) -> dict[str, object]:
        """The persistent risk state as JSON-safe values (store it on every ``revision``)."""

        def gate(g: Gate | None) -> dict[str, object] | None:
            return None if g is None else g.as_dict()

        return {
            "version": SNAPSHOT_VERSION,
            "state": self.state.value,
            "kill_switch": gate(self._kill_switch),
            "loss_limit": gate(self._loss_limit),
            "reducing": [g.as_dict() for g in self._reducing.values()],
            "day": self._day.isoformat(),
            "day_start_unrealized": None
            if self._day_start_unrealized is None
            else str(self._day_start_unrealized),
            "daily_pnl": str(self.daily_pnl),
        }

    def restore(self, data: Mapping[str, object], now_ns: int = 0) -> None:
        """Load a ``snapshot``; ``ValueError`` on anything malformed (nothing is half-loaded).

        The kill switch and the loss-limit gate survive the restart (``loss_halt`` is the name
        the gate had before a loss only meant reducing); a snapshot from an earlier UTC day keeps
        its gates but starts the new day's P&L from the next ``update_pnl``.
        """
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"risk snapshot version {data.get('version')!r} is not supported")
        kill = _gate_from(data.get("kill_switch"), "kill_switch")
        loss = _gate_from(data.get("loss_limit", data.get("loss_halt")), "loss_limit")
        raw_reducing = data.get("reducing") or []
        if isinstance(raw_reducing, Mapping):  # a single gate
            raw_reducing = [raw_reducing]
        if not isinstance(raw_reducing, list):
            raise ValueError("risk snapshot: reducing must be a list of gates")
        reducing: dict[str, Gate] = {}
        for raw in raw_reducing:
            g = _gate_from(raw, "reducing")
            if g is not None:
                reducing[g.source or "operator"] = g
        day_text = data.get("day")
        if not isinstance(day_text, str):
            raise ValueError("risk snapshot: day must be an ISO date string")
        try:
            day = date.fromisoformat(day_text)
        except ValueError as exc:
            raise ValueError(f"risk snapshot: bad day {day_text!r}") from exc
        start = data.get("day_start_unrealized")
        start_unrealized: Decimal | None = None
        if start is not None:
            if not isinstance(start, str):
                raise ValueError("risk snapshot: day_start_unrealized must be a decimal string")
            try:
                start_unrealized = Decimal(start)
            except InvalidOperation as exc:
                raise ValueError(f"risk snapshot: bad day_start_unrealized {start!r}") from exc
            if not start_unrealized.is_finite():
                raise ValueError(f"risk snapshot: bad day_start_unrealized {start!r}")
        self._kill_switch, self._loss_limit, self._reducing = kill, loss, reducing
        self._day = day
        self._day_end_ns = _day_end_ns(day)
        self._day_start_unrealized = start_unrealized
        self._unrealized = None
        self._realized_today = ZERO
        self._event("restored", f"state {self.state.value}, day {day_text}", "", now_ns)
        self._roll_day(now_ns)


def _gate_from(raw: object, name: str) -> Gate | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValueError(f"risk snapshot: {name} must be an object or null")
    reason, actor, since = raw.get("reason", ""), raw.get("actor", ""), raw.get("since_ns", 0)
    if not isinstance(reason, str) or not isinstance(actor, str):
        raise ValueError(f"risk snapshot: {name} reason/actor must be strings")
    if not isinstance(since, int) or isinstance(since, bool):
        raise ValueError(f"risk snapshot: {name} since_ns must be an integer")
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise ValueError(f"risk snapshot: {name} source must be a string")
    return Gate(name, reason, actor, since, source)
